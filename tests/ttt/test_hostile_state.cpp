// Hostile TTT state files (issue 9): a state for a layer the model lacks, from a differently
// shaped model, with NaN fast weights or malformed metadata. Each is refused when loaded or
// checked, naming the file, layer and tensor, instead of failing inside the forward with
// torch's "Sizes of tensors must match" or std::stoll's "stoll".
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "test_support.h"
#include "ttt_test_util.h"
#include "tttmem/tensor_io.h"

namespace tttmem::ttt {
namespace {

using testing::error_of;
using testing::model_config;

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
  const TTTConfig config = testing::small_config(4);
  EXPECT_NO_THROW(state_for(0, 16, 24).check(config, model_config(2, 16, 24), "s"));
}

TEST(HostileTttState, LayerTheModelDoesNotHaveIsRefused) {
  const TTTConfig config = testing::small_config(4);  // TTT on layer 0
  EXPECT_NE(error_of([&] { state_for(7, 16, 24).check(config, model_config(2, 16, 24), "s.safetensors"); })
                .find("TTT state s.safetensors: layer 7 is not a TTT layer of this model (the model has 2 layers"),
            std::string::npos);
}

TEST(HostileTttState, StateOfADifferentlyShapedModelIsRefused) {
  const TTTConfig config = testing::small_config(4);
  const std::string e =
      error_of([&] { state_for(0, 32, 24).check(config, model_config(2, 16, 24), "s.safetensors"); });
  EXPECT_NE(e.find("TTT state s.safetensors: layer 0: tensor 'delta' has shape [1, 32, 24], "
                   "expected [*, 16, 24] for this model (hidden_size 16, intermediate_size 24)"),
            std::string::npos)
      << e;
  TTTState long_tail = state_for(0, 16, 24);
  long_tail.layers[0].tail_x = long_tail.layers[0].tail_t = at::zeros({1, 4, 16});
  EXPECT_NE(error_of([&] { long_tail.check(config, model_config(2, 16, 24), "s"); })
                .find("the pending tail holds 4 rows, expected fewer than the chunk size 4"),
            std::string::npos);
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
