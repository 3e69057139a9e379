// `tttmem forward --ttt CKPT --ttt-state-in/--ttt-state-out`: ingest and probe as two calls;
// the --ttt-* flags over config.json; TTT resolution (auto-enabled by config.json, --ttt
// overriding, --no-ttt, missing tensors naming the flags that fix it).
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
                         "' --no-ttt --ttt-state-in '" + (scratch / "state.safetensors").string() +
                         "'");
  EXPECT_EQ(run.exit_code, 2) << run.output;  // a state needs TTT
  run = test::run_tttmem(common + "--ids 5 --out '" + (scratch / "x.safetensors").string() +
                         "' --ttt '" + (scratch / "missing").string() + "'");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("missing"), std::string::npos) << run.output;
}

TEST(TttCli, FlagsOverrideTheConfigJsonFields) {
  const auto dir = test::fixture("ttt_reference");
  const std::string model = (dir / "model").string();  // config.json: layers 0,2, chunk 8, lr 0.1
  const at::Tensor ids = read(dir / "reference.safetensors").at("ids_43");
  std::string id_list;
  for (std::int64_t i = 0; i < ids.size(0); ++i)
    id_list += (i ? "," : "") + std::to_string(ids[i].item<std::int64_t>());
  test::ScratchDir scratch;
  const auto forward = [&](const std::string& name, const std::string& flags) {
    return test::run_tttmem("forward --dtype fp32 --attention math --model '" + model +
                            "' --ids " + id_list + " --out '" + (scratch / name).string() +
                            "' " + flags);
  };
  const auto logits = [&](const std::string& name) {
    return read(scratch / name).at("logits");
  };
  const std::string ttt = "--ttt '" + model + "' ";

  ASSERT_EQ(forward("base.st", "--no-ttt").exit_code, 0);
  ASSERT_EQ(forward("ttt.st", ttt).exit_code, 0);
  ASSERT_GT(testing::rel_error(logits("ttt.st"), logits("base.st")), 1e-3) << "TTT has no effect";
  // eta = 0: every update is zero, so the graft is the base model (up to GEMM shapes).
  auto run = forward("lr0.st", ttt + "--ttt-lr 0");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_LE(testing::rel_error(logits("lr0.st"), logits("base.st")), 1e-6);

  // One layer of the checkpoint's two: deliberate, so --ttt-override (without it, refused).
  run = forward("c16.st", ttt + "--ttt-layers 2 --ttt-chunk 16");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("layers 0, which are not TTT layers here"), std::string::npos)
      << run.output;
  run = forward("c16.st", ttt + "--ttt-layers 2 --ttt-chunk 16 --ttt-override --ttt-state-out '" +
                              (scratch / "s16.st").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const TTTState state = TTTState::load(scratch / "s16.st", at::kCPU);
  ASSERT_EQ(state.layers.size(), 1u);
  EXPECT_EQ(state.layers.at(2).weight.updates, 2);  // 43 tokens = 2 chunks of 16 + 11
  EXPECT_EQ(state.layers.at(2).tail_rows(), 11);

  // Layers in any order are stored sorted: both layers graft and update.
  run = forward("unsorted.st", ttt + "--ttt-layers 2,0 --ttt-state-out '" +
                                   (scratch / "unsorted_state.st").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const TTTState both = TTTState::load(scratch / "unsorted_state.st", at::kCPU);
  ASSERT_EQ(both.layers.size(), 2u);
  EXPECT_EQ(both.layers.at(0).weight.updates, 5);  // 43 tokens = 5 chunks of 8 + 3
  EXPECT_EQ(both.layers.at(2).weight.updates, 5);
  EXPECT_LE(testing::rel_error(logits("unsorted.st"), logits("ttt.st")), 1e-6);
  // Validation comes after the overrides: --ttt-layers repairs a preset's layers for this
  // model (chunk 64 and lr 3 stay the preset's).
  run = forward("preset.st", ttt + "--ttt-preset seed --ttt-layers 0 --ttt-override --ttt-state-out '" +
                                 (scratch / "preset_state.st").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const TTTState preset = TTTState::load(scratch / "preset_state.st", at::kCPU);
  ASSERT_EQ(preset.layers.size(), 1u);
  EXPECT_EQ(preset.layers.at(0).weight.updates, 0);  // 43 tokens < one chunk of 64
  EXPECT_EQ(preset.layers.at(0).tail_rows(), 43);

  run = forward("x.st", ttt + "--ttt-layers 0,7");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("layer 7 does not exist"), std::string::npos) << run.output;
  run = forward("x.st", ttt + "--ttt-preset seed");  // layers 0,6,...,30 on a 3-layer model
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("layer 6 does not exist"), std::string::npos) << run.output;
  run = forward("x.st", ttt + "--ttt-lr nan");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("--ttt-lr"), std::string::npos) << run.output;
  EXPECT_EQ(forward("x.st", ttt + "--ttt-target bogus").exit_code, 2);
  EXPECT_EQ(forward("x.st", ttt + "--ttt-chunk 0").exit_code, 2);
  EXPECT_EQ(forward("x.st", "--no-ttt --ttt-lr 1").exit_code, 2);  // a flag with no effect
}

TEST(TttCli, ConfigJsonEnablesTttAndTttOverridesIt) {
  const auto dir = test::fixture("ttt_reference");
  const std::string model = (dir / "model").string();  // config.json enables TTT, tensors inside
  test::ScratchDir scratch;
  const auto forward = [&](const std::string& name, const std::string& flags) {
    return test::run_tttmem("forward --dtype fp32 --attention math --model '" + model +
                            "' --ids 3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2 --out '" +
                            (scratch / name).string() + "' " + flags);
  };
  const auto logits = [&](const std::string& name) { return read(scratch / name).at("logits"); };

  auto run = forward("auto.st", "");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_EQ(forward("explicit.st", "--ttt '" + model + "'").exit_code, 0);
  ASSERT_EQ(forward("base.st", "--no-ttt").exit_code, 0);
  EXPECT_TRUE(at::equal(logits("auto.st"), logits("explicit.st")));
  ASSERT_GT(testing::rel_error(logits("auto.st"), logits("base.st")), 1e-3) << "TTT had no effect";

  // --ttt wins over the model's own tensors: all-zero TTT parameters make every update zero,
  // so the result is the base model.
  const ModelConfig config = ModelConfig::load(model);
  const TTTConfig ttt_config = TTTConfig::from_json(config.raw, config, "config.json");
  TTTParams zero = TTTParams::load(io::Checkpoint::open(model), ttt_config, config, at::kCPU,
                                   at::kFloat);
  zero.zero();
  zero.save(scratch / "zero_ttt.safetensors", {ttt_config, "", ""});
  run = forward("zero.st", "--ttt '" + (scratch / "zero_ttt.safetensors").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_LE(testing::rel_error(logits("zero.st"), logits("base.st")), 1e-6);

  run = forward("x.st", "--no-ttt --ttt '" + model + "'");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("--no-ttt"), std::string::npos) << run.output;
}

TEST(TttCli, InitFillsMissingTensorsAsAnExactNoOpStart) {
  test::ScratchDir scratch;
  const std::string model = (scratch / "tiny").string();
  auto run = test::run_tttmem("init-model --config '" +
                              (test::source_dir() / "configs/models/tiny-qwen3.json").string() +
                              "' --seed 3 --out '" + model + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto forward = [&](const std::string& name, const std::string& flags) {
    return test::run_tttmem("forward --dtype fp32 --model '" + model + "' --ids 1,2,3,4,5,6,7,8,9 " +
                            "--out '" + (scratch / name).string() + "' " + flags);
  };
  const std::string ttt = "--ttt '" + model + "' --ttt-layers 0,2 --ttt-chunk 4 ";
  run = forward("x.st", ttt);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("model.layers.0.mlp.ttt_proj.weight"), std::string::npos) << run.output;
  ASSERT_EQ(forward("base.st", "").exit_code, 0);
  run = forward("init.st", ttt + "--ttt-init dense");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // ttt_conv starts at zero, so every update is exactly zero (SPEC.md T2): the base model.
  EXPECT_LE(testing::rel_error(read(scratch / "init.st").at("logits"),
                               read(scratch / "base.st").at("logits")), 1e-6);

  // Without --ttt the model folder is the TTT checkpoint; the flags enable the layers.
  run = forward("x.st", "--ttt-layers 0,2 --ttt-chunk 4");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("model.layers.0.mlp.ttt_proj.weight"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("--ttt CKPT"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("--ttt-init"), std::string::npos) << run.output;
  // A --ttt-* flag on a model without TTT layers would be a silent no-op: refused.
  run = forward("x.st", "--ttt-chunk 4");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("enables no TTT layer"), std::string::npos) << run.output;
  run = forward("x.st", "--ttt-state-out '" + (scratch / "s.st").string() + "'");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_FALSE(std::filesystem::exists(scratch / "s.st"));
}

TEST(TttCli, ConfigJsonEnablingTttWithoutTheTensorsNamesTheFlagsThatFixIt) {
  test::ScratchDir scratch;
  const auto model = scratch / "tiny";
  auto run = test::run_tttmem("init-model --config '" +
                              (test::source_dir() / "configs/models/tiny-qwen3.json").string() +
                              "' --seed 3 --out '" + model.string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto config = nlohmann::json::parse(io::read_file(model / "config.json"));
  config["ttt_mode"] = true;
  config["ttt_layers"] = {1};
  config["ttt_chunk"] = 4;
  io::atomic_write_file(model / "config.json", config.dump(2));
  const auto forward = [&](const std::string& name, const std::string& flags) {
    return test::run_tttmem("forward --dtype fp32 --model '" + model.string() +
                            "' --ids 1,2,3,4,5,6,7,8,9 --out '" + (scratch / name).string() +
                            "' " + flags);
  };
  run = forward("x.st", "");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("model.layers.1.mlp.ttt_proj.weight"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("--ttt CKPT"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("--ttt-init"), std::string::npos) << run.output;
  EXPECT_FALSE(std::filesystem::exists(scratch / "x.st"));

  ASSERT_EQ(forward("base.st", "--no-ttt").exit_code, 0);
  run = forward("init.st", "--ttt-init diagonal --ttt-state-out '" +
                               (scratch / "state.st").string() + "'");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const TTTState state = TTTState::load(scratch / "state.st", at::kCPU);
  ASSERT_EQ(state.layers.size(), 1u);
  EXPECT_EQ(state.layers.at(1).weight.updates, 2);  // 9 tokens = 2 chunks of 4 + 1
  EXPECT_LE(testing::rel_error(read(scratch / "init.st").at("logits"),
                               read(scratch / "base.st").at("logits")), 1e-6);
}

}  // namespace
}  // namespace tttmem::ttt
