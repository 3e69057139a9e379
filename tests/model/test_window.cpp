// Sliding-window attention against transformers (tests/python/make_qwen3_reference.py, window.*):
// config.json's HF fields, the --attention-window override, prefill, cached decoding across the
// window's edge, and padded batches.
#include <gtest/gtest.h>

#include "model_test_util.h"

namespace tttmem::test {
namespace {

using model::Attention;
using Window = ReferenceTest;

constexpr std::int64_t kWindow = 8;  // make_qwen3_reference.py's WINDOW

TEST_F(Window, ConfigWindowMatchesTransformersOnBothAttentionPaths) {
  ASSERT_EQ(reference_meta().at("window"), kWindow);
  const at::Tensor ids = ref("window.ids").unsqueeze(0);
  ASSERT_GT(ids.size(1), 4 * kWindow);
  for (Attention attention : {Attention::sdpa, Attention::math}) {
    LoadedModel every(qwen3_reference("model_window"), at::kFloat, attention);
    EXPECT_EQ(every.model.attention_windows(), std::vector<std::int64_t>(3, kWindow));
    EXPECT_LE(rel_error(every.model.forward(ids)[0], ref("window.logits")), 1e-4);
    // max_window_layers 1: layer 0 attends fully, layers 1 and 2 slide.
    LoadedModel mixed(qwen3_reference("model_window_mixed"), at::kFloat, attention);
    EXPECT_EQ(mixed.model.attention_windows(), (std::vector<std::int64_t>{0, kWindow, kWindow}));
    EXPECT_LE(rel_error(mixed.model.forward(ids)[0], ref("window.mixed_logits")), 1e-4);
  }
  // The window matters here: full attention gives other logits past the first window.
  LoadedModel full(qwen3_reference("model"), at::kFloat);
  EXPECT_GT(rel_error(full.model.forward(ids)[0], ref("window.logits")), 1e-2);
}

TEST_F(Window, SetAttentionWindowEqualsTheConfigsWindow) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  EXPECT_EQ(m.model.attention_windows(), std::vector<std::int64_t>(3, 0));
  m.model.set_attention_window(kWindow);
  EXPECT_LE(rel_error(m.model.forward(ref("window.ids").unsqueeze(0))[0], ref("window.logits")),
            1e-4);
  EXPECT_THROW(m.model.set_attention_window(0), std::invalid_argument);
}

TEST_F(Window, CachedDecodingAcrossTheEdgeMatchesTransformersCache) {
  for (Attention attention : {Attention::sdpa, Attention::math}) {
    LoadedModel m(qwen3_reference("model_window"), at::kFloat, attention);
    const at::Tensor ids = ref("window.ids").unsqueeze(0);
    const std::int64_t prefix = kWindow / 2, end = 3 * kWindow;
    const at::Tensor expected = ref("window.step_logits");  // the prefix's last, then each step
    ASSERT_EQ(expected.size(0), end - prefix + 1);
    model::KVCache cache = m.model.make_cache(1, end);
    model::ForwardOptions last;
    last.last_logits_only = true;
    EXPECT_LE(rel_error(m.model.forward(ids.narrow(1, 0, prefix), cache, last)[0][0], expected[0]),
              1e-4);
    for (std::int64_t t = prefix; t < end; ++t) {
      const at::Tensor step = m.model.forward(ids.narrow(1, t, 1), cache)[0][0];
      EXPECT_LE(rel_error(step, expected[t - prefix + 1]), 1e-4) << "position " << t;
    }
    // A chunk of 2 windows after the prefix: cached and new keys under one mask.
    cache.crop(prefix);
    const at::Tensor chunk = m.model.forward(ids.narrow(1, prefix, 2 * kWindow), cache)[0];
    EXPECT_LE(rel_error(chunk, ref("window.chunk_logits")), 1e-4);
  }
}

TEST_F(Window, PaddedRowsMatchTransformersAndUnpaddedRuns) {
  LoadedModel m(qwen3_reference("model_window"), at::kFloat);
  const at::Tensor ids = ref("window.padded_ids"), mask = ref("window.padded_mask");
  const at::Tensor expected = ref("window.padded_logits");
  // Right padding, as transformers has it; then the same rows left-padded, where the window
  // counts each row's own tokens (transformers would count the padding slots too).
  at::Tensor left_ids = at::zeros_like(ids), left_mask = at::zeros_like(mask);
  for (std::int64_t r = 0; r < ids.size(0); ++r) {
    const std::int64_t n = mask[r].sum().item<std::int64_t>();
    left_ids[r].narrow(0, ids.size(1) - n, n).copy_(ids[r].narrow(0, 0, n));
    left_mask[r].narrow(0, ids.size(1) - n, n).fill_(1);
  }
  for (const auto& [side_ids, side_mask] :
       {std::pair{ids, mask}, std::pair{left_ids, left_mask}}) {
    model::ForwardOptions options;
    options.attention_mask = side_mask;
    const at::Tensor logits = m.model.forward(side_ids, options);
    for (std::int64_t r = 0; r < ids.size(0); ++r) {
      const std::int64_t n = mask[r].sum().item<std::int64_t>();
      const at::Tensor ours = logits[r].index_select(0, side_mask[r].nonzero().squeeze(1));
      EXPECT_LE(rel_error(ours, expected[r].narrow(0, 0, n)), 1e-4) << "row " << r;
      const at::Tensor alone = m.model.forward(ids[r].narrow(0, 0, n).unsqueeze(0))[0];
      EXPECT_LE(rel_error(ours, alone), 1e-5) << "row " << r << " vs unpadded";
    }
  }
}

TEST_F(Window, ForwardCommandTakesTheFlag) {
  ScratchDir dir;
  std::string ids;
  const at::Tensor seq = ref("window.ids");
  for (std::int64_t i = 0; i < seq.numel(); ++i)
    ids += (i ? "," : "") + std::to_string(seq[i].item<std::int64_t>());
  const std::string base = "forward --model " + qwen3_reference("model").string() + " --ids " +
                           ids + " --dtype fp32 --out " + (dir / "logits.safetensors").string();
  const CommandResult run = run_tttmem(base + " --attention-window " + std::to_string(kWindow));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  bool found = false;
  for (const auto& [name, tensor] : io::load_tensors(dir / "logits.safetensors", at::kCPU)) {
    if (name != "logits") continue;
    found = true;
    EXPECT_LE(rel_error(tensor, ref("window.logits")), 1e-4);
  }
  EXPECT_TRUE(found);
  const CommandResult zero = run_tttmem(base + " --attention-window 0");
  EXPECT_EQ(zero.exit_code, 2) << zero.output;
  EXPECT_NE(zero.output.find("--attention-window"), std::string::npos) << zero.output;
}

}  // namespace
}  // namespace tttmem::test
