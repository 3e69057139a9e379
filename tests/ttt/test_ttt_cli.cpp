// `tttmem forward --ttt CKPT --ttt-state-in/--ttt-state-out`: ingest and probe as two calls.
#include <gtest/gtest.h>

#include "test_support.h"
#include "ttt_test_util.h"
#include "tttmem/tensor_io.h"

namespace tttmem::ttt {
namespace {

std::map<std::string, at::Tensor> read(const std::filesystem::path& file) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, tensor] : io::load_tensors(file, at::kCPU)) out[name] = tensor;
  return out;
}

TEST(TttCli, ForwardWithTttMatchesReferenceAndChainsStates) {
  const auto dir = test::fixture("ttt_reference");
  const auto model = (dir / "model").string();
  auto reference = read(dir / "reference.safetensors");
  const at::Tensor ids = reference.at("ids_43");
  std::string id_list;
  for (std::int64_t i = 0; i < ids.size(0); ++i)
    id_list += (i ? "," : "") + std::to_string(ids[i].item<std::int64_t>());
  test::ScratchDir scratch;
  const std::string common = "forward --dtype fp32 --attention math --model '" + model + "' ";

  auto run = test::run_tttmem(common + "--ids " + id_list + " --out '" +
                              (scratch / "logits.safetensors").string() + "' --ttt '" + model +
                              "' --ttt-state-out '" + (scratch / "state.safetensors").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_LE(testing::rel_error(read(scratch / "logits.safetensors").at("logits"),
                               reference.at("logits_43")), 1e-5);
  TTTState state = TTTState::load(scratch / "state.safetensors", at::kCPU);
  ASSERT_EQ(state.layers.size(), 2u);
  EXPECT_EQ(state.layers.at(0).weight.updates, 5);
  EXPECT_EQ(state.layers.at(0).tail_rows(), 3);
  EXPECT_LE(testing::rel_error(state.layers.at(0).weight.full[0], reference.at("final_w_0")), 1e-5);

  // A second call continues the TTT stream (not the KV cache): 3 + 5 rows complete a chunk.
  run = test::run_tttmem(common + "--ids 5,6,7,8,9 --out '" +
                         (scratch / "probe.safetensors").string() + "' --ttt '" + model +
                         "' --ttt-state-in '" + (scratch / "state.safetensors").string() +
                         "' --ttt-state-out '" + (scratch / "state2.safetensors").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  state = TTTState::load(scratch / "state2.safetensors", at::kCPU);
  EXPECT_EQ(state.layers.at(0).weight.updates, 6);
  EXPECT_EQ(state.layers.at(0).tail_rows(), 0);

  run = test::run_tttmem(common + "--ids 5 --out '" + (scratch / "x.safetensors").string() +
                         "' --ttt-state-in '" + (scratch / "state.safetensors").string() + "'");
  EXPECT_EQ(run.exit_code, 2) << run.output;  // --ttt-state-in needs --ttt
  run = test::run_tttmem(common + "--ids 5 --out '" + (scratch / "x.safetensors").string() +
                         "' --ttt '" + (scratch / "missing").string() + "'");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("missing"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace tttmem::ttt
