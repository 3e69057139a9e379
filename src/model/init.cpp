// HF-like random initialisation of any family's checkpoint, and the CLI's device and dtype.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <stdexcept>

#include "tttmem/model.h"

namespace tttmem::model {

std::int64_t TensorSpec::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

namespace {

at::ScalarType checkpoint_dtype(const ModelConfig& config) {
  if (config.torch_dtype == "bfloat16") return at::kBFloat16;
  if (config.torch_dtype == "float16") return at::kHalf;
  if (config.torch_dtype == "float32") return at::kFloat;
  throw std::invalid_argument("config torch_dtype '" + config.torch_dtype +
                              "': expected bfloat16, float16 or float32");
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> init_weights(const ModelConfig& config,
                                                             std::uint64_t seed) {
  const at::ScalarType dtype = checkpoint_dtype(config);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const TensorSpec& spec : tensor_specs(config)) {
    at::Tensor t = spec.init == Init::ones    ? at::ones(spec.shape, at::kFloat)
                   : spec.init == Init::zeros ? at::zeros(spec.shape, at::kFloat)
                                              : at::normal(0.0, config.initializer_range, spec.shape, generator);
    tensors.emplace_back(spec.name, t.to(dtype));
  }
  return tensors;
}

at::Device parse_device(const std::string& name) {
  if (name == "cpu") return at::Device(at::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!at::hasCUDA())
      throw std::runtime_error("--device " + name + ": this machine or build has no CUDA device");
    return at::Device(name);
  }
  throw std::invalid_argument("--device '" + name + "': expected cpu, cuda or cuda:N");
}

at::ScalarType parse_compute_dtype(const std::string& name, const at::Device& device) {
  if (name == "auto") return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (name == "bf16") return at::kBFloat16;
  if (name == "fp16") return at::kHalf;
  if (name == "fp32") return at::kFloat;
  throw std::invalid_argument("--dtype '" + name + "': expected auto, bf16, fp16 or fp32");
}

}  // namespace tttmem::model
