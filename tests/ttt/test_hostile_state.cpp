// Hostile TTT state files (issue 9): a state for a layer the model lacks, from a differently
// shaped model or the other precision mode, with NaN fast weights, tensors of the wrong dtype or
// malformed metadata. Each is refused when loaded or checked, naming the file, layer and tensor,
// instead of failing inside the forward with torch's "Sizes of tensors must match" or "expected
// m1 and m2 to have the same dtype", or std::stoll's "stoll".
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "../cli/hostile_util.h"
#include "test_support.h"
#include "ttt_test_util.h"
#include "tttmem/tensor_io.h"

namespace tttmem::ttt {
namespace {

using testing::error_of;
using testing::model_config;

// small_config(4) under the fp32 precision, the mode whose fast weight state_for() holds.
TTTConfig fp32_config() {
  TTTConfig config = testing::small_config(4);
  config.precision = Precision::fp32;
  return config;
}

// A state of layer `layer` with a dense fp32 delta [1, d, f] and a 2-row tail.
TTTState state_for(std::int64_t layer, std::int64_t d, std::int64_t f) {
  TTTState state;
  LayerState& s = state.layers[layer];
  s.weight.delta = at::zeros({1, d, f});
  s.weight.updates = 1;
  s.tail_x = at::zeros({1, 2, d});
  s.tail_t = at::zeros({1, 2, d});
  return state;
}

TEST(HostileTttState, MatchingStatePassesTheCheck) {
  const TTTConfig config = fp32_config();
  EXPECT_NO_THROW(state_for(0, 16, 24).check(config, model_config(2, 16, 24), at::kFloat, "s"));
}

TEST(HostileTttState, LayerTheModelDoesNotHaveIsRefused) {
  const TTTConfig config = fp32_config();  // TTT on layer 0
  EXPECT_NE(error_of([&] { state_for(7, 16, 24).check(config, model_config(2, 16, 24), at::kFloat, "s.safetensors"); })
                .find("TTT state s.safetensors: layer 7 is not a TTT layer of this model (the model has 2 layers"),
            std::string::npos);
}

TEST(HostileTttState, StateOfADifferentlyShapedModelIsRefused) {
  const TTTConfig config = fp32_config();
  const std::string e =
      error_of([&] { state_for(0, 32, 24).check(config, model_config(2, 16, 24), at::kFloat, "s.safetensors"); });
  EXPECT_NE(e.find("TTT state s.safetensors: layer 0: tensor 'delta' has shape [1, 32, 24], "
                   "expected [*, 16, 24] for this model (hidden_size 16, intermediate_size 24)"),
            std::string::npos)
      << e;
  TTTState long_tail = state_for(0, 16, 24);
  long_tail.layers[0].tail_x = long_tail.layers[0].tail_t = at::zeros({1, 4, 16});
  EXPECT_NE(error_of([&] { long_tail.check(config, model_config(2, 16, 24), at::kFloat, "s"); })
                .find("the pending tail holds 4 rows, expected fewer than the chunk size 4"),
            std::string::npos);
}

// Each precision mode's update writes only its own form of W, so a state continued under the
// other mode lost its fast weight (fp32 -> upstream) or every new update (upstream -> fp32).
TEST(HostileTttState, StateOfTheOtherPrecisionModeIsRefused) {
  TTTConfig upstream = fp32_config();
  upstream.precision = Precision::upstream;
  std::string e =
      error_of([&] { state_for(0, 16, 24).check(upstream, model_config(2, 16, 24), at::kFloat, "s.st"); });
  EXPECT_NE(e.find("TTT state s.st: layer 0: tensor 'delta' is a fast weight of the fp32 precision "
                   "mode, but this run's TTT precision is upstream; continue the state with "
                   "--ttt-precision fp32"),
            std::string::npos)
      << e;
  TTTState full = state_for(0, 16, 24);
  full.layers[0].weight.delta = at::Tensor();
  full.layers[0].weight.full = at::zeros({1, 16, 24});
  EXPECT_NO_THROW(full.check(upstream, model_config(2, 16, 24), at::kFloat, "s.st"));
  e = error_of([&] { full.check(fp32_config(), model_config(2, 16, 24), at::kFloat, "s.st"); });
  EXPECT_NE(e.find("tensor 'full' is a fast weight of the upstream precision mode, but this run's "
                   "TTT precision is fp32; continue the state with --ttt-precision upstream"),
            std::string::npos)
      << e;
}

// The fp32 mode's W - W0 is F32; W (upstream) and the tails are in one model dtype.
TEST(HostileTttState, TensorsOfTheWrongDtypeAreRefusedOnLoad) {
  test::ScratchDir dir;
  const auto load_error = [&](const TTTState& state) {
    state.save(dir / "s.safetensors");
    return error_of([&] { TTTState::load(dir / "s.safetensors", at::kCPU); });
  };
  TTTState state = state_for(0, 4, 6);
  EXPECT_EQ(load_error(state), "(no error)");
  state.layers[0].weight.delta = at::zeros({1, 4, 6}, at::kBFloat16);
  EXPECT_NE(load_error(state).find("s.safetensors: tensor 'layers.0.delta' is BF16, expected F32"),
            std::string::npos)
      << load_error(state);
  state = state_for(0, 4, 6);
  state.layers[0].tail_t = state.layers[0].tail_t.to(at::kDouble);
  EXPECT_NE(load_error(state).find("tensor 'layers.0.tail_t' is F64, expected the model's dtype, "
                                   "BF16, F16 or F32"),
            std::string::npos)
      << load_error(state);
  state.layers[0].tail_t = state.layers[0].tail_t.to(at::kHalf);
  EXPECT_NE(load_error(state).find("tensor 'layers.0.tail_t' is F16, expected F32 like "
                                   "'layers.0.tail_x'"),
            std::string::npos)
      << load_error(state);
}

// Through the binary: a state written by `forward --ttt-state-out` with its tensors turned to F64
// or BF16 (this run is fp32), or continued under the other precision mode, is refused naming the
// tensor and what was expected before the forward runs, and no output is written.
TEST(HostileTttState, ForwardRefusesAStateOfTheWrongDtypeOrPrecision) {
  const test::ScratchDir dir;
  const auto model = test::make_tiny_model(dir);
  const auto out = dir / "out.safetensors";
  const auto forward = [&](const std::string& flags) {
    return test::run_tttmem_within(60, "forward --dtype fp32 --model '" + model.string() +
                                           "' --ids 1,2,3 --out '" + out.string() +
                                           "' --ttt-layers 0 --ttt-chunk 2 --ttt-init dense " +
                                           flags);
  };
  const auto state = dir / "state.safetensors";
  for (const std::string precision : {"upstream", "fp32"}) {
    const auto r = forward("--ttt-precision " + precision + " --ttt-state-out '" +
                           (dir / (precision + ".safetensors")).string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  std::filesystem::remove(out);

  // The upstream state with every tensor in `dtype`.
  const auto converted = [&](at::ScalarType dtype) {
    io::NamedTensors tensors;
    for (auto& [name, tensor] : io::load_tensors(dir / "upstream.safetensors", at::kCPU))
      tensors.emplace_back(name, tensor.to(dtype));
    EXPECT_EQ(tensors.front().first, "layers.0.full");
    io::save_tensors(state, tensors,
                     io::SafetensorsFile::open(dir / "upstream.safetensors")->metadata());
    return "--ttt-state-in '" + state.string() + "'";
  };
  test::expect_failure(forward(converted(at::kDouble)),
                       {1, {"TTT state " + state.string() + ": tensor 'layers.0.full' is F64, "
                            "expected the model's dtype"}},
                       "F64 state");
  EXPECT_FALSE(std::filesystem::exists(out));
  // A model dtype, but not the one this run uses (a bf16 run's state in an fp32 run).
  test::expect_failure(forward(converted(at::kBFloat16)),
                       {1, {"TTT state " + state.string() + ": layer 0: tensor 'full' is BF16, "
                            "expected F32, the dtype the model runs in"}},
                       "BF16 state, fp32 run");
  EXPECT_FALSE(std::filesystem::exists(out));

  const auto fp32 = dir / "fp32.safetensors";
  test::expect_failure(forward("--ttt-state-in '" + fp32.string() + "'"),
                       {1, {"TTT state " + fp32.string() + ": layer 0: tensor 'left' is a fast "
                            "weight of the fp32 precision mode", "--ttt-precision fp32"}},
                       "fp32 state, upstream run");
  EXPECT_FALSE(std::filesystem::exists(out));
  const auto r = forward("--ttt-precision fp32 --ttt-state-in '" + fp32.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(HostileTttState, NanFastWeightsAreRefusedOnLoad) {
  test::ScratchDir dir;
  TTTState state = state_for(0, 4, 6);
  state.layers[0].weight.delta[0][1][2] = std::nan("");
  state.save(dir / "nan.safetensors");
  EXPECT_NE(error_of([&] { TTTState::load(dir / "nan.safetensors", at::kCPU); })
                .find("nan.safetensors: tensor 'layers.0.delta' holds NaN or infinite values"),
            std::string::npos);
}

TEST(HostileTttState, MalformedMetadataNamesTheField) {
  test::ScratchDir dir;
  const auto write = [&](const std::map<std::string, std::string>& metadata) {
    io::save_tensors(dir / "bad.safetensors", {{"layers.0.delta", at::zeros({1, 4, 6})}}, metadata);
    return error_of([&] { TTTState::load(dir / "bad.safetensors", at::kCPU); });
  };
  const std::map<std::string, std::string> good{
      {"format", "tttmem.ttt_state.v1"}, {"frozen", "0"}, {"layers", "0"}, {"layers.0.updates", "3"}};
  EXPECT_EQ(write(good), "(no error)");
  auto bad = good;
  bad["layers.0.updates"] = "lots";
  EXPECT_NE(write(bad).find("'layers.0.updates' = 'lots', expected a layer >= 0 with a whole number"),
            std::string::npos)
      << write(bad);
  bad = good;
  bad["layers"] = "0,x";
  EXPECT_NE(write(bad).find("bad.safetensors: metadata 'layers': expected comma-separated integers"),
            std::string::npos)
      << write(bad);
  bad = good;
  bad["frozen"] = "maybe";
  EXPECT_NE(write(bad).find("metadata 'frozen' is 'maybe', expected 0 or 1"), std::string::npos);
}

}  // namespace
}  // namespace tttmem::ttt
