// The In-Place TTT flags every subcommand that grafts TTT shares (forward now; run, sanity and
// train-minimal next), and how they resolve into a TTTConfig.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "tttmem/config.h"
#include "tttmem/ttt.h"

namespace tttmem::cli {

struct TttFlags {
  std::string preset, layers, target, proj, partial_chunk, precision, init;
  std::int64_t chunk = 0;  // 0: not given
  std::string lr;          // empty: not given (kept as text so "nan" is rejected by name)

  // Adds --ttt-preset, --ttt-layers, --ttt-chunk, --ttt-lr, --ttt-target, --ttt-proj,
  // --ttt-partial-chunk, --ttt-precision and --ttt-init to `sub`.
  void add_to(CLI::App& sub);
  // The preset if given, else the model's config.json ttt_* fields; then each flag given
  // overrides its field; then validated once against the model.
  ttt::TTTConfig resolve(const ModelConfig& model, const std::string& config_source) const;
  // --ttt-init: how TTT tensors missing from the checkpoint are initialised (none: an error).
  std::optional<ttt::Init> missing_init() const;
};

}  // namespace tttmem::cli
