// TTT-E2E on a GPU (plain libtorch, no kernel of its own): the inner loop and the meta-gradient,
// plain and checkpointed, in fp32 on CUDA against the float64 reference at the CPU suite's
// tolerances; in bf16, the ingestion's logits and weight updates within twice libtorch's own
// bf16 error on the CPU against the fp32 CPU oracle. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "e2e_reference.h"
#include "tensor_testing.h"

namespace tttmem::e2e {
namespace {

using test::rel_error;
using test::e2e_reference::Reference;
using test::e2e_reference::reference;

TEST(E2EGpu, MetaLearningInFp32MatchesTheReference) {
  SKIP_WITHOUT_CUDA();
  const Reference& r = reference();
  for (const std::int64_t steps : {1, 2})
    for (const bool checkpoint : {false, true}) {
      const std::string s = "s" + std::to_string(steps) + ".";
      auto model = r.model(at::kFloat, at::kCUDA);
      E2EParams theta = r.theta(at::kFloat, at::kCUDA);
      IngestOptions options;
      options.create_graph = true;
      options.checkpoint = checkpoint;
      const IngestResult result =
          ingest(*model, r.e2e(steps), E2EState::initial(theta, 2), r.ref("ids"), options);
      const std::string what = "steps " + std::to_string(steps) + (checkpoint ? ", checkpointed" : "");
      EXPECT_NEAR(result.outer_loss.item<double>(), r.ref(s + "outer_loss").item<double>(), 1e-5)
          << what;
      for (const auto& [layer, w] : result.state.weights)
        EXPECT_LT(rel_error(w.down.cpu(), r.ref(s + "w.2." + std::to_string(layer) + ".down")), 1e-4)
            << what << ", layer " << layer;
      result.outer_loss.backward();
      for (const auto& [layer, p] : theta.layers) {
        const std::string g = s + "grad." + std::to_string(layer) + ".";
        EXPECT_LT(rel_error(p.gate.grad().cpu(), r.ref(g + "gate")), 1e-4) << what << ", " << layer;
        EXPECT_LT(rel_error(p.up.grad().cpu(), r.ref(g + "up")), 1e-4) << what << ", " << layer;
        EXPECT_LT(rel_error(p.down.grad().cpu(), r.ref(g + "down")), 1e-4) << what << ", " << layer;
      }
    }
}

TEST(E2EGpu, Bf16IngestionStaysWithinTwiceTheCpuBf16Error) {
  SKIP_WITHOUT_CUDA();
  const Reference& r = reference();
  const E2EConfig config = r.e2e(1);
  // The logits, then each layer's update W - theta (theta itself is exact in every run).
  auto ingest_on = [&](at::ScalarType dtype, at::Device device) {
    auto model = r.model(dtype, device);
    const E2EParams theta = r.theta(at::kFloat, device);
    IngestOptions options;
    options.keep_logits = true;
    const IngestResult result = ingest(*model, config, E2EState::initial(theta, 2), r.ref("ids"), options);
    std::vector<at::Tensor> out{result.logits.cpu()};
    for (const auto& [layer, w] : result.state.weights) {
      const DynamicMlp& start = theta.layers.at(layer);
      for (const auto& [now, was] : {std::pair{w.gate, start.gate}, std::pair{w.up, start.up},
                                     std::pair{w.down, start.down}})
        out.push_back((now - was.detach()).cpu());
    }
    return out;
  };
  const auto oracle = ingest_on(at::kFloat, at::kCPU);
  const auto cpu_bf16 = ingest_on(at::kBFloat16, at::kCPU);
  const auto gpu_bf16 = ingest_on(at::kBFloat16, at::kCUDA);
  for (std::size_t k = 0; k < oracle.size(); ++k) {
    const double cpu_error = rel_error(cpu_bf16[k], oracle[k]);
    EXPECT_LE(rel_error(gpu_bf16[k], oracle[k]), 2 * cpu_error + 1e-6)
        << (k == 0 ? "logits" : "update " + std::to_string(k - 1)) << " (CPU bf16 " << cpu_error << ")";
  }
}

}  // namespace
}  // namespace tttmem::e2e
