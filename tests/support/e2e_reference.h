// The TTT-E2E reference fixture (tests/python/make_e2e_reference.py, float64 PyTorch): its tiny
// Qwen3 model, config and tensors, for the CPU suite (tests/e2e) and the GPU one (tests/gpu).
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "test_support.h"
#include "tttmem/config.h"
#include "tttmem/e2e.h"
#include "tttmem/io.h"
#include "tttmem/model.h"
#include "tttmem/tensor_io.h"

namespace tttmem::test::e2e_reference {

using e2e::DynamicMlp;
using e2e::E2EConfig;
using e2e::E2EParams;

class Reference {
 public:
  Reference() {
    const auto dir = test::fixture("e2e_reference");
    config_ = ModelConfig::load(dir / "model" / "config.json");
    checkpoint_ = std::make_unique<io::Checkpoint>(io::Checkpoint::open(dir / "model"));
    const auto file = io::SafetensorsFile::open(dir / "reference.safetensors");
    for (const io::TensorView& view : file->tensors())
      tensors_[view.name] = io::load_tensor(view, at::kCPU, io::to_scalar_type(view.dtype));
  }
  const at::Tensor& ref(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) throw std::runtime_error("e2e_reference lacks " + name);
    return it->second;
  }
  const ModelConfig& config() const { return config_; }
  E2EConfig e2e(std::int64_t steps) const {
    E2EConfig config = E2EConfig::from_json(config_.raw, config_, "config.json");
    config.inner_steps = steps;
    return config;
  }
  std::unique_ptr<model::Decoder> model(at::ScalarType dtype = at::kFloat,
                                        at::Device device = at::kCPU) const {
    return std::make_unique<model::Decoder>(config_, *checkpoint_, device, dtype);
  }
  // theta as leaves that require grad, in `dtype` on `device`.
  E2EParams theta(at::ScalarType dtype, at::Device device = at::kCPU) const {
    E2EParams params;
    for (std::int64_t layer : e2e(1).layers) {
      const std::string p = "theta." + std::to_string(layer) + ".";
      auto leaf = [&](const char* name) {
        return ref(p + name).to(device, dtype).detach().requires_grad_(true);
      };
      params.layers[layer] = {leaf("gate"), leaf("up"), leaf("down")};
    }
    return params;
  }

 private:
  ModelConfig config_;
  std::unique_ptr<io::Checkpoint> checkpoint_;
  std::map<std::string, at::Tensor> tensors_;
};

inline const Reference& reference() {
  static const Reference instance;
  return instance;
}

}  // namespace tttmem::test::e2e_reference
