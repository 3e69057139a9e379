// `tttmem sanity` through the binary on a tiny random Qwen3 in fp32: live TTT parameters pass
// every required check; zero conv (an untrained graft) and a NaN parameter fail, naming why;
// --json holds every check with its value and threshold.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "experiment_test_util.h"
#include "test_support.h"
#include "tttmem/io.h"
#include "tttmem/sanity.h"
#include "tttmem/ttt.h"

namespace tttmem::experiment {
namespace {

class SanityCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new test::ScratchDir();
    test::make_tiny_model(*scratch_ / "model");
    test::save_live_ttt(*scratch_ / "model", *scratch_ / "live.safetensors");
  }
  static void TearDownTestSuite() { delete scratch_; }
  static std::filesystem::path path(const std::string& name) { return *scratch_ / name; }

  // The live checkpoint with `edit` applied, saved as `name`.
  static std::filesystem::path edited(const std::string& name,
                                      const std::function<void(ttt::TTTParams&)>& edit) {
    ttt::TTTConfig config;  // as sanity() runs it, so the recorded recipe agrees with the flags
    config.set_layers({0, 2});
    config.chunk = 8;
    config.lr = 3;
    ttt::TTTParams params =
        ttt::TTTParams::load(io::Checkpoint::open(path("live.safetensors")), config,
                             ModelConfig::load(path("model")), at::kCPU, at::kFloat);
    edit(params);
    params.save(path(name), {config, "", ""});
    return path(name);
  }

  // Runs sanity with `ttt` and returns the exit code, the output and the --json file's checks
  // by name (empty when no file was written).
  struct Outcome {
    test::CommandResult result;
    nlohmann::json json;
    std::map<std::string, nlohmann::json> checks;
  };
  static Outcome sanity(const std::filesystem::path& ttt, const std::string& json_name) {
    Outcome outcome;
    const auto json = path(json_name);
    // One intra-op thread: the tiny model's small ops only lose to OpenMP fan-out, several
    // times over on a shared machine.
    outcome.result = test::run_command(
        "OMP_NUM_THREADS=1 " + std::string(TTTMEM_BINARY) + " sanity --dtype fp32 --model '" + path("model").string() + "' --tokenizer '" +
        (test::source_dir() / "configs/tokenizers/qwen3").string() + "' --ttt '" + ttt.string() +
        "' --ttt-layers 0,2 --ttt-chunk 8 --ttt-lr 3 --json '" + json.string() + "'");
    if (std::filesystem::exists(json)) {
      outcome.json = nlohmann::json::parse(io::read_file(json));
      for (const auto& check : outcome.json.at("checks"))
        outcome.checks[check.at("name").get<std::string>()] = check;
    }
    return outcome;
  }

  static test::ScratchDir* scratch_;
};
test::ScratchDir* SanityCommand::scratch_ = nullptr;

const std::set<std::string> kRequired{
    "trained_vs_zero_logits",   "params_finite_nonzero",          "fast_weight_reproducible",
    "fast_weight_input_dependent", "kv_stripped_generate",        "zero_conv_no_op",
    "training_form_equals_inference", "update_at_chunk_boundary", "frozen_state_no_leak"};

TEST_F(SanityCommand, LiveParametersPassEveryRequiredCheck) {
  const Outcome o = sanity(path("live.safetensors"), "live.json");
  ASSERT_EQ(o.result.exit_code, 0) << o.result.output;
  EXPECT_NE(o.result.output.find("sanity: 9/9 required checks passed"), std::string::npos)
      << o.result.output;
  EXPECT_EQ(o.result.output.find("[FAIL] trained"), std::string::npos);
  // The file: every check with its measured value, the relation and the threshold.
  EXPECT_EQ(o.json.at("passed"), true);
  EXPECT_EQ(o.json.at("ttt").at("config").at("ttt_chunk"), 8);
  ASSERT_EQ(o.checks.size(), kRequired.size() + 1) << o.json.dump(2);
  for (const auto& [name, check] : o.checks) {
    EXPECT_EQ(check.at("required").get<bool>(), kRequired.count(name) == 1) << name;
    if (check.at("required").get<bool>()) {
      EXPECT_TRUE(check.at("passed").get<bool>()) << check.dump(2);
    }
    EXPECT_TRUE(check.at("value").is_number()) << check.dump(2);
    EXPECT_TRUE(check.at("threshold").is_number()) << name;
    EXPECT_FALSE(check.at("relation").get<std::string>().empty()) << name;
    EXPECT_FALSE(check.at("details").empty()) << name;
  }
  // The graft really acts: the logits move far more than the threshold asks.
  EXPECT_GT(o.checks.at("trained_vs_zero_logits").at("value").get<double>(), 10.0 / 256);
  EXPECT_EQ(o.checks.at("fast_weight_reproducible").at("value").get<double>(), 0.0);
}

TEST_F(SanityCommand, ZeroConvFailsAndSaysWhy) {
  const auto zero = edited("zero_conv.safetensors", [](ttt::TTTParams& params) {
    for (auto& [layer, p] : params.layers) p.conv.zero_();
  });
  const Outcome o = sanity(zero, "zero.json");
  EXPECT_EQ(o.result.exit_code, 1) << o.result.output;
  EXPECT_NE(o.result.output.find("ttt_conv of layer 0 is all zero: the graft is an exact no-op"),
            std::string::npos)
      << o.result.output;
  EXPECT_NE(o.result.output.find("train it with train-minimal or pass --ttt CKPT"),
            std::string::npos);
  EXPECT_EQ(o.json.at("passed"), false);
  // Every check that needs a live graft fails on it; the contracts hold regardless.
  for (const char* name :
       {"trained_vs_zero_logits", "params_finite_nonzero", "fast_weight_reproducible",
        "fast_weight_input_dependent", "kv_stripped_generate", "update_at_chunk_boundary"})
    EXPECT_FALSE(o.checks.at(name).at("passed").get<bool>()) << name;
  for (const char* name :
       {"zero_conv_no_op", "training_form_equals_inference", "frozen_state_no_leak"})
    EXPECT_TRUE(o.checks.at(name).at("passed").get<bool>()) << o.checks.at(name).dump(2);
  EXPECT_EQ(o.checks.at("trained_vs_zero_logits").at("value").get<double>(), 0.0);
}

// A NaN in the checkpoint is refused when it loads, naming the tensor, before any check runs
// (params_finite_nonzero still guards parameters made in memory).
TEST_F(SanityCommand, NonFiniteParameterIsRefusedAtLoad) {
  const auto broken = edited("nan.safetensors", [](ttt::TTTParams& params) {
    params.layers.at(2).proj[3][5] = std::numeric_limits<float>::quiet_NaN();
  });
  const Outcome o = sanity(broken, "nan.json");
  EXPECT_EQ(o.result.exit_code, 1) << o.result.output;
  EXPECT_NE(o.result.output.find("model.layers.2.mlp.ttt_proj.weight has 1 non-finite values"),
            std::string::npos)
      << o.result.output;
  EXPECT_TRUE(o.checks.empty());
  EXPECT_FALSE(std::filesystem::exists(path("nan.json")));
}

TEST_F(SanityCommand, AModelWithoutTttIsAnError) {
  const auto r = test::run_tttmem("sanity --dtype fp32 --model '" + path("model").string() +
                                  "' --tokenizer '" +
                                  (test::source_dir() / "configs/tokenizers/qwen3").string() +
                                  "' --json '" + path("none.json").string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("the model runs without TTT"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(path("none.json")));
}

TEST_F(SanityCommand, AModelFolderWithoutTokenizerNamesTheFlag) {
  const auto r = test::run_tttmem("sanity --dtype fp32 --model '" + path("model").string() +
                                  "' --ttt '" + path("live.safetensors").string() +
                                  "' --ttt-layers 0,2 --ttt-chunk 8");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("give --tokenizer"), std::string::npos) << r.output;
}

// A value one ulp beside its threshold prints on its own side of it (with 6 digits 0.01 - 1 ulp
// showed as "0.01", a FAIL of ">= 0.01" that read as a pass); values clear of it keep 6 digits.
TEST(SanityFormat, ValuesBesideTheirThresholdPrintOnTheirSide) {
  for (const double threshold : {0.01, 1.0 / 256, 1e-5, 2e-2, 1e-3, 7742.0}) {
    const double below = std::nextafter(threshold, 0.0);
    const double above = std::nextafter(threshold, 1e300);
    const std::string shown_below = format_value(below, threshold);
    const std::string shown_above = format_value(above, threshold);
    EXPECT_LT(std::stod(shown_below), threshold) << shown_below;
    EXPECT_GT(std::stod(shown_above), threshold) << shown_above;
    EXPECT_EQ(std::stod(format_value(threshold, threshold)), threshold);
  }
  EXPECT_EQ(format_value(std::nextafter(0.01, 0.0), 0.01), "0.009999999999999998");
  EXPECT_EQ(format_value(0.00999, 0.01), "0.00999");
  EXPECT_EQ(format_value(0.0123456789, 0.01), "0.0123457");
  EXPECT_EQ(format_value(1.0000001e-5, 1e-5), "1.0000001e-05");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN(), 0.01), "nan");
}

}  // namespace
}  // namespace tttmem::experiment
