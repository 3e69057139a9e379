// TTTConfig (fields, presets, bad input), TTTParams (init, load, save, shape errors) and TTTState
// files.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "test_support.h"
#include "ttt_test_util.h"
#include "tttmem/tensor_io.h"

namespace tttmem::ttt {
namespace {

using testing::error_of;
using testing::model_config;
using testing::random_layer;
using testing::random_rows;
using testing::rel_error;
using testing::small_config;

TEST(TttConfig, ReadsTheConfigJsonFields) {
  const nlohmann::json raw = {{"ttt_mode", true},         {"ttt_layers", {6, 0, 6}},
                              {"ttt_chunk", 64},          {"ttt_lr", 3},
                              {"ttt_target", "input_embed"}, {"ttt_proj", false},
                              {"ttt_partial_chunk", "flush"}, {"ttt_precision", "fp32"}};
  const TTTConfig config = TTTConfig::from_json(raw, model_config(8), "config.json");
  EXPECT_EQ(config.layers, (std::vector<std::int64_t>{0, 6}));
  EXPECT_EQ(config.chunk, 64);
  EXPECT_EQ(config.lr, 3.0);
  EXPECT_EQ(config.target, Target::input_embed);
  EXPECT_FALSE(config.proj);
  EXPECT_EQ(config.partial_chunk, PartialChunk::flush);
  EXPECT_EQ(config.precision, Precision::fp32);
  const TTTConfig back = TTTConfig::from_json(config.to_json(), model_config(8), "round trip");
  EXPECT_EQ(back.to_json(), config.to_json());
}

TEST(TttConfig, DefaultsAreUpstreamFallbacks) {
  const TTTConfig config = TTTConfig::from_json({{"hidden_size", 16}}, model_config(8), "c");
  EXPECT_TRUE(config.layers.empty());
  EXPECT_EQ(config.chunk, 8192);
  EXPECT_EQ(config.lr, 0.3);
  EXPECT_EQ(config.target, Target::hidden_states);
  EXPECT_TRUE(config.proj);
  EXPECT_EQ(config.partial_chunk, PartialChunk::drop);
  EXPECT_EQ(config.precision, Precision::upstream);
  // upstream: a layer is a TTT layer only with ttt_mode on
  EXPECT_TRUE(TTTConfig::from_json({{"ttt_mode", false}, {"ttt_layers", {0}}}, model_config(8), "c")
                  .layers.empty());
}

TEST(TttConfig, Presets) {
  const ModelConfig qwen3_8b = model_config(36);
  const TTTConfig paper = TTTConfig::preset("paper", qwen3_8b);
  EXPECT_EQ(paper.layers, (std::vector<std::int64_t>{0, 6, 12, 18, 24, 30}));
  EXPECT_EQ(paper.chunk, 4096);
  EXPECT_EQ(paper.lr, 3.0);
  const TTTConfig seed = TTTConfig::preset("seed", qwen3_8b);
  EXPECT_EQ(seed.layers, (std::vector<std::int64_t>{0, 6, 12, 18, 24, 30}));
  EXPECT_EQ(seed.chunk, 64);
  EXPECT_EQ(seed.partial_chunk, PartialChunk::drop);
  EXPECT_NE(error_of([&] { TTTConfig::preset("seed", model_config(12)); }).find("layer 12"),
            std::string::npos);
  EXPECT_NE(error_of([&] { TTTConfig::preset("nope", qwen3_8b); })
                .find("expected paper, seed, gemma3-study or gemma3-global"),
            std::string::npos);
}

TEST(TttConfig, BadInputIsAClearError) {
  const ModelConfig model = model_config(36);
  auto from = [&](const nlohmann::json& raw) { TTTConfig::from_json(raw, model, "cfg.json"); };
  // upstream silently drops layer 36 of a 36-layer model; tttmem refuses it
  std::string e = error_of([&] { from({{"ttt_layers", {0, 6, 36}}}); });
  EXPECT_NE(e.find("cfg.json"), std::string::npos) << e;
  EXPECT_NE(e.find("layer 36 does not exist"), std::string::npos) << e;
  e = error_of([&] { from({{"ttt_chunk", 0}}); });
  EXPECT_NE(e.find("ttt_chunk"), std::string::npos) << e;
  e = error_of([&] { from({{"ttt_chunk", -4}}); });
  EXPECT_NE(e.find("ttt_chunk"), std::string::npos) << e;
  e = error_of([&] { from({{"ttt_target", "logits"}}); });
  EXPECT_NE(e.find("ttt_target"), std::string::npos) << e;
  EXPECT_NE(e.find("logits"), std::string::npos) << e;
  e = error_of([&] { from({{"ttt_lr", "3"}}); });
  EXPECT_NE(e.find("ttt_lr"), std::string::npos) << e;
  e = error_of([&] { from({{"ttt_layers", 6}}); });
  EXPECT_NE(e.find("ttt_layers"), std::string::npos) << e;
  TTTConfig config;
  config.lr = std::numeric_limits<double>::quiet_NaN();  // JSON cannot carry NaN; flags can
  e = error_of([&] { config.validate(model); });
  EXPECT_NE(e.find("ttt_lr"), std::string::npos) << e;
  config.lr = std::numeric_limits<double>::infinity();
  EXPECT_NE(error_of([&] { config.validate(model); }).find("finite"), std::string::npos);
  EXPECT_EQ(parse_layers("0,6,30"), (std::vector<std::int64_t>{0, 6, 30}));
  EXPECT_NE(error_of([&] { parse_layers("0,x"); }).find("0,x"), std::string::npos);
}

TEST(TttParams, InitVariants) {
  const ModelConfig model = model_config(4, 64);
  TTTConfig config = small_config(8);
  config.layers = {0, 2};
  const TTTParams dense = TTTParams::init(config, model, Init::dense, 7, at::kCPU, at::kFloat);
  const TTTParams diagonal = TTTParams::init(config, model, Init::diagonal, 7, at::kCPU, at::kFloat);
  for (std::int64_t layer : {0, 2}) {
    const at::Tensor p = dense.at(layer).proj;
    EXPECT_EQ(p.sizes(), (at::IntArrayRef{64, 64}));
    // N(0, 0.02^2) over the full matrix: ||W||_F ~ 0.02 * 64 (SPEC.md T2)
    EXPECT_NEAR(p.norm().item<double>(), 0.02 * 64, 0.02 * 64 * 0.05);
    EXPECT_TRUE(at::equal(dense.at(layer).conv, at::zeros({64, 1, 5})));
    const at::Tensor q = diagonal.at(layer).proj;
    EXPECT_TRUE(at::equal(q, at::diag(at::diagonal(q))));
    EXPECT_GT(at::diagonal(q).abs().min().item<double>(), 0.0);
  }
  EXPECT_FALSE(at::equal(dense.at(0).proj, dense.at(2).proj));
  const TTTParams again = TTTParams::init(config, model, Init::dense, 7, at::kCPU, at::kFloat);
  EXPECT_TRUE(at::equal(again.at(2).proj, dense.at(2).proj));  // deterministic
  config.proj = false;
  EXPECT_FALSE(TTTParams::init(config, model, Init::dense, 7, at::kCPU, at::kFloat)
                   .at(0).proj.defined());
}

TEST(TttParams, SaveLoadAndShapeErrors) {
  test::ScratchDir dir;
  const ModelConfig model = model_config(4);
  TTTConfig config = small_config(8);
  config.layers = {1, 3};
  TTTParams params = TTTParams::init(config, model, Init::dense, 3, at::kCPU, at::kFloat);
  params.layers[1].conv.normal_();
  config.precision = Precision::fp32;
  config.partial_chunk = PartialChunk::flush;
  params.save(dir / "ttt.safetensors", {config, "seed", "dense"});
  const auto checkpoint = io::Checkpoint::open(dir / "ttt.safetensors");
  // The recipe comes back whole, and the tensors name their layers.
  const std::optional<Recipe> recipe = Recipe::from_metadata(checkpoint);
  ASSERT_TRUE(recipe.has_value());
  EXPECT_EQ(recipe->config.to_json(), config.to_json());
  EXPECT_EQ(recipe->preset, "seed");
  EXPECT_EQ(recipe->init, "dense");
  EXPECT_EQ(checkpoint_layers(checkpoint), (std::vector<std::int64_t>{1, 3}));
  const TTTParams loaded = TTTParams::load(checkpoint, config, model, at::kCPU, at::kFloat);
  for (std::int64_t layer : {1, 3}) {
    EXPECT_TRUE(at::equal(loaded.at(layer).proj, params.at(layer).proj));
    EXPECT_TRUE(at::equal(loaded.at(layer).conv, params.at(layer).conv));
  }
  // a checkpoint for another model width: the error names the tensor and both shapes
  std::string e = error_of([&] {
    TTTParams::load(checkpoint, config, model_config(4, 32), at::kCPU, at::kFloat);
  });
  EXPECT_NE(e.find("model.layers.1.mlp.ttt_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("16"), std::string::npos) << e;
  EXPECT_NE(e.find("32"), std::string::npos) << e;
  // a layer the checkpoint lacks: an error, or initialised on request
  config.layers = {0, 1};
  e = error_of([&] { TTTParams::load(checkpoint, config, model, at::kCPU, at::kFloat); });
  EXPECT_NE(e.find("model.layers.0.mlp.ttt_proj.weight"), std::string::npos) << e;
  const TTTParams mixed =
      TTTParams::load(checkpoint, config, model, at::kCPU, at::kFloat, Init::dense, 3);
  EXPECT_TRUE(at::equal(mixed.at(1).conv, params.at(1).conv));
  EXPECT_TRUE(at::equal(mixed.at(0).conv, at::zeros({16, 1, 5})));
}

TEST(TttParams, ZeroScaleSnapshotRestore) {
  const ModelConfig model = model_config(2);
  TTTConfig config = small_config(8);
  config.layers = {0, 1};
  TTTParams params = TTTParams::init(config, model, Init::dense, 5, at::kCPU, at::kFloat);
  params.layers[0].conv.fill_(0.5);
  const TTTParams snapshot = params.snapshot();
  params.scale(2.0);
  EXPECT_TRUE(at::equal(params.at(0).proj, snapshot.at(0).proj * 2.0));
  EXPECT_TRUE(at::equal(params.at(0).conv, at::full({16, 1, 5}, 1.0)));
  params.zero();  // the seed's conditions A and C
  EXPECT_EQ(params.at(1).proj.abs().max().item<double>(), 0.0);
  EXPECT_EQ(snapshot.at(0).conv.abs().max().item<double>(), 0.5);  // a deep copy
  params.restore(snapshot);
  EXPECT_TRUE(at::equal(params.at(0).proj, snapshot.at(0).proj));
  EXPECT_TRUE(at::equal(params.at(0).conv, snapshot.at(0).conv));
}

TEST(TttStateFile, SaveLoadRoundTrip) {
  test::ScratchDir dir;
  const auto layer = random_layer(16, 24, 30);
  for (Precision precision : {Precision::upstream, Precision::fp32}) {
    TTTConfig config = small_config(4);
    config.precision = precision;
    const at::Tensor x = random_rows(1, 30, 16, 31);
    TTTState state;
    stream_forward(config, layer.params, layer.mlp, state.layers[0], x.narrow(1, 0, 10),
                   x.narrow(1, 0, 10), false);
    stream_forward(config, layer.params, layer.mlp, state.layers[5], x.narrow(1, 0, 2),
                   x.narrow(1, 0, 2), false);  // no update yet, only a tail
    state.frozen = true;
    state.save(dir / "state.safetensors");
    TTTState loaded = TTTState::load(dir / "state.safetensors", at::kCPU);
    EXPECT_TRUE(loaded.frozen);
    ASSERT_EQ(loaded.layers.size(), 2u);
    EXPECT_EQ(loaded.layers[0].weight.updates, 2);
    EXPECT_EQ(loaded.layers[0].tail_rows(), 2);
    EXPECT_EQ(loaded.layers[5].weight.updates, 0);
    EXPECT_EQ(loaded.layers[5].tail_rows(), 2);
    EXPECT_TRUE(at::equal(loaded.layers[0].weight.materialize(layer.mlp.down_proj),
                          state.layers[0].weight.materialize(layer.mlp.down_proj)));
    // continuing from the file gives bitwise the same stream as continuing in memory
    state.frozen = loaded.frozen = false;
    const at::Tensor rest = x.narrow(1, 10, 20);
    const at::Tensor a = stream_forward(config, layer.params, layer.mlp, state.layers[0], rest, rest, false);
    const at::Tensor b = stream_forward(config, layer.params, layer.mlp, loaded.layers[0], rest, rest, false);
    EXPECT_TRUE(at::equal(a, b));
  }
  io::save_tensors(dir / "other.safetensors", {{"x", at::zeros({2})}});
  const std::string e = error_of([&] { TTTState::load(dir / "other.safetensors", at::kCPU); });
  EXPECT_NE(e.find("other.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("format"), std::string::npos) << e;
}

TEST(TttGraft, RoutesTtTLayersAndFlushesOnDropTails) {
  const auto layer = random_layer(16, 24, 40);
  TTTConfig config = small_config(4);
  config.layers = {1};
  config.partial_chunk = PartialChunk::flush;
  TTTParams params;
  params.layers[1] = layer.params;
  TTTState state;
  Graft graft(config, params, state);
  EXPECT_TRUE(graft.handles(1));
  EXPECT_FALSE(graft.handles(0));
  const at::Tensor x = random_rows(1, 6, 16, 41), embeddings = random_rows(1, 6, 16, 42);
  const at::Tensor out = graft.forward(model::MlpContext{1, x, embeddings, layer.mlp});
  LayerState direct;
  EXPECT_TRUE(at::equal(out, stream_forward(config, layer.params, layer.mlp, direct, x, x, false)));
  graft.drop_tails();
  EXPECT_EQ(state.layers[1].tail_rows(), 0);
  EXPECT_EQ(state.layers[1].weight.updates, 2);  // the 2-row tail was written in
  // input_embed: the target rows are the embeddings
  config.target = Target::input_embed;
  state.reset();
  const at::Tensor out_e = graft.forward(model::MlpContext{1, x, embeddings, layer.mlp});
  LayerState direct_e;
  EXPECT_TRUE(at::equal(out_e, stream_forward(config, layer.params, layer.mlp, direct_e, x,
                                              embeddings, false)));
  EXPECT_THROW(graft.forward(model::MlpContext{0, x, embeddings, layer.mlp}), std::runtime_error);
  TTTParams missing;
  EXPECT_THROW(Graft(config, missing, state), std::runtime_error);
}

// Rows whose fast weights take every form (W0, low-rank factors of two ranks, a dense fp32
// delta, upstream's whole W) are applied in one call, batched per form, and each row gets what
// its own FastWeight::apply gives; a row whose weight changes between calls is seen changed
// (the stacked weights are rebuilt), and live rows below a chunk boundary grow their tails as
// stream_forward grows them.
TEST(TttGraft, BatchedRowsOfEveryFormEqualEachRowsOwnApply) {
  const std::int64_t d = 16, f = 24, n = 3;
  const auto layer = random_layer(d, f, 50);
  const at::Tensor& w0 = layer.mlp.down_proj;
  TTTConfig config = small_config(8);
  config.precision = Precision::fp32;
  TTTParams params;
  params.layers[0] = layer.params;
  at::Generator gen = at::detail::createCPUGenerator(51);
  const auto low_rank = [&](std::int64_t rank) {
    FastWeight w;
    w.left = testing::randn({1, d, rank}, 0.1, gen, at::kFloat);
    w.right = testing::randn({1, rank, f}, 0.1, gen, at::kFloat);
    return w;
  };
  FastWeight dense, whole;
  dense.delta = testing::randn({1, d, f}, 0.1, gen, at::kFloat);
  whole.full = testing::randn({1, d, f}, 0.3, gen, at::kFloat);
  const std::vector<FastWeight> forms{FastWeight{}, low_rank(2), dense, low_rank(5), whole};
  TTTRows rows(forms.size());
  for (std::size_t r = 0; r < forms.size(); ++r) {
    rows[r].layers[0].weight = forms[r];
    rows[r].frozen = true;
  }
  const at::Tensor x = random_rows(static_cast<std::int64_t>(forms.size()), n, d, 52);
  Graft graft(config, params, rows);
  const auto expected = [&](std::size_t r) {
    return rows[r].layers.at(0).weight.apply(model::mlp_intermediate(x.narrow(0, r, 1), layer.mlp), w0);
  };
  for (int call = 0; call < 2; ++call) {
    const at::Tensor out = graft.forward(model::MlpContext{0, x, x, layer.mlp});
    for (std::size_t r = 0; r < forms.size(); ++r)
      EXPECT_LE(rel_error(out.narrow(0, static_cast<std::int64_t>(r), 1), expected(r)), 1e-6)
          << "row " << r << ", call " << call;
    rows[1].layers[0].weight = low_rank(3);  // a new rank and new factors
    rows[2].layers[0].weight = FastWeight{};
  }
  // Live rows below a boundary: the same output, and each row's real tokens join its tail.
  TTTRows live(2);
  Graft live_graft(config, params, live);
  at::Tensor valid = at::ones({2, n}, at::kBool);
  valid[1][0] = false;
  const at::Tensor out = live_graft.forward(
      model::MlpContext{0, x.narrow(0, 0, 2), x.narrow(0, 0, 2), layer.mlp, true, valid, valid});
  for (std::int64_t r = 0; r < 2; ++r) {
    LayerState alone;
    const std::int64_t first = r == 0 ? 0 : 1;
    const at::Tensor real = x.narrow(0, r, 1).narrow(1, first, n - first);
    const at::Tensor want = stream_forward(config, layer.params, layer.mlp, alone, real, real, false);
    EXPECT_LE(rel_error(out.narrow(0, r, 1).narrow(1, first, n - first), want), 1e-6) << r;
    EXPECT_TRUE(at::equal(live[static_cast<std::size_t>(r)].layers.at(0).tail_x, alone.tail_x)) << r;
  }
}

}  // namespace
}  // namespace tttmem::ttt
