// Parity of the decoder with Hugging Face transformers (tests/python/make_qwen3_reference.py).
#include <gtest/gtest.h>

#include "model_test_util.h"

namespace tttmem::test {
namespace {

using model::Attention;

using Parity = ReferenceTest;

TEST_F(Parity, Fp32LogitsMatchTransformersOnBothAttentionPaths) {
  for (Attention attention : {Attention::sdpa, Attention::math}) {
    LoadedModel m(qwen3_reference("model"), at::kFloat, attention);
    for (const char* name : {"short", "medium", "long"}) {
      const at::Tensor ids = ref(std::string(name) + ".ids").unsqueeze(0);
      const at::Tensor logits = m.model.forward(ids)[0];
      EXPECT_LE(rel_error(logits, ref(std::string(name) + ".logits")), 1e-4)
          << name << " attention " << static_cast<int>(attention);
    }
  }
  EXPECT_GT(ref("long.ids").numel(), 1000);
}

TEST_F(Parity, ShardedCheckpointLoadsTheSameWeights) {
  LoadedModel single(qwen3_reference("model"), at::kFloat);
  LoadedModel sharded(qwen3_reference("model_sharded"), at::kFloat);
  ASSERT_GT(sharded.checkpoint.shards().size(), 2u);
  const at::Tensor ids = ref("medium.ids").unsqueeze(0);
  EXPECT_TRUE(at::equal(single.model.forward(ids), sharded.model.forward(ids)));
}

TEST_F(Parity, TiedEmbeddingsMatchTransformers) {
  LoadedModel tied(qwen3_reference("model_tied"), at::kFloat);
  ASSERT_TRUE(tied.config.tie_word_embeddings);
  EXPECT_EQ(tied.checkpoint.find("lm_head.weight"), nullptr);
  const at::Tensor logits = tied.model.forward(ref("medium.ids").unsqueeze(0))[0];
  EXPECT_LE(rel_error(logits, ref("tied.logits")), 1e-4);
}

TEST_F(Parity, Bf16ErrorWithinTwiceTransformersOwn) {
  const nlohmann::json meta = reference_meta();
  for (Attention attention : {Attention::sdpa, Attention::math}) {
    LoadedModel m(qwen3_reference("model"), at::kBFloat16, attention);
    for (const char* name : {"short", "medium", "long"}) {
      const at::Tensor logits = m.model.forward(ref(std::string(name) + ".ids").unsqueeze(0))[0];
      ASSERT_EQ(logits.scalar_type(), at::kBFloat16);
      const double ours = rel_error(logits, ref(std::string(name) + ".logits"));
      const double theirs = meta.at("hf_bf16_rel_err").at(name).get<double>();
      EXPECT_LE(ours, 2.0 * theirs) << name << " attention " << static_cast<int>(attention)
                                    << ": ours " << ours << ", transformers " << theirs;
      RecordProperty(std::string("bf16_rel_err_") + name, std::to_string(ours));
    }
  }
}

TEST_F(Parity, PaddedBatchesMatchTransformersAndUnpaddedRuns) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  for (const char* side : {"right_padded", "left_padded"}) {
    const at::Tensor ids = ref(std::string(side) + ".ids");
    const at::Tensor mask = ref(std::string(side) + ".mask");
    model::ForwardOptions options;
    options.attention_mask = mask;
    const at::Tensor logits = m.model.forward(ids, options);
    const at::Tensor expected = ref(std::string(side) + ".logits");
    for (std::int64_t r = 0; r < ids.size(0); ++r) {
      const at::Tensor real = mask[r].nonzero().squeeze(1);
      const at::Tensor ours = logits[r].index_select(0, real);
      EXPECT_LE(rel_error(ours, expected[r].index_select(0, real)), 1e-4) << side << " row " << r;
      const at::Tensor alone = m.model.forward(ids[r].index_select(0, real).unsqueeze(0))[0];
      EXPECT_LE(rel_error(ours, alone), 1e-5) << side << " row " << r << " vs unpadded";
    }
  }
}

TEST_F(Parity, GreedyIdsMatchTransformersFor64Steps) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  model::GenerateOptions options;
  options.max_new_tokens = 64;
  options.stop_ids = std::vector<std::int64_t>{};
  const model::GenerateResult result =
      model::generate_greedy(m.model, ref("greedy.prompt").unsqueeze(0), options);
  ASSERT_EQ(result.ids.sizes(), (at::IntArrayRef{1, 64}));
  EXPECT_TRUE(at::equal(result.ids[0], ref("greedy.ids")))
      << result.ids[0] << "\nexpected\n" << ref("greedy.ids");
  EXPECT_EQ(result.lengths, std::vector<std::int64_t>{64});
  EXPECT_EQ(result.step_seconds.size(), 64u);
}

TEST_F(Parity, BatchedGreedyWithLeftPaddingMatchesSingleRows) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  const at::Tensor prompt = ref("greedy.prompt");                 // 7 tokens
  const at::Tensor other = ref("medium.ids").narrow(0, 0, 12);    // 12 tokens
  at::Tensor ids = at::zeros({2, 12}, at::kLong);
  at::Tensor mask = at::zeros({2, 12}, at::kLong);
  ids[0].narrow(0, 5, 7).copy_(prompt);
  mask[0].narrow(0, 5, 7).fill_(1);
  ids[1].copy_(other);
  mask[1].fill_(1);
  model::GenerateOptions options;
  options.max_new_tokens = 32;
  options.stop_ids = std::vector<std::int64_t>{};
  options.attention_mask = mask;
  const model::GenerateResult batch = model::generate_greedy(m.model, ids, options);
  EXPECT_TRUE(at::equal(batch.ids[0], ref("greedy.ids").narrow(0, 0, 32)));
  options.attention_mask = at::Tensor();
  const model::GenerateResult alone = model::generate_greedy(m.model, other.unsqueeze(0), options);
  EXPECT_TRUE(at::equal(batch.ids[1], alone.ids[0]));
}

TEST_F(Parity, StopTokenEndsOnlyItsRow) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  const at::Tensor greedy = ref("greedy.ids");
  // Stop at the reference's 6th new token; the row must end there (its first occurrence).
  const std::int64_t stop = greedy[5].item<std::int64_t>();
  const std::int64_t first = (greedy == stop).nonzero()[0][0].item<std::int64_t>();
  model::GenerateOptions options;
  options.max_new_tokens = 64;
  options.stop_ids = std::vector<std::int64_t>{stop};
  options.pad_id = -1;
  const model::GenerateResult result =
      model::generate_greedy(m.model, ref("greedy.prompt").unsqueeze(0), options);
  EXPECT_EQ(result.lengths, std::vector<std::int64_t>{first + 1});
  EXPECT_TRUE(at::equal(result.ids[0], greedy.narrow(0, 0, first + 1)));

  // Two rows: the second (a different prompt) keeps going after the first stopped.
  const at::Tensor two = at::stack({ref("greedy.prompt"), ref("medium.ids").narrow(0, 0, 7)});
  const model::GenerateResult both = model::generate_greedy(m.model, two, options);
  ASSERT_EQ(both.lengths.size(), 2u);
  EXPECT_EQ(both.lengths[0], first + 1);
  EXPECT_TRUE((both.ids[0].narrow(0, first + 1, both.ids.size(1) - first - 1) == -1).all().item<bool>());
  EXPECT_GT(both.lengths[1], both.lengths[0]);
}

TEST_F(Parity, ForwardCommandWritesFp32LogitsAndHiddenStates) {
  ScratchDir dir;
  std::string ids;
  const at::Tensor seq = ref("medium.ids");
  for (std::int64_t i = 0; i < seq.numel(); ++i)
    ids += (i ? "," : "") + std::to_string(seq[i].item<std::int64_t>());
  const CommandResult run =
      run_tttmem("forward --model " + qwen3_reference("model").string() + " --ids " + ids +
                 " --out " + (dir / "logits.safetensors").string() + " --dtype fp32 --hidden-states");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::map<std::string, at::Tensor> out;
  for (auto& [name, t] : io::load_tensors(dir / "logits.safetensors", at::Device(at::kCPU)))
    out[name] = t;
  ASSERT_EQ(out.at("logits").scalar_type(), at::kFloat);
  ASSERT_EQ(out.at("logits").sizes(), ref("medium.logits").sizes());
  EXPECT_LE(rel_error(out.at("logits"), ref("medium.logits")), 1e-4);
  for (int i = 0; i <= 3; ++i) {
    const std::string name = "medium.hidden." + std::to_string(i);
    EXPECT_LE(rel_error(out.at("hidden_states." + std::to_string(i)), ref(name)), 1e-5) << name;
  }
  EXPECT_FALSE(out.count("hidden_states.4"));

  const CommandResult bad = run_tttmem("forward --model " + qwen3_reference("model").string() +
                                       " --ids 1,600 --out " + (dir / "x.safetensors").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("600"), std::string::npos) << bad.output;
  for (const auto& [ids, message] : std::vector<std::pair<std::string, std::string>>{
           {"1,x", "--ids: expected comma-separated integers like 1,2,3, got '1,x' ('x' is not one)"},
           {"1,,2", "('' is not one)"},
           {"3,-1", "--ids: '-1' is not a token id"}}) {
    const CommandResult run = run_tttmem("forward --model " + qwen3_reference("model").string() +
                                         " --ids " + ids + " --out " + (dir / "x.safetensors").string());
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.output.find(message), std::string::npos) << run.output;
  }
}

}  // namespace
}  // namespace tttmem::test
