// The graft against the independent Python reference (tests/python/make_ttt_reference.py): a
// float64 numpy implementation of SPEC.md T3-T4, on a tiny random Qwen3 with non-zero TTT
// parameters.
#include <gtest/gtest.h>

#include "test_support.h"
#include "ttt_test_util.h"
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
    model_ = std::make_unique<model::Qwen3Model>(model_config_, *checkpoint_, at::kCPU,
                                                 at::kFloat, model::Attention::math);
  }
  at::Tensor run(const at::Tensor& ids, TTTState& state) {
    Graft graft(config_, params_, state);
    model::ForwardOptions options;
    options.mlp_override = &graft;
    return model_->forward(ids.unsqueeze(0), options)[0];
  }
  std::unique_ptr<model::Qwen3Model> model_;
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
    EXPECT_NE(std::string(e.what()).find("padded batches are not supported"), std::string::npos)
        << e.what();
  }
  options.attention_mask = at::ones_like(ids);  // the same batch unpadded runs
  EXPECT_EQ(model_->forward(ids, options).size(0), 2);
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
