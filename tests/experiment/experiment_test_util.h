// What the experiment suites share: a tiny random Qwen3 (the Qwen tokenizer's vocabulary) made by
// the binary, and live TTT parameters for it.
#pragma once

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>

#include "test_support.h"
#include "tttmem/config.h"
#include "tttmem/ttt.h"

namespace tttmem::test {

// `tttmem init-model` of configs/models/tiny-qwen3.json (seed 3) into `dir`.
inline void make_tiny_model(const std::filesystem::path& dir) {
  const auto made = run_tttmem("init-model --config '" +
                               (source_dir() / "configs/models/tiny-qwen3.json").string() +
                               "' --seed 3 --out '" + dir.string() + "'");
  ASSERT_EQ(made.exit_code, 0) << made.output;
}

// Live TTT parameters for layers 0 and 2 (flags: --ttt-layers 0,2) of the model in `model_dir`,
// saved to `file`: dense ttt_proj and a non-zero conv (zero conv would make the graft an exact
// no-op, SPEC.md T2).
inline void save_live_ttt(const std::filesystem::path& model_dir,
                          const std::filesystem::path& file) {
  const ModelConfig model = ModelConfig::load(model_dir);
  ttt::TTTConfig config;  // the settings the suites run it with (--ttt-layers 0,2 --ttt-chunk 8 --ttt-lr 3)
  config.set_layers({0, 2});
  config.chunk = 8;
  config.lr = 3;
  ttt::TTTParams params =
      ttt::TTTParams::init(config, model, ttt::Init::dense, 5, at::kCPU, at::kFloat);
  at::manual_seed(7);
  for (auto& [layer, p] : params.layers) p.conv = at::randn(p.conv.sizes()) * 2.0;
  params.save(file, {config, "", "dense"});
}

}  // namespace tttmem::test
