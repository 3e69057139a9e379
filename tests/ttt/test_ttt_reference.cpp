// The graft against the independent Python reference (tests/python/make_ttt_reference.py): a
// float64 numpy implementation of SPEC.md T3-T4, on a tiny random Qwen3 with non-zero TTT
// parameters.
#include <gtest/gtest.h>

#include "test_support.h"
#include "ttt_test_util.h"
#include "tttmem/host_read.h"
#include "tttmem/tensor_io.h"

namespace tttmem::ttt {
namespace {

using testing::rel_error;

constexpr double kTolerance = 1e-5;  // fp32 against the float64 reference, relative

class TttReference : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto dir = test::fixture("ttt_reference");
    model_config_ = ModelConfig::load(dir / "model" / "config.json");
    config_ = TTTConfig::from_json(model_config_.raw, model_config_, "ttt_reference config.json");
    checkpoint_ = std::make_unique<io::Checkpoint>(io::Checkpoint::open(dir / "model"));
    params_ = TTTParams::load(*checkpoint_, config_, model_config_, at::kCPU, at::kFloat);
    for (auto& [name, tensor] : io::load_tensors(dir / "reference.safetensors", at::kCPU))
      reference_[name] = tensor;
  }
  const at::Tensor& ref(const std::string& name) const {
    auto it = reference_.find(name);
    if (it == reference_.end()) throw std::runtime_error("reference lacks " + name);
    return it->second;
  }
  model::MlpWeights mlp(std::int64_t layer) const {
    const std::string p = "model.layers." + std::to_string(layer) + ".mlp.";
    auto get = [&](const std::string& name) {
      return io::load_tensor(checkpoint_->get(p + name + ".weight"), at::kCPU, at::kFloat);
    };
    return {get("gate_proj"), get("up_proj"), get("down_proj")};
  }
  std::vector<std::int64_t> lengths() const {
    const std::int64_t c = config_.chunk;
    return {1, c - 1, c, c + 1, 2 * c - 1, 2 * c, 2 * c + 1, 5 * c + 3};
  }

  ModelConfig model_config_;
  TTTConfig config_;
  std::unique_ptr<io::Checkpoint> checkpoint_;
  TTTParams params_;
  std::map<std::string, at::Tensor> reference_;
};

TEST_F(TttReference, ConfigFieldsReachTheGraft) {
  EXPECT_EQ(config_.layers, (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(config_.chunk, 8);
  EXPECT_EQ(config_.lr, 0.1);
  EXPECT_EQ(config_.target, Target::hidden_states);
}

TEST_F(TttReference, MlpLevelMatchesReference) {
  const std::int64_t layer = config_.layers.front();
  const model::MlpWeights weights = mlp(layer);
  const at::Tensor x = ref("mlp_x").unsqueeze(0);
  for (std::int64_t n : lengths()) {
    const at::Tensor xs = x.narrow(1, 0, n);
    LayerState state;
    const at::Tensor out = stream_forward(config_, params_.at(layer), weights, state, xs, xs, false);
    const std::string key = std::to_string(n);
    EXPECT_LE(rel_error(out[0], ref("mlp_out_" + key)), kTolerance) << "n=" << n;
    EXPECT_LE(rel_error(state.weight.materialize(weights.down_proj)[0], ref("mlp_w_" + key)),
              kTolerance) << "n=" << n;
    EXPECT_EQ(state.weight.updates, ref("mlp_updates_" + key).item<std::int64_t>()) << "n=" << n;
    EXPECT_EQ(state.tail_rows(), ref("mlp_tail_" + key).item<std::int64_t>()) << "n=" << n;
  }
}

TEST_F(TttReference, WrongOrientationOrTapOrderFails) {
  // Spec 7.2 and 7.3: the reference must tell V = Tc Wp from Tc Wp^T, and the cross-correlation
  // tap order from a flipped (true) convolution.
  const std::int64_t layer = config_.layers.front(), n = 5 * config_.chunk + 3;
  const model::MlpWeights weights = mlp(layer);
  const at::Tensor xs = ref("mlp_x").unsqueeze(0).narrow(1, 0, n);
  const at::Tensor expected = ref("mlp_out_" + std::to_string(n));
  LayerParams transposed = params_.at(layer), flipped = params_.at(layer);
  transposed.proj = transposed.proj.t().contiguous();
  flipped.conv = flipped.conv.flip({2}).contiguous();
  for (const LayerParams* wrong : {&transposed, &flipped}) {
    LayerState state;
    const at::Tensor out = stream_forward(config_, *wrong, weights, state, xs, xs, false);
    EXPECT_GT(rel_error(out[0], expected), 1e-3);
  }
}

TEST_F(TttReference, Bf16FollowsUpstreamRoundingOrder) {
  // Spec 3.8: the reference runs upstream's op sequence in torch bf16 (tensordot per chunk,
  // A rounded to bf16, dW = bf16(G eta), W = bf16(W + dW)); the port must agree bit for bit.
  const std::int64_t layer = config_.layers.front();
  const model::MlpWeights f32 = mlp(layer);
  const model::MlpWeights weights{f32.gate_proj.to(at::kBFloat16), f32.up_proj.to(at::kBFloat16),
                                  f32.down_proj.to(at::kBFloat16)};
  const LayerParams params{params_.at(layer).proj.to(at::kBFloat16),
                           params_.at(layer).conv.to(at::kBFloat16)};
  const at::Tensor x = ref("mlp_x").to(at::kBFloat16).unsqueeze(0);
  for (std::int64_t n : {config_.chunk - 1, 2 * config_.chunk, 5 * config_.chunk + 3}) {
    const at::Tensor xs = x.narrow(1, 0, n);
    const auto result = chunked_forward(config_, params, weights, xs, xs, {}, false);
    const std::string key = std::to_string(n);
    EXPECT_TRUE(at::equal(result.out[0], ref("bf16_out_" + key)))
        << "n=" << n << " rel " << rel_error(result.out[0], ref("bf16_out_" + key));
    const at::Tensor w = result.weight.materialize(weights.down_proj)[0];
    EXPECT_TRUE(at::equal(w, ref("bf16_w_" + key)))
        << "n=" << n << " rel " << rel_error(w, ref("bf16_w_" + key));
  }
}

// Model level: the decoder with the graft on layers 0 and 2, against transformers' Qwen3 with
// the reference MLP patched in.
class TttReferenceModel : public TttReference {
 protected:
  void SetUp() override {
    TttReference::SetUp();
    model_ = std::make_unique<model::Decoder>(model_config_, *checkpoint_, at::kCPU,
                                                 at::kFloat, model::Attention::math);
  }
  at::Tensor run(const at::Tensor& ids, TTTState& state) {
    Graft graft(config_, params_, state);
    model::ForwardOptions options;
    options.mlp_override = &graft;
    return model_->forward(ids.unsqueeze(0), options)[0];
  }
  std::unique_ptr<model::Decoder> model_;
};

TEST_F(TttReferenceModel, PrefillLogitsMatchReference) {
  const std::int64_t c = config_.chunk;
  for (std::int64_t n : {std::int64_t{1}, c - 1, c, c + 1, 5 * c + 3}) {
    TTTState state;
    const at::Tensor logits = run(ref("ids_" + std::to_string(n)), state);
    EXPECT_LE(rel_error(logits, ref("logits_" + std::to_string(n))), kTolerance) << "n=" << n;
  }
}

TEST_F(TttReferenceModel, SplitStreamLogitsAndFinalWeightsMatchReference) {
  const std::int64_t n = 5 * config_.chunk + 3;
  const at::Tensor ids = ref("ids_" + std::to_string(n));
  const at::Tensor pieces = ref("split_pieces");
  TTTState state;
  Graft graft(config_, params_, state);
  model::ForwardOptions options;
  options.mlp_override = &graft;
  model::KVCache cache = model_->make_cache(1, n);
  std::vector<at::Tensor> logits;
  std::int64_t start = 0;
  for (std::int64_t i = 0; i < pieces.size(0); ++i) {
    const std::int64_t size = pieces[i].item<std::int64_t>();
    logits.push_back(model_->forward(ids.narrow(0, start, size).unsqueeze(0), cache, options)[0]);
    start += size;
  }
  ASSERT_EQ(start, n);
  EXPECT_LE(rel_error(at::cat(logits), ref("logits_split")), kTolerance);
  for (std::int64_t layer : config_.layers) {
    const at::Tensor w = state.layers.at(layer).weight.materialize(model_->mlp_weights(layer).down_proj);
    EXPECT_LE(rel_error(w[0], ref("final_w_" + std::to_string(layer))), kTolerance);
    EXPECT_EQ(state.layers.at(layer).weight.updates,
              ref("final_updates_" + std::to_string(layer)).item<std::int64_t>());
  }
}

TEST_F(TttReferenceModel, PaddedBatchesAreRefusedNotMixedIntoFastWeights) {
  const at::Tensor ids = ref("ids_" + std::to_string(config_.chunk + 1)).repeat({2, 1});
  at::Tensor mask = at::ones_like(ids);
  mask[1][0] = 0;  // row 1 is left-padded by one token
  TTTState state;
  Graft graft(config_, params_, state);
  model::ForwardOptions options;
  options.mlp_override = &graft;
  options.attention_mask = mask;
  try {
    model_->forward(ids, options);
    FAIL() << "a padded batch went through the TTT graft";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("padded batches need one state per row"), std::string::npos)
        << e.what();
  }
  options.attention_mask = at::ones_like(ids);  // the same batch unpadded runs
  EXPECT_EQ(model_->forward(ids, options).size(0), 2);
}

// TTTRows: rows at different positions, each with its own fast weight and tail, batched with
// padding (prefill) and then decoded together, give what each row gives alone.
TEST_F(TttReferenceModel, PerRowStatesMatchEachRowAlone) {
  const std::int64_t c = config_.chunk;
  const at::Tensor ids = ref("ids_" + std::to_string(5 * c + 3));
  const std::vector<at::Tensor> prompts{ids.narrow(0, 0, 2 * c + 3), ids.narrow(0, 5, c - 2)};
  const std::int64_t longest = prompts[0].size(0), steps = c + 2;  // decoding crosses a boundary
  at::Tensor batch = at::zeros({2, longest}, at::kLong), mask = at::zeros({2, longest}, at::kLong);
  for (std::int64_t r = 0; r < 2; ++r) {  // left padding
    const std::int64_t n = prompts[static_cast<std::size_t>(r)].size(0);
    batch[r].narrow(0, longest - n, n).copy_(prompts[static_cast<std::size_t>(r)]);
    mask[r].narrow(0, longest - n, n).fill_(1);
  }
  TTTRows rows(2);
  Graft graft(config_, params_, rows);
  model::ForwardOptions options;
  options.mlp_override = &graft;
  options.attention_mask = mask;
  options.last_logits_only = true;
  model::KVCache cache = model_->make_cache(2, longest + steps);
  // The padded TTT prefill and every decode step read nothing back from the device (on a GPU a
  // read would stall it and rule out CUDA graphs; include/tttmem/host_read.h).
  const std::int64_t reads_before = model::host_reads();
  std::vector<at::Tensor> batched{model_->forward(batch, cache, options)};
  options.attention_mask = at::Tensor();
  const at::Tensor feed = ids.narrow(0, 30, steps);  // the same forced tokens for both rows
  for (std::int64_t i = 0; i + 1 < steps; ++i)
    batched.push_back(model_->forward(feed.narrow(0, i, 1).repeat({2, 1}), cache, options));
  EXPECT_EQ(model::host_reads(), reads_before);
  // The counter does count: a read through the helper is one more.
  model::host_scalar<float>(batched.back().sum());
  EXPECT_EQ(model::host_reads(), reads_before + 1);

  for (std::size_t r = 0; r < 2; ++r) {
    TTTState alone;
    Graft single(config_, params_, alone);
    model::ForwardOptions one;
    one.mlp_override = &single;
    one.last_logits_only = true;
    model::KVCache one_cache = model_->make_cache(1, longest + steps);
    std::vector<at::Tensor> expected{model_->forward(prompts[r].unsqueeze(0), one_cache, one)};
    for (std::int64_t i = 0; i + 1 < steps; ++i)
      expected.push_back(model_->forward(feed.narrow(0, i, 1).view({1, 1}), one_cache, one));
    for (std::size_t i = 0; i < expected.size(); ++i)
      EXPECT_LE(rel_error(batched[i][static_cast<std::int64_t>(r)], expected[i][0]), kTolerance)
          << "row " << r << " step " << i;
    for (std::int64_t layer : config_.layers) {
      const LayerState& got = rows[r].layers.at(layer);
      const LayerState& want = alone.layers.at(layer);
      EXPECT_GT(want.weight.updates, 0) << "row " << r << " layer " << layer;
      EXPECT_EQ(got.weight.updates, want.weight.updates) << "row " << r << " layer " << layer;
      EXPECT_EQ(got.tail_rows(), want.tail_rows()) << "row " << r << " layer " << layer;
      const at::Tensor& w0 = model_->mlp_weights(layer).down_proj;
      EXPECT_LE(rel_error(got.weight.materialize(w0), want.weight.materialize(w0)), kTolerance);
    }
  }
}

// Frozen rows are only read: a padded batch of them changes no fast weight and no tail, and each
// row's logits are those of the unpadded row alone.
TEST_F(TttReferenceModel, FrozenPaddedRowsLeaveNoTrace) {
  const std::int64_t c = config_.chunk;
  const at::Tensor ids = ref("ids_" + std::to_string(5 * c + 3));
  TTTState memory;
  run(ids.narrow(0, 0, 2 * c + 3), memory);  // two updates and a pending tail of 3
  memory.frozen = true;
  TTTRows rows = expand(memory, 2);
  const TTTRows before = rows;
  at::Tensor batch = ids.narrow(0, 30, c + 1).repeat({2, 1}).clone();
  at::Tensor mask = at::ones_like(batch);
  mask[1].narrow(0, 0, 3).fill_(0);
  Graft graft(config_, params_, rows);
  model::ForwardOptions options;
  options.mlp_override = &graft;
  options.attention_mask = mask;
  options.last_logits_only = true;
  const at::Tensor logits = model_->forward(batch, options);
  for (std::size_t r = 0; r < 2; ++r)
    for (std::int64_t layer : config_.layers) {
      const LayerState& now = rows[r].layers.at(layer);
      const LayerState& was = before[r].layers.at(layer);
      EXPECT_TRUE(now.weight.full.is_same(was.weight.full)) << "row " << r;
      EXPECT_TRUE(now.tail_x.is_same(was.tail_x)) << "row " << r;
      EXPECT_EQ(now.weight.updates, was.weight.updates);
    }
  TTTState alone = memory;
  Graft single(config_, params_, alone);
  model::ForwardOptions one;
  one.mlp_override = &single;
  one.last_logits_only = true;
  const at::Tensor unpadded = model_->forward(batch[1].narrow(0, 3, c - 2).unsqueeze(0), one);
  EXPECT_LE(rel_error(logits[1], unpadded[0]), kTolerance);
}

TEST(TttRows, ExpandSelectStackShareTensorsAndKeepOrder) {
  TTTState a, b;
  a.layers[0].weight.full = at::ones({1, 2, 3});
  b.layers[0].weight.full = at::zeros({1, 2, 3});
  b.frozen = true;
  const TTTRows three = expand(a, 3);
  ASSERT_EQ(three.size(), 3u);
  for (const TTTState& row : three)
    EXPECT_TRUE(row.layers.at(0).weight.full.is_same(a.layers.at(0).weight.full));
  const TTTRows mixed = stack({three, expand(b, 1)});
  ASSERT_EQ(mixed.size(), 4u);
  const TTTRows picked = select(mixed, {3, 0});
  ASSERT_EQ(picked.size(), 2u);
  EXPECT_TRUE(picked[0].frozen);
  EXPECT_FALSE(picked[1].frozen);
  EXPECT_TRUE(picked[0].layers.at(0).weight.full.is_same(b.layers.at(0).weight.full));
  EXPECT_THROW(select(mixed, {4}), std::runtime_error);
}

TEST_F(TttReferenceModel, ZeroParametersGiveTheBaseModel) {
  // Spec 9.1 at the logit level: zero conv (the seed's conditions A/C zero both tensors).
  params_.zero();
  const at::Tensor ids = ref("ids_" + std::to_string(5 * config_.chunk + 3));
  TTTState state;
  const at::Tensor with_graft = run(ids, state);
  const at::Tensor base = model_->forward(ids.unsqueeze(0))[0];
  EXPECT_LE(rel_error(with_graft, base), 1e-6);
  for (std::int64_t layer : config_.layers)
    EXPECT_TRUE(at::equal(state.layers.at(layer).weight.materialize(
                              model_->mlp_weights(layer).down_proj)[0],
                          model_->mlp_weights(layer).down_proj));
}

}  // namespace
}  // namespace tttmem::ttt
