// TTT checkpoints given by --ttt: the recipe they record (ttt::Recipe) and what is refused
// before any forward: non-finite values, tensors for layers the model lacks or does not run,
// flags or presets that contradict the recipe, --ttt-override with nothing to override.
#include <gtest/gtest.h>

#include "test_support.h"
#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/tensor_io.h"
#include "tttmem/ttt.h"

namespace tttmem::ttt {
namespace {

namespace fs = std::filesystem;

// A tiny random Qwen3 (4 layers, no TTT fields in config.json) and TTT checkpoints beside it.
class TttCheckpoint : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new test::ScratchDir();
    const auto r = test::run_tttmem("--seed 5 init-model --config '" +
                                    (test::source_dir() / "configs/models/tiny-qwen3.json").string() +
                                    "' --out '" + model().string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete scratch_; }
  static fs::path model() { return *scratch_ / "model"; }
  static fs::path path(const std::string& name) { return *scratch_ / name; }

  // Layers {0, 2}, chunk 4, lr 2, conv non-zero so the graft changes the logits.
  static TTTConfig trained_config() {
    TTTConfig config;
    config.set_layers({0, 2});
    config.chunk = 4;
    config.lr = 2;
    return config;
  }
  static TTTParams params(const TTTConfig& config) {
    TTTParams p = TTTParams::init(config, ModelConfig::load(model()), Init::dense, 9, at::kCPU,
                                  at::kFloat);
    for (auto& [layer, lp] : p.layers) lp.conv.fill_(0.3);
    return p;
  }
  // `extra` tensors are added as they are: the hostile part.
  static fs::path write(const std::string& name, const io::NamedTensors& extra = {},
                        bool with_recipe = true) {
    io::NamedTensors tensors;
    for (const auto& [layer, lp] : params(trained_config()).layers) {
      tensors.emplace_back(proj_name(layer), lp.proj);
      tensors.emplace_back(conv_name(layer), lp.conv);
    }
    tensors.insert(tensors.end(), extra.begin(), extra.end());
    std::map<std::string, std::string> meta;
    if (with_recipe) meta = Recipe{trained_config(), "", "dense"}.to_metadata();
    io::save_tensors(path(name), tensors, meta);
    return path(name);
  }
  static test::CommandResult forward(const fs::path& ttt, const std::string& flags,
                                     const std::string& out = "logits.safetensors") {
    fs::remove(path(out));
    return test::run_tttmem("forward --dtype fp32 --model '" + model().string() +
                            "' --ids 5,6,7,8,9,10,11,12,13 --ttt '" + ttt.string() + "' " + flags +
                            " --out '" + path(out).string() + "'");
  }
  static at::Tensor logits(const std::string& name) {
    for (auto& [key, tensor] : io::load_tensors(path(name), at::kCPU))
      if (key == "logits") return tensor;
    ADD_FAILURE() << name << " has no logits";
    return {};
  }
  static void expect_refused(const test::CommandResult& r, const std::vector<std::string>& parts,
                             const std::string& what) {
    EXPECT_EQ(r.exit_code, 1) << what << "\n" << r.output;
    for (const std::string& part : parts)
      EXPECT_NE(r.output.find(part), std::string::npos) << what << ": " << part << "\n" << r.output;
    EXPECT_FALSE(fs::exists(path("logits.safetensors"))) << what;
  }
  static test::ScratchDir* scratch_;
};
test::ScratchDir* TttCheckpoint::scratch_ = nullptr;

TEST_F(TttCheckpoint, RecipeRunsWithoutFlagsAsTheFlagsWould) {
  const fs::path ckpt = write("recipe.safetensors");
  auto r = forward(ckpt, "", "bare.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = forward(ckpt, "--ttt-layers 0,2 --ttt-chunk 4 --ttt-lr 2", "flags.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The same checkpoint without its recipe, told by flags: the same logits.
  const fs::path plain = write("plain.safetensors", {}, false);
  r = forward(plain, "--ttt-layers 0,2 --ttt-chunk 4 --ttt-lr 2", "plain.safetensors.out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const at::Tensor bare = logits("bare.safetensors");
  EXPECT_TRUE(at::equal(bare, logits("flags.safetensors")));
  EXPECT_TRUE(at::equal(bare, logits("plain.safetensors.out")));
  // Without a recipe and without flags the checkpoint cannot say how to run it.
  r = forward(plain, "");
  expect_refused(r, {"records no TTT settings", "--ttt-layers"}, "no recipe, no flags");
}

TEST_F(TttCheckpoint, ContradictionsAreRefusedUnlessOverridden) {
  const fs::path ckpt = write("recipe.safetensors");
  expect_refused(forward(ckpt, "--ttt-lr 0.5"),
                 {"--ttt-lr 0.5 contradicts --ttt " + ckpt.string(), "ttt_lr 2.0", "--ttt-override"},
                 "lr");
  expect_refused(forward(ckpt, "--ttt-preset seed"),
                 {"--ttt-preset seed contradicts", "ttt_layers [0,2]"}, "preset");
  expect_refused(forward(ckpt, "--ttt-precision fp32"), {"ttt_precision \"upstream\""}, "precision");
  // Deliberate: eta 0 keeps W = W0, a different result from the trained eta.
  auto r = forward(ckpt, "--ttt-lr 0 --ttt-override", "zero_lr.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = forward(ckpt, "", "trained.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(at::equal(logits("zero_lr.safetensors"), logits("trained.safetensors")));
  // Nothing to override: no recipe.
  expect_refused(forward(write("plain.safetensors", {}, false), "--ttt-layers 0,2 --ttt-override"),
                 {"--ttt-override", "records no TTT settings", "nothing to override"}, "override");
}

TEST_F(TttCheckpoint, NonFiniteValuesAreRefusedByTensor) {
  at::Tensor conv = at::full({128, 1, 5}, 0.1);
  conv[3][0][2] = std::numeric_limits<float>::quiet_NaN();
  conv[7][0][0] = std::numeric_limits<float>::infinity();
  // Layer 2's conv replaced by one with a NaN and an inf.
  io::NamedTensors tensors;
  for (const auto& [layer, lp] : params(trained_config()).layers) {
    tensors.emplace_back(proj_name(layer), lp.proj);
    tensors.emplace_back(conv_name(layer), layer == 2 ? conv : lp.conv);
  }
  io::save_tensors(path("nan.safetensors"), tensors, Recipe{trained_config(), "", ""}.to_metadata());
  expect_refused(forward(path("nan.safetensors"), ""),
                 {"model.layers.2.mlp.ttt_conv.weight", "2 non-finite values (NaN or inf)"}, "NaN");
}

TEST_F(TttCheckpoint, TensorsForOtherLayersAreRefused) {
  const at::Tensor conv = at::zeros({128, 1, 5});
  // A layer the model does not have: refused even under --ttt-override.
  const fs::path far = write("layer99.safetensors", {{conv_name(99), conv}});
  for (const char* flags : {"", "--ttt-override"})
    expect_refused(forward(far, flags), {"layer 99", "does not have", "4 layers"}, flags);
  // A layer the model has but does not run with TTT: refused, or ignored when deliberate.
  const fs::path extra = write("layer1.safetensors", {{conv_name(1), conv}});
  expect_refused(forward(extra, ""),
                 {"layers 1, which are not TTT layers here", "layers 0,2", "--ttt-override"},
                 "extra layer");
  const auto r = forward(extra, "--ttt-override");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ignored (--ttt-override)"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tttmem::ttt
