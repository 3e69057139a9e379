// Parity of the decoder with Hugging Face transformers (tests/python/make_qwen3_reference.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "model_test_util.h"
#include "tttmem/host_read.h"

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
  expect_sharded_checkpoint_equal(qwen3_reference("model"), qwen3_reference("model_sharded"),
                                  ref("medium.ids").unsqueeze(0));
}

TEST_F(Parity, TiedEmbeddingsMatchTransformers) {
  LoadedModel tied(qwen3_reference("model_tied"), at::kFloat);
  ASSERT_TRUE(tied.config.tie_word_embeddings);
  EXPECT_EQ(tied.checkpoint.find("lm_head.weight"), nullptr);
  const at::Tensor logits = tied.model.forward(ref("medium.ids").unsqueeze(0))[0];
  EXPECT_LE(rel_error(logits, ref("tied.logits")), 1e-4);
}

TEST_F(Parity, Bf16ErrorWithinTwiceTransformersOwn) {
  expect_bf16_within_twice_transformers(qwen3_reference("model"), reference_meta(), ref);
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

std::vector<std::int64_t> id_list(const at::Tensor& ids) {
  const at::Tensor flat = ids.to(at::kLong).contiguous();
  return {flat.data_ptr<std::int64_t>(), flat.data_ptr<std::int64_t>() + flat.numel()};
}

// No stop token: every row runs to its max_new_tokens.
model::DecoderOptions never_stop(std::int64_t batch_size, std::int64_t read_every = 1) {
  model::DecoderOptions options;
  options.batch_size = batch_size;
  options.read_every = read_every;
  options.stop = [](std::int64_t) { return std::string(); };
  return options;
}

TEST_F(Parity, GreedyIdsMatchTransformersFor64Steps) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  model::BatchDecoder decoder(m.model, never_stop(1));
  const auto out = decoder.run({model::DecodeRow{0, id_list(ref("greedy.prompt")), {}, 0, 64}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].generated, id_list(ref("greedy.ids")));
  EXPECT_EQ(out[0].stop_reason, "max_new_tokens");
  EXPECT_EQ(decoder.stats().prefills, 1);
  EXPECT_EQ(decoder.stats().decode_steps, 63);
}

TEST_F(Parity, BatchedRowsThatComeAndGoGenerateWhatEachWouldAlone) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  const std::vector<std::int64_t> medium = id_list(ref("medium.ids"));
  // Five rows of different prompt lengths and budgets through two slots: rows leave at their
  // budget and the next joins, padded on the left against the running batch.
  std::vector<model::DecodeRow> rows;
  rows.push_back({0, id_list(ref("greedy.prompt")), {}, 0, 32});
  for (std::int64_t r = 1; r < 5; ++r)
    rows.push_back({0, std::vector<std::int64_t>(medium.begin(), medium.begin() + 3 + 4 * r), {},
                    0, 5 + 6 * r});
  std::vector<std::vector<std::int64_t>> alone;
  for (const model::DecodeRow& row : rows)
    alone.push_back(model::BatchDecoder(m.model, never_stop(1)).run({row}).at(0).generated);
  const std::vector<std::int64_t> greedy = id_list(ref("greedy.ids"));
  EXPECT_EQ(alone[0], std::vector<std::int64_t>(greedy.begin(), greedy.begin() + 32));
  for (std::int64_t read_every : {1, 3, 8}) {
    model::BatchDecoder decoder(m.model, never_stop(2, read_every));
    const std::int64_t reads = model::host_reads();
    const auto batched = decoder.run(rows);
    ASSERT_EQ(batched.size(), rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r)
      EXPECT_EQ(batched[r].generated, alone[r]) << "row " << r << ", read_every " << read_every;
    EXPECT_GE(decoder.stats().prefills, 3) << "rows joined as others left";
    // One read per prefill and one per window of at most read_every steps.
    const model::DecoderStats& stats = decoder.stats();
    EXPECT_EQ(model::host_reads() - reads, stats.prefills + stats.windows) << read_every;
    EXPECT_GE(stats.windows * read_every, stats.decode_steps) << read_every;
    if (read_every > 1) {
      EXPECT_LT(stats.windows, stats.decode_steps) << read_every;
    }
  }
}

TEST_F(Parity, RowStartingFromAKvCacheContinuesItsStream) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  const std::vector<std::int64_t> medium = id_list(ref("medium.ids"));
  const std::vector<std::int64_t> head(medium.begin(), medium.begin() + 9),
      tail(medium.begin() + 9, medium.begin() + 14);
  auto cache = std::make_shared<model::KVCache>(m.model.make_cache(1, 9));
  m.model.forward(at::tensor(head, at::kLong).view({1, 9}), *cache);
  std::vector<std::int64_t> whole = head;
  whole.insert(whole.end(), tail.begin(), tail.end());
  const auto expected = model::BatchDecoder(m.model, never_stop(1)).run({{0, whole, {}, 0, 12}});
  // Beside a row without a starting cache, which sees padding where the other has its prefix.
  const auto both = model::BatchDecoder(m.model, never_stop(2)).run(
      {{0, tail, cache, 0, 12}, {0, id_list(ref("greedy.prompt")), {}, 0, 12}});
  EXPECT_EQ(both.at(0).generated, expected.at(0).generated);
  const std::vector<std::int64_t> greedy = id_list(ref("greedy.ids"));
  EXPECT_EQ(both.at(1).generated, std::vector<std::int64_t>(greedy.begin(), greedy.begin() + 12));
}

TEST_F(Parity, StopTokenEndsOnlyItsRow) {
  LoadedModel m(qwen3_reference("model"), at::kFloat);
  const std::vector<std::int64_t> greedy = id_list(ref("greedy.ids"));
  // Stop at the reference's 6th new token; the row must end there (its first occurrence).
  const std::int64_t stop = greedy[5];
  const auto first = std::find(greedy.begin(), greedy.end(), stop) - greedy.begin();
  for (std::int64_t read_every : {1, 4}) {
    model::DecoderOptions options;
    options.batch_size = 2;
    options.read_every = read_every;
    options.stop = [stop](std::int64_t id) { return id == stop ? "stop_token" : ""; };
    // Two rows: the second (a different prompt) keeps going after the first stopped.
    const auto both = model::BatchDecoder(m.model, options).run(
        {{0, id_list(ref("greedy.prompt")), {}, 0, 64},
         {0, id_list(ref("medium.ids").narrow(0, 0, 7)), {}, 0, 64}});
    EXPECT_EQ(both[0].generated, std::vector<std::int64_t>(greedy.begin(), greedy.begin() + first + 1));
    EXPECT_EQ(both[0].stop_reason, "stop_token");
    EXPECT_GT(both[1].generated.size(), both[0].generated.size());
  }
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
