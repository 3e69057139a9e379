// The TTT-E2E flags (`--memory e2e` on run and train-minimal) and how they resolve into the
// E2E config and parameters a model runs with (SPEC.md "e2e").
#pragma once

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "tttmem/config.h"
#include "tttmem/e2e.h"
#include "tttmem/io.h"
#include "ttt_flags.h"

namespace tttmem::cli {

struct E2ESetup {
  e2e::E2EConfig config;
  e2e::E2EParams params;
  std::string source;  // the parameters' file, the model folder, or "init seed N"

  // A config's e2e_window > 0 becomes the decoder's window; a different `requested`
  // (--attention-window; 0: not given) is an error.
  void apply_window(model::Decoder& decoder, std::int64_t requested = 0) const;
};

struct E2EFlags {
  std::string memory = "inplace";  // --memory inplace|e2e
  std::string checkpoint;          // --e2e CKPT
  bool init = false;               // --e2e-init: fresh theta from --seed
  std::string layers, inner_lr;    // text, so that "nan" is refused by name
  std::int64_t mini_batch = 0, inner_steps = 0, window = -1, intermediate = -1;

  void add_to(CLI::App& sub);
  bool enabled() const { return memory == "e2e"; }
  // Under --memory e2e: the config recorded by --e2e CKPT, else config.json's e2e_* fields over
  // the defaults, then the --e2e-* flags; theta from CKPT, the model checkpoint, or --e2e-init.
  // std::nullopt under --memory inplace, where an --e2e* flag is an error; under --memory e2e
  // a --ttt* flag (`ttt`) is one.
  std::optional<E2ESetup> setup(const ModelConfig& model, const io::Checkpoint& model_checkpoint,
                                const at::Device& device, std::uint64_t seed,
                                const TttFlags& ttt) const;
};

// run.json's and the identity's description of an E2E setup.
nlohmann::ordered_json describe(const E2ESetup& setup);

}  // namespace tttmem::cli
