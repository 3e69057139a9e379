// Parity of the Gemma3 family with Hugging Face transformers' Gemma3ForCausalLM
// (tests/python/make_gemma3_reference.py): sliding and full layers with their two RoPE bases,
// the (1 + w) norms, the scaled embeddings, multi-query attention, logit soft-capping and linear RoPE
// scaling, in fp32 and bf16, through the KV cache and the batch decoder.
#include <gtest/gtest.h>

#include "model_test_util.h"

namespace tttmem::test {
namespace {

using model::Attention;
using Gemma3 = ReferenceTestOf<gemma3_reference>;

constexpr std::int64_t kWindow = 8;  // make_gemma3_reference.py's WINDOW

nlohmann::json gemma3_meta() {
  return nlohmann::json::parse(io::read_file(gemma3_reference("reference.json")));
}

std::vector<std::int64_t> id_list(const at::Tensor& ids) {
  const at::Tensor flat = ids.to(at::kLong).contiguous();
  return {flat.data_ptr<std::int64_t>(), flat.data_ptr<std::int64_t>() + flat.numel()};
}

TEST_F(Gemma3, ConfigReadsBothLayerKindsAndTheTiedHead) {
  LoadedModel m(gemma3_reference("model"), at::kFloat);
  EXPECT_EQ(m.config.model_type, "gemma3_text");
  EXPECT_EQ(m.model.attention_windows(), (std::vector<std::int64_t>{kWindow, 0, kWindow, 0}));
  EXPECT_TRUE(m.config.tie_word_embeddings);
  EXPECT_EQ(m.checkpoint.find("lm_head.weight"), nullptr);
  EXPECT_EQ(m.config.query_pre_attn_scalar, 24);
  EXPECT_EQ(model::default_stop_ids(m.config), (std::vector<std::int64_t>{1, 106}));
  // Round trip through to_json keeps every Gemma3 field.
  const ModelConfig again = ModelConfig::from_json(m.config.to_json(), "round trip");
  EXPECT_EQ(again.attention_windows(), m.model.attention_windows());
  EXPECT_EQ(again.hidden_act, "gelu_pytorch_tanh");
  EXPECT_EQ(again.rope_local_base_freq, m.config.rope_local_base_freq);
}

TEST_F(Gemma3, Fp32LogitsMatchTransformersOnBothAttentionPaths) {
  ASSERT_EQ(gemma3_meta().at("window"), kWindow);
  EXPECT_GT(ref("long.ids").numel(), 50 * kWindow);
  for (Attention attention : {Attention::sdpa, Attention::math}) {
    LoadedModel m(gemma3_reference("model"), at::kFloat, attention);
    for (const char* name : {"short", "medium", "long"}) {
      const at::Tensor logits = m.model.forward(ref(std::string(name) + ".ids").unsqueeze(0))[0];
      EXPECT_LE(rel_error(logits, ref(std::string(name) + ".logits")), 1e-4)
          << name << " attention " << static_cast<int>(attention);
    }
  }
}

TEST_F(Gemma3, HiddenStatesMatchTransformersLayerByLayer) {
  LoadedModel m(gemma3_reference("model"), at::kFloat);
  std::vector<at::Tensor> hidden;
  model::ForwardOptions options;
  options.hidden_states = &hidden;
  m.model.forward(ref("medium.ids").unsqueeze(0), options);
  ASSERT_EQ(hidden.size(), 5u);  // scaled embeddings, four layers (the last after the norm)
  for (std::size_t i = 0; i < hidden.size(); ++i)
    EXPECT_LE(rel_error(hidden[i][0], ref("medium.hidden." + std::to_string(i))), 1e-5) << i;
}

TEST_F(Gemma3, ShardedCheckpointLoadsTheSameWeights) {
  expect_sharded_checkpoint_equal(gemma3_reference("model"), gemma3_reference("model_sharded"),
                                  ref("medium.ids").unsqueeze(0));
}

TEST_F(Gemma3, Bf16ErrorWithinTwiceTransformersOwn) {
  expect_bf16_within_twice_transformers(gemma3_reference("model"), gemma3_meta(), ref);
}

TEST_F(Gemma3, PaddedRowsMatchTransformersAndTheirUnpaddedRuns) {
  LoadedModel m(gemma3_reference("model"), at::kFloat);
  const at::Tensor ids = ref("padded.ids"), mask = ref("padded.mask");
  model::ForwardOptions options;
  options.attention_mask = mask;
  const at::Tensor logits = m.model.forward(ids, options);
  // The same rows padded on the left: the window counts each row's own positions.
  const at::Tensor left_ids = at::zeros_like(ids), left_mask = at::zeros_like(mask);
  for (std::int64_t r = 0; r < ids.size(0); ++r) {
    const std::int64_t n = mask[r].sum().item<std::int64_t>();
    left_ids[r].narrow(0, ids.size(1) - n, n).copy_(ids[r].narrow(0, 0, n));
    left_mask[r].narrow(0, ids.size(1) - n, n).fill_(1);
  }
  options.attention_mask = left_mask;
  const at::Tensor left = m.model.forward(left_ids, options);
  for (std::int64_t r = 0; r < ids.size(0); ++r) {
    const std::int64_t n = mask[r].sum().item<std::int64_t>();
    const at::Tensor ours = logits[r].narrow(0, 0, n);
    EXPECT_LE(rel_error(ours, ref("padded.logits")[r].narrow(0, 0, n)), 1e-4) << "row " << r;
    const at::Tensor alone = m.model.forward(ids[r].narrow(0, 0, n).unsqueeze(0))[0];
    EXPECT_LE(rel_error(ours, alone), 1e-5) << "row " << r << " vs unpadded";
    EXPECT_LE(rel_error(left[r].narrow(0, ids.size(1) - n, n), alone), 1e-5) << "left row " << r;
  }
}

TEST_F(Gemma3, CachedDecodingAcrossTheWindowEdgeMatchesTransformersCache) {
  for (Attention attention : {Attention::sdpa, Attention::math}) {
    LoadedModel m(gemma3_reference("model"), at::kFloat, attention);
    const at::Tensor ids = ref("medium.ids").unsqueeze(0);
    const std::int64_t prefix = kWindow / 2, end = ids.size(1);
    const at::Tensor expected = ref("step_logits");  // the prefix's last, then each step
    ASSERT_EQ(expected.size(0), end - prefix + 1);
    model::KVCache cache = m.model.make_cache(1, end);
    std::vector<at::Tensor> steps{m.model.forward(ids.narrow(1, 0, prefix), cache)[0][-1]};
    for (std::int64_t t = prefix; t < end; ++t)
      steps.push_back(m.model.forward(ids.narrow(1, t, 1), cache)[0][-1]);
    EXPECT_LE(rel_error(at::stack(steps), expected), 1e-4) << static_cast<int>(attention);
  }
}

TEST_F(Gemma3, GreedyIdsMatchTransformersAloneAndInABatch) {
  LoadedModel m(gemma3_reference("model"), at::kFloat);
  model::DecoderOptions options;
  options.stop = [](std::int64_t) { return std::string(); };
  const std::vector<std::int64_t> prompt = id_list(ref("greedy.prompt"));
  const std::vector<std::int64_t> greedy = id_list(ref("greedy.ids"));
  ASSERT_EQ(greedy.size(), 48u);
  EXPECT_EQ(model::BatchDecoder(m.model, options).run({{0, prompt, {}, 0, 48}}).at(0).generated,
            greedy);
  // Beside a longer row that pads it on the left and leaves first.
  const std::vector<std::int64_t> medium = id_list(ref("medium.ids"));
  const auto medium_alone = model::BatchDecoder(m.model, options).run({{0, medium, {}, 0, 20}});
  options.batch_size = 2;
  const auto out = model::BatchDecoder(m.model, options)
                       .run({{0, medium, {}, 0, 20}, {0, prompt, {}, 0, 48}});
  EXPECT_EQ(out.at(1).generated, greedy);
  EXPECT_EQ(out.at(0).generated, medium_alone.at(0).generated);
}

TEST_F(Gemma3, LogitSoftCappingAndLinearRopeScalingMatchTransformers) {
  for (Attention attention : {Attention::sdpa, Attention::math}) {
    LoadedModel m(gemma3_reference("model_capped"), at::kFloat, attention);
    ASSERT_TRUE(m.config.final_logit_softcapping);
    EXPECT_EQ(m.config.rope_linear_factor, 8.0);
    for (const char* name : {"medium", "long"}) {
      const at::Tensor logits = m.model.forward(ref(std::string(name) + ".ids").unsqueeze(0))[0];
      EXPECT_LE(rel_error(logits, ref(std::string("capped.") + name + ".logits")), 1e-4) << name;
      EXPECT_LE(logits.abs().max().item<double>(), 4.0);  // final_logit_softcapping
    }
  }
}

}  // namespace
}  // namespace tttmem::test
