// Model configuration: Hugging Face config.json as a typed struct (torch-free).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tttmem {

struct ModelConfig {
  std::string model_type;                 // "qwen3" (gemma3 later)
  std::vector<std::string> architectures;
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  std::string hidden_act = "silu";
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;  // config.json allows an int or a list
  std::optional<std::int64_t> pad_token_id;
  std::string torch_dtype = "bfloat16";
  double initializer_range = 0.02;
  nlohmann::json raw;  // the whole file, for fields other modules own (ttt_*)

  // Throws std::runtime_error naming `source` and the field: missing, wrong type, or
  // inconsistent (e.g. heads % kv_heads != 0, unsupported hidden_act or rope_scaling).
  static ModelConfig from_json(const nlohmann::json& json, const std::string& source);
  // `path` is config.json or a directory holding it.
  static ModelConfig load(const std::filesystem::path& path);
  nlohmann::json to_json() const;  // HF field names; round-trips through from_json
};

}  // namespace tttmem
