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
  std::string model_type;                 // "qwen3" | "gemma3_text"
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
  std::string hidden_act = "silu";        // gemma3_text: hidden_activation, gelu_pytorch_tanh
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;  // config.json allows an int or a list
  std::optional<std::int64_t> pad_token_id;
  std::string torch_dtype = "bfloat16";
  double initializer_range = 0.02;
  // Sliding-window attention, read as transformers' Qwen3Config reads it: the window counts only
  // when use_sliding_window is true (then 4096 when the field is absent, none when null), and
  // layer_types says which layers use it; absent, the layers from max_window_layers on do.
  bool use_sliding_window = false;
  std::optional<std::int64_t> sliding_window;  // set only when use_sliding_window
  std::int64_t max_window_layers = 28;
  std::vector<std::string> layer_types;        // full_attention | sliding_attention, per layer
  // gemma3_text only (transformers' Gemma3TextConfig): scores scale by query_pre_attn_scalar^-0.5;
  // sliding layers take RoPE base rope_local_base_freq, full layers rope_theta divided by a
  // linear rope_scaling factor; logits soft-capped when set. (attn_logit_softcapping is refused:
  // transformers' Gemma3 attention never applies it, so a config that sets it is ambiguous.)
  double query_pre_attn_scalar = 0;
  double rope_local_base_freq = 10000.0;
  double rope_linear_factor = 1.0;
  std::optional<double> final_logit_softcapping;
  nlohmann::json raw;  // the whole file, for fields other modules own (ttt_*)

  // Throws std::runtime_error naming `source` and the field: missing, wrong type, or
  // inconsistent (e.g. heads % kv_heads != 0, unsupported hidden_act or rope_scaling).
  static ModelConfig from_json(const nlohmann::json& json, const std::string& source);
  // `path` is config.json or a directory holding it.
  static ModelConfig load(const std::filesystem::path& path);
  nlohmann::json to_json() const;  // HF field names; round-trips through from_json
  // Each layer's attention window in tokens, itself included (0: full attention).
  std::vector<std::int64_t> attention_windows() const;
};

}  // namespace tttmem
