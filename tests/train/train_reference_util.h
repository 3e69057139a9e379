// The output folder of a Python training reference (tests/python/make_train_reference.py,
// make_memory_reference.py): model/ (config.json with the ttt_* fields + safetensors),
// reference.safetensors (the expected tensors) and its metadata (the optimizer's settings).
#pragma once
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "test_support.h"
#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/tensor_io.h"
#include "tttmem/train.h"

namespace tttmem::train::test_util {

class ReferenceFixture {
 public:
  explicit ReferenceFixture(const std::string& name) : name_(name) {
    const auto dir = test::fixture(name);
    config_ = ModelConfig::load(dir / "model" / "config.json");
    checkpoint_ = std::make_unique<io::Checkpoint>(io::Checkpoint::open(dir / "model"));
    const auto file = io::SafetensorsFile::open(dir / "reference.safetensors");
    meta_ = file->metadata();
    for (const io::TensorView& view : file->tensors())
      reference_[view.name] = io::load_tensor(view, at::kCPU, io::to_scalar_type(view.dtype));
  }
  const at::Tensor& ref(const std::string& name) const {
    const auto it = reference_.find(name);
    if (it == reference_.end()) throw std::runtime_error(name_ + " lacks " + name);
    return it->second;
  }
  double meta(const std::string& key) const { return std::stod(meta_.at(key)); }
  const ModelConfig& config() const { return config_; }
  ttt::TTTConfig ttt_config() const {
    return ttt::TTTConfig::from_json(config_.raw, config_, "config.json");
  }
  ttt::TTTParams ttt_params() const {
    return ttt::TTTParams::load(*checkpoint_, ttt_config(), config_, at::kCPU, at::kFloat);
  }
  std::unique_ptr<model::Decoder> model() const {
    return std::make_unique<model::Decoder>(config_, *checkpoint_, at::kCPU, at::kFloat);
  }
  // The reference run's trainer options: the case's set, checkpointing and form, its
  // micro-batches per step and the optimizer settings from the metadata.
  TrainerOptions trainer_options(Trainable set, bool checkpointing, TttForm form,
                                 std::int64_t grad_accum) const {
    TrainerOptions options;
    options.trainable = set;
    options.grad_checkpointing = checkpointing;
    options.ttt_form = form;
    options.grad_accum = grad_accum;
    options.optimizer.lr = meta("lr");
    options.optimizer.beta1 = meta("beta1");
    options.optimizer.beta2 = meta("beta2");
    options.optimizer.eps = meta("eps");
    options.optimizer.weight_decay = meta("weight_decay");
    options.optimizer.clip = meta("clip");
    return options;
  }
  std::unique_ptr<Trainer> trainer(model::Decoder& model, const TrainerOptions& options) const {
    return std::make_unique<Trainer>(model, ttt_config(), ttt_params(), options);
  }

 private:
  std::string name_;
  ModelConfig config_;
  std::unique_ptr<io::Checkpoint> checkpoint_;
  std::map<std::string, std::string> meta_;
  std::map<std::string, at::Tensor> reference_;
};

}  // namespace tttmem::train::test_util
