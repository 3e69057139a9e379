// The Gemma3 decoder on a GPU against transformers' Gemma3ForCausalLM (the model suite's
// reference fixture, made on the CPU): fp32 logits within the CPU's bound of the logit scale,
// bf16 within twice transformers' own bf16 error, on both attention paths, sequences longer
// than the sliding window included. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include "../model/model_test_util.h"
#include "tensor_testing.h"

namespace tttmem::test {
namespace {

using Gemma3Gpu = ReferenceTestOf<gemma3_reference>;

nlohmann::json gemma3_meta() {
  return nlohmann::json::parse(io::read_file(gemma3_reference("reference.json")));
}

TEST_F(Gemma3Gpu, Fp32LogitsMatchTransformersOnBothAttentionPaths) {
  SKIP_WITHOUT_CUDA();
  const at::Device cuda(at::kCUDA, 0);
  for (model::Attention attention : {model::Attention::sdpa, model::Attention::math}) {
    LoadedModel m(gemma3_reference("model"), at::kFloat, attention, cuda);
    for (const char* name : {"short", "medium", "long"}) {
      const at::Tensor ids = ref(std::string(name) + ".ids").unsqueeze(0).to(cuda);
      const at::Tensor logits = m.model.forward(ids)[0].cpu();
      EXPECT_LE(rel_error(logits, ref(std::string(name) + ".logits")), 1e-4)
          << name << " attention " << static_cast<int>(attention);
    }
  }
}

TEST_F(Gemma3Gpu, Bf16ErrorWithinTwiceTransformersOwn) {
  SKIP_WITHOUT_CUDA();
  expect_bf16_within_twice_transformers(gemma3_reference("model"), gemma3_meta(), ref,
                                        at::Device(at::kCUDA, 0));
}

}  // namespace
}  // namespace tttmem::test
