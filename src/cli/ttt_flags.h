// The In-Place TTT flags every subcommand that loads a model shares (forward, run, sanity,
// train-minimal), and how they resolve into the TTT a model runs with (SPEC.md "TTT
// resolution").
#pragma once

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/ttt.h"

namespace tttmem::cli {

// What a model runs with: the TTT config, its slow parameters, and where they came from (the
// --ttt checkpoint or the model folder), for logs and run records.
struct TttSetup {
  ttt::TTTConfig config;
  ttt::TTTParams params;
  std::string source;
  std::string preset, init;  // the recipe's preset and init (empty: none)
  // Each config field (config.json's name) -> where its value came from: "checkpoint CKPT",
  // "preset NAME", "config.json", "default", or the flag that set it.
  nlohmann::ordered_json sources;
};

// The TTT config the flags resolve to, and where each field came from.
struct TttResolution {
  ttt::TTTConfig config;
  std::string preset;
  nlohmann::ordered_json sources;
};

struct TttFlags {
  std::string checkpoint;  // --ttt CKPT; empty: not given
  std::string preset, layers, target, proj, partial_chunk, precision, init;
  std::int64_t chunk = 0;  // 0: not given
  std::string lr;          // empty: not given (kept as text so "nan" is rejected by name)
  bool off = false;        // --no-ttt
  bool override_recipe = false;  // --ttt-override

  // Whether any --ttt* flag was given (--memory e2e refuses them).
  bool given() const {
    return !checkpoint.empty() || !preset.empty() || !layers.empty() || !target.empty() ||
           !proj.empty() || !partial_chunk.empty() || !precision.empty() || !init.empty() ||
           chunk > 0 || !lr.empty() || off || override_recipe;
  }
  // Adds --ttt, --ttt-preset, --ttt-layers, --ttt-chunk, --ttt-lr, --ttt-target, --ttt-proj,
  // --ttt-partial-chunk, --ttt-precision, --ttt-init, --ttt-override and --no-ttt to `sub`.
  void add_to(CLI::App& sub);
  // The TTT the model runs with (SPEC.md "TTT resolution"). --ttt CKPT given: params from it;
  // the config from the recipe CKPT records, else from config.json's ttt_* fields (or a preset);
  // then the --ttt-* flags, each of which must agree with a recorded recipe unless
  // --ttt-override. CKPT must hold TTT tensors for exactly the configured layers (extra layers
  // are refused, or ignored with a warning under --ttt-override). Else, when config.json or the
  // flags enable TTT layers: params from the model checkpoint itself; a missing tensor is an
  // error naming --ttt and --ttt-init. Else (or --no-ttt) std::nullopt. A --ttt-* flag that
  // would change nothing (no TTT layer, or --no-ttt) is an error rather than a silent no-op.
  std::optional<TttSetup> setup(const ModelConfig& model, const std::filesystem::path& model_dir,
                                const io::Checkpoint& model_checkpoint, const at::Device& device,
                                at::ScalarType dtype, std::uint64_t seed) const;
  // The recipe if given, else the preset if given (gemma3-global for a Gemma3 model grafted
  // without a placement), else the model's config.json ttt_* fields;
  // then each flag given overrides its field (or, with a recipe, must agree with it); then
  // validated once against the model. `recipe_source` names the checkpoint in messages.
  TttResolution resolve(const ModelConfig& model, const std::string& config_source,
                        const ttt::Recipe* recipe = nullptr,
                        const std::string& recipe_source = {}) const;
  // --ttt-init: how TTT tensors missing from the checkpoint are initialised (none: an error).
  std::optional<ttt::Init> missing_init() const;
};

}  // namespace tttmem::cli
