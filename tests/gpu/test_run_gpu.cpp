// The whole path on a GPU: the model, the TTT graft (with its CUDA conv kernel), the batch
// decoder and the engine run the `run` reference on CUDA; the memory objective trains there. fp32
// must give the reference's ids (as on the CPU); bf16 logits must stay within twice libtorch's
// own bf16 error on the CPU against the fp32 CPU oracle. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <sstream>
#include <string>

#include "run_reference.h"
#include "tensor_testing.h"
#include "tttmem/config.h"
#include "tttmem/model.h"
#include "tttmem/ttt.h"

namespace tttmem {
namespace {

namespace fs = std::filesystem;
using test::run_reference::expect_condition_matches;
using test::run_reference::run_args;

TEST(RunGpu, SeedProtocolInFp32EqualsTheReference) {
  SKIP_WITHOUT_CUDA();
  const fs::path dir = test::fixture("run_reference");
  test::ScratchDir scratch;
  for (const std::string batch : {"1", "16"}) {
    const fs::path out = scratch / ("batch" + batch);
    const auto result =
        test::run_tttmem(run_args(dir, "all", out, "cuda") + " --batch-size " + batch);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    for (const std::string condition : {"a", "b", "c", "d"})
      expect_condition_matches(dir / ("expected_" + condition + ".jsonl"), out, condition);
  }
}

TEST(RunGpu, FixedProtocolMemoryConditionsInFp32EqualTheReference) {
  SKIP_WITHOUT_CUDA();
  const fs::path dir = test::fixture("run_reference");
  test::ScratchDir scratch;
  for (const std::string condition : {"b", "d"}) {
    const fs::path out = scratch / condition;
    const auto result =
        test::run_tttmem(run_args(dir, condition, out, "cuda") + " --protocol fixed --limit 1");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    expect_condition_matches(dir / ("expected_fixed_" + condition + ".jsonl"), out, condition);
  }
}

// Logits of one TTT stream (prefill across chunk boundaries, then cached steps) in bf16 on CUDA
// against the fp32 CPU oracle, next to libtorch's own bf16 on the CPU.
TEST(RunGpu, Bf16LogitsStayWithinTwiceTheCpuBf16Error) {
  SKIP_WITHOUT_CUDA();
  const fs::path dir = test::fixture("run_reference") / "model";
  const ModelConfig config = ModelConfig::load(dir / "config.json");
  const io::Checkpoint checkpoint = io::Checkpoint::open(dir);
  const ttt::TTTConfig ttt_config = ttt::TTTConfig::from_json(config.raw, config, "config.json");
  at::manual_seed(5);
  const at::Tensor ids = at::randint(0, 151000, {2, 3 * ttt_config.chunk + 5}, at::kLong);
  const c10::InferenceMode inference;
  auto logits = [&](const at::Device& device, at::ScalarType dtype) {
    model::Decoder model(config, checkpoint, device, dtype);
    const ttt::TTTParams params = ttt::TTTParams::load(checkpoint, ttt_config, config, device, dtype);
    ttt::TTTRows rows(2);
    ttt::Graft graft(ttt_config, params, rows);
    model::ForwardOptions options;
    options.mlp_override = &graft;
    model::KVCache cache = model.make_cache(2, ids.size(1));
    const std::int64_t prefill = ids.size(1) - 3;
    std::vector<at::Tensor> out{model.forward(ids.narrow(1, 0, prefill), cache, options)};
    for (std::int64_t i = prefill; i < ids.size(1); ++i)
      out.push_back(model.forward(ids.narrow(1, i, 1), cache, options));
    return at::cat(out, 1).to(at::kCPU, at::kDouble);
  };
  const at::Tensor oracle = logits(at::kCPU, at::kFloat);
  const double scale = oracle.abs().max().item<double>();
  const double cpu_bf16 = (logits(at::kCPU, at::kBFloat16) - oracle).abs().max().item<double>();
  const double gpu_bf16 = (logits(at::kCUDA, at::kBFloat16) - oracle).abs().max().item<double>();
  const double gpu_fp32 = (logits(at::kCUDA, at::kFloat) - oracle).abs().max().item<double>();
  EXPECT_LE(gpu_bf16, 2 * cpu_bf16) << "CPU bf16 error " << cpu_bf16 << ", scale " << scale;
  EXPECT_LE(gpu_fp32, 1e-4 * scale) << "scale " << scale;
}

// The memory objective's training steps on CUDA equal the CPU's in fp32.
TEST(RunGpu, MemoryObjectiveStepsEqualTheCpusInFp32) {
  SKIP_WITHOUT_CUDA();
  const fs::path dir = test::fixture("run_reference");
  test::ScratchDir scratch;
  auto losses = [&](const std::string& device) {
    const fs::path out = scratch / device;
    const auto result = test::run_tttmem(
        "--dtype fp32 --device " + device + " train-minimal --model '" + (dir / "model").string() +
        "' --tokenizer '" + (test::source_dir() / "configs" / "tokenizers" / "qwen3").string() +
        "' --memory-data '" + (dir / "benchmark.json").string() +
        "' --objective memory --steps 3 --batch-size 2 --grad-accum 1 --lr 1e-3 --out '" +
        out.string() + "'");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    std::vector<double> out_losses;
    std::istringstream lines(io::read_file(out / "metrics.jsonl"));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) out_losses.push_back(nlohmann::json::parse(line).at("memory_loss"));
    return out_losses;
  };
  const std::vector<double> cpu = losses("cpu"), gpu = losses("cuda");
  ASSERT_EQ(cpu.size(), 3u);
  ASSERT_EQ(gpu.size(), cpu.size());
  for (std::size_t i = 0; i < cpu.size(); ++i)
    EXPECT_NEAR(gpu[i], cpu[i], 1e-4 * std::abs(cpu[i])) << "step " << i + 1;
}

}  // namespace
}  // namespace tttmem
