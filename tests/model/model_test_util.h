// Helpers shared by the model suites: the transformers reference fixture and error measures.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "tensor_testing.h"
#include "test_support.h"
#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/model.h"
#include "tttmem/tensor_io.h"

namespace tttmem::test {

inline std::filesystem::path qwen3_reference(const std::string& name = "") {
  return fixture("qwen3_reference") / name;
}

inline std::filesystem::path gemma3_reference(const std::string& name = "") {
  return fixture("gemma3_reference") / name;
}

inline std::map<std::string, at::Tensor> load_reference(
    const std::filesystem::path& file = qwen3_reference("reference.safetensors")) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, tensor] : io::load_tensors(file, at::Device(at::kCPU))) out[name] = tensor;
  return out;
}

inline nlohmann::json reference_meta() {
  return nlohmann::json::parse(io::read_file(qwen3_reference("reference.json")));
}

// A suite comparing against a family's transformers reference, read once per suite.
template <std::filesystem::path (*Dir)(const std::string&)>
class ReferenceTestOf : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reference_ = new std::map<std::string, at::Tensor>(load_reference(Dir("reference.safetensors")));
  }
  static void TearDownTestSuite() { delete reference_; }
  static const at::Tensor& ref(const std::string& name) { return reference_->at(name); }
  c10::InferenceMode inference_;
  static inline std::map<std::string, at::Tensor>* reference_ = nullptr;
};
using ReferenceTest = ReferenceTestOf<qwen3_reference>;

// A loaded reference model and its checkpoint (the model's tensors may view the mapped file).
struct LoadedModel {
  ModelConfig config;
  io::Checkpoint checkpoint;
  model::Decoder model;
  LoadedModel(const std::filesystem::path& dir, at::ScalarType dtype,
              model::Attention attention = model::Attention::sdpa,
              at::Device device = at::Device(at::kCPU))
      : config(ModelConfig::load(dir)),
        checkpoint(io::Checkpoint::open(dir)),
        model(config, checkpoint, device, dtype, attention) {}
};

// A sharded copy of a reference model (transformers' max_shard_size split) gives the logits of
// the single file bit for bit.
inline void expect_sharded_checkpoint_equal(const std::filesystem::path& single_dir,
                                            const std::filesystem::path& sharded_dir,
                                            const at::Tensor& ids) {
  LoadedModel single(single_dir, at::kFloat);
  LoadedModel sharded(sharded_dir, at::kFloat);
  ASSERT_GT(sharded.checkpoint.shards().size(), 2u);
  EXPECT_TRUE(at::equal(single.model.forward(ids), sharded.model.forward(ids)));
}

// The sequences short, medium and long of a reference fixture through the model at `dir` in
// bf16 on `device`, on both attention paths: the error against transformers' fp32 logits (on the
// CPU) must stay within twice transformers' own bf16 error on the CPU (its reference.json
// `hf_bf16_rel_err`). Each error is recorded as a test property.
template <class Ref>
void expect_bf16_within_twice_transformers(const std::filesystem::path& dir,
                                           const nlohmann::json& meta, const Ref& ref,
                                           at::Device device = at::Device(at::kCPU)) {
  for (model::Attention attention : {model::Attention::sdpa, model::Attention::math}) {
    LoadedModel m(dir, at::kBFloat16, attention, device);
    for (const char* name : {"short", "medium", "long"}) {
      const at::Tensor ids = ref(std::string(name) + ".ids").unsqueeze(0).to(device);
      const at::Tensor logits = m.model.forward(ids)[0].cpu();
      ASSERT_EQ(logits.scalar_type(), at::kBFloat16);
      const double ours = rel_error(logits, ref(std::string(name) + ".logits"));
      const double theirs = meta.at("hf_bf16_rel_err").at(name).template get<double>();
      EXPECT_LE(ours, 2.0 * theirs) << name << " attention " << static_cast<int>(attention)
                                    << ": ours " << ours << ", transformers " << theirs;
      ::testing::Test::RecordProperty(std::string("bf16_rel_err_") + name, std::to_string(ours));
    }
  }
}

}  // namespace tttmem::test
