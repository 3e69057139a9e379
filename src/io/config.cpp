// config.json -> ModelConfig. Optional fields take the defaults transformers' Qwen3Config or
// Gemma3TextConfig uses; anything this implementation cannot run (other activations, other rope
// scalings, other attention layer types) is rejected rather than silently ignored.
#include <algorithm>
#include <filesystem>

#include "json_strict.h"
#include "tttmem/config.h"
#include "tttmem/io.h"

namespace tttmem {

namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(const json& j, const std::string& source) : j_(j), source_(source) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw io::IoError(source_ + ": field '" + field + "': " + what);
  }
  const json* find(const std::string& field) const {
    const auto it = j_.find(field);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  const json& need(const std::string& field) const {
    const json* v = find(field);
    if (!v) fail(field, "missing (required)");
    return *v;
  }
  std::int64_t integer(const json& v, const std::string& field) const {
    if (!v.is_number_integer()) fail(field, "expected an integer, got " + v.dump());
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
      fail(field, "integer out of range: " + v.dump());
    return v.get<std::int64_t>();
  }
  std::int64_t positive(const std::string& field) const {
    const std::int64_t v = integer(need(field), field);
    if (v <= 0) fail(field, "expected a positive integer, got " + std::to_string(v));
    return v;
  }
  std::int64_t positive_or(const std::string& field, std::int64_t fallback) const {
    return find(field) ? positive(field) : fallback;
  }
  // A size that is checked before anything is allocated from it (SPEC.md, "Input limits").
  std::int64_t size(const std::string& field, std::int64_t limit) const {
    return at_most(field, positive(field), limit);
  }
  std::int64_t size_or(const std::string& field, std::int64_t fallback, std::int64_t limit) const {
    return at_most(field, positive_or(field, fallback), limit);
  }
  std::int64_t at_most(const std::string& field, std::int64_t v, std::int64_t limit) const {
    if (v > limit)
      fail(field, std::to_string(v) + " is beyond the supported maximum of " + std::to_string(limit));
    return v;
  }
  double positive_real_or(const std::string& field, double fallback) const {
    const json* v = find(field);
    if (!v) return fallback;
    if (!v->is_number()) fail(field, "expected a number, got " + v->dump());
    const double d = v->get<double>();
    if (!(d > 0)) fail(field, "expected a positive number, got " + v->dump());
    return d;
  }
  bool boolean_or(const std::string& field, bool fallback) const {
    const json* v = find(field);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(field, "expected true or false, got " + v->dump());
    return v->get<bool>();
  }
  std::string string_or(const std::string& field, const std::string& fallback) const {
    const json* v = find(field);
    if (!v) return fallback;
    if (!v->is_string()) fail(field, "expected a string, got " + v->dump());
    return v->get<std::string>();
  }
  std::optional<std::int64_t> token_or_none(const std::string& field) const {
    const json* v = find(field);
    if (!v) return std::nullopt;
    return integer(*v, field);
  }

 private:
  const json& j_;
  const std::string& source_;
};

}  // namespace

ModelConfig ModelConfig::from_json(const json& j, const std::string& source) {
  if (!j.is_object()) throw io::IoError(source + ": config must be a JSON object");
  const Reader r(j, source);
  ModelConfig c;
  c.raw = j;
  c.model_type = r.string_or("model_type", "");
  if (c.model_type.empty()) r.fail("model_type", "missing (required)");
  if (c.model_type == "gemma3")
    r.fail("model_type", "'gemma3' is the multimodal Gemma3 config; give the text model's "
                         "(model_type gemma3_text, architectures Gemma3ForCausalLM)");
  if (c.model_type != "qwen3" && c.model_type != "gemma3_text")
    r.fail("model_type", "unsupported model type '" + c.model_type +
                             "' (supported: qwen3, gemma3_text)");
  const bool gemma = c.model_type == "gemma3_text";
  if (const json* a = r.find("architectures")) {
    if (!a->is_array()) r.fail("architectures", "expected a list of strings");
    for (const auto& s : *a) {
      if (!s.is_string()) r.fail("architectures", "expected a list of strings, got " + a->dump());
      c.architectures.push_back(s.get<std::string>());
    }
  }
  // Far above every published model (Qwen3-8B: 151936, 4096, 12288, 36, 32, 128, 40960), far
  // below what would exhaust memory before the checkpoint's shapes are compared.
  c.vocab_size = r.size("vocab_size", 1 << 22);
  c.hidden_size = r.size("hidden_size", 1 << 17);
  c.intermediate_size = r.size("intermediate_size", 1 << 19);
  c.num_hidden_layers = r.size("num_hidden_layers", 1024);
  c.num_attention_heads = r.size("num_attention_heads", 1024);
  c.num_key_value_heads = r.size_or("num_key_value_heads", c.num_attention_heads, 1024);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    r.fail("num_key_value_heads", "num_attention_heads (" + std::to_string(c.num_attention_heads) +
                                      ") must be a multiple of num_key_value_heads (" +
                                      std::to_string(c.num_key_value_heads) + ")");
  // Qwen3 decouples head_dim from hidden_size / heads (e.g. Qwen3-0.6B: 16 x 128 != 1024), so
  // only its absence falls back to the quotient, which must then be exact.
  if (r.find("head_dim") || gemma) {
    c.head_dim = r.size_or("head_dim", 256, 4096);  // Gemma3TextConfig's default
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      r.fail("head_dim", "missing and hidden_size (" + std::to_string(c.hidden_size) +
                             ") is not divisible by num_attention_heads (" +
                             std::to_string(c.num_attention_heads) + ")");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0)
    r.fail("head_dim", "must be even for rotary embeddings, got " + std::to_string(c.head_dim));
  c.max_position_embeddings = r.size_or("max_position_embeddings", gemma ? 131072 : 32768, 1 << 24);
  c.rms_norm_eps = r.positive_real_or("rms_norm_eps", 1e-6);
  c.rope_theta = r.positive_real_or("rope_theta", gemma ? 1e6 : 10000.0);
  c.tie_word_embeddings = r.boolean_or("tie_word_embeddings", gemma);
  c.attention_bias = r.boolean_or("attention_bias", false);
  if (c.attention_bias) r.fail("attention_bias", "attention biases are not supported");
  const std::string act_field = gemma ? "hidden_activation" : "hidden_act";
  const std::string act = gemma ? "gelu_pytorch_tanh" : "silu";
  c.hidden_act = r.string_or(act_field, act);
  if (c.hidden_act != act)
    r.fail(act_field, "unsupported activation '" + c.hidden_act + "' (supported: " + act + ")");
  if (gemma) {
    c.query_pre_attn_scalar = r.positive_real_or("query_pre_attn_scalar", 256);
    c.rope_local_base_freq = r.positive_real_or("rope_local_base_freq", 10000.0);
    if (const json* cap = r.find("attn_logit_softcapping"))
      r.fail("attn_logit_softcapping", "transformers' Gemma3 attention does not apply it, so "
                                       "what it should mean is unclear; expected null, got " +
                                           cap->dump());
    if (r.find("final_logit_softcapping"))
      c.final_logit_softcapping = r.positive_real_or("final_logit_softcapping", 0);
    if (r.boolean_or("use_bidirectional_attention", false))
      r.fail("use_bidirectional_attention", "bidirectional attention is not supported");
  }
  // Gemma3's 4B+ scale the full layers' RoPE linearly (the sliding layers keep theirs).
  if (const json* rs = r.find("rope_scaling")) {
    const std::string type = rs->is_object() ? rs->value("rope_type", rs->value("type", "")) : "";
    if (gemma && type == "linear" && rs->contains("factor") && (*rs)["factor"].is_number() &&
        (*rs)["factor"].get<double>() >= 1.0)
      c.rope_linear_factor = (*rs)["factor"].get<double>();
    else if (!(gemma && type == "default"))
      r.fail("rope_scaling", std::string("unsupported rope scaling (supported: ") +
                                 (gemma ? "none, default, linear with factor >= 1" : "none") +
                                 "), got " + rs->dump());
  }
  // Qwen3Config: sliding_window = sliding_window if use_sliding_window else None, the keyword's
  // default 4096 applying only when the field is absent (an explicit null means no window).
  // Gemma3TextConfig: every config has a window (4096 when absent) and layer_types defaults to
  // the sliding_window_pattern (6): layer i is full when (i + 1) % pattern == 0.
  c.use_sliding_window = gemma || r.boolean_or("use_sliding_window", false);
  if (gemma) {
    c.sliding_window = r.size_or("sliding_window", 4096, 1 << 24);
  } else if (c.use_sliding_window) {
    if (!j.contains("sliding_window")) c.sliding_window = 4096;
    else if (r.find("sliding_window")) c.sliding_window = r.size("sliding_window", 1 << 24);
  }
  if (const json* m = r.find("max_window_layers")) {
    c.max_window_layers = r.integer(*m, "max_window_layers");
    if (c.max_window_layers < 0)
      r.fail("max_window_layers", "expected an integer >= 0, got " + m->dump());
  }
  if (const json* types = r.find("layer_types")) {
    if (!types->is_array() || types->size() != static_cast<std::size_t>(c.num_hidden_layers))
      r.fail("layer_types", "expected a list of " + std::to_string(c.num_hidden_layers) +
                                " strings (one per layer), got " + types->dump());
    for (const auto& t : *types) {
      if (!t.is_string() || (t != "full_attention" && t != "sliding_attention"))
        r.fail("layer_types", "unsupported layer type " + t.dump() +
                                  " (supported: full_attention, sliding_attention)");
      c.layer_types.push_back(t.get<std::string>());
    }
  } else if (gemma) {
    const std::int64_t pattern = r.positive_or("sliding_window_pattern", 6);
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      c.layer_types.push_back((i + 1) % pattern != 0 ? "sliding_attention" : "full_attention");
  } else {
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      c.layer_types.push_back(c.sliding_window && i >= c.max_window_layers ? "sliding_attention"
                                                                           : "full_attention");
  }
  // transformers fails at the first forward here (create_sliding_window_causal_mask).
  if (!c.sliding_window &&
      std::count(c.layer_types.begin(), c.layer_types.end(), "sliding_attention") > 0)
    r.fail("layer_types", "names sliding_attention layers, but no sliding window is set "
                          "(use_sliding_window false or sliding_window null)");
  c.bos_token_id = r.token_or_none("bos_token_id");
  if (gemma && !j.contains("bos_token_id")) c.bos_token_id = 2;  // Gemma3TextConfig's defaults
  if (gemma && !j.contains("eos_token_id")) c.eos_token_ids = {1};
  if (const json* eos = r.find("eos_token_id")) {
    if (eos->is_array()) {
      for (const auto& id : *eos) c.eos_token_ids.push_back(r.integer(id, "eos_token_id"));
    } else {
      c.eos_token_ids.push_back(r.integer(*eos, "eos_token_id"));
    }
  }
  c.pad_token_id = r.token_or_none("pad_token_id");
  if (gemma && !j.contains("pad_token_id")) c.pad_token_id = 0;
  // transformers >= 4.56 writes "dtype"; older files say "torch_dtype".
  c.torch_dtype = r.string_or("torch_dtype", r.string_or("dtype", "bfloat16"));
  if (c.torch_dtype != "bfloat16" && c.torch_dtype != "float16" && c.torch_dtype != "float32")
    r.fail(r.find("torch_dtype") ? "torch_dtype" : "dtype",
           "expected bfloat16, float16 or float32, got '" + c.torch_dtype + "'");
  c.initializer_range = r.positive_real_or("initializer_range", 0.02);
  return c;
}

ModelConfig ModelConfig::load(const std::filesystem::path& path) {
  if (path.extension() == ".safetensors")
    throw io::IoError(path.string() + ": is a .safetensors file; expected a model folder holding "
                      "config.json (or the config.json file itself)");
  const auto file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  return from_json(io::parse_json_strict(io::read_file(file), file.string()), file.string());
}

json ModelConfig::to_json() const {
  json j = raw.is_object() ? raw : json::object();
  j["model_type"] = model_type;
  j["architectures"] = architectures;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["attention_bias"] = attention_bias;
  const bool gemma = model_type == "gemma3_text";
  j[gemma ? "hidden_activation" : "hidden_act"] = hidden_act;
  j["bos_token_id"] = bos_token_id ? json(*bos_token_id) : json(nullptr);
  j["eos_token_id"] = eos_token_ids.size() == 1 ? json(eos_token_ids[0]) : json(eos_token_ids);
  j["pad_token_id"] = pad_token_id ? json(*pad_token_id) : json(nullptr);
  j["torch_dtype"] = torch_dtype;
  j.erase("dtype");
  j["initializer_range"] = initializer_range;
  j["sliding_window"] = sliding_window ? json(*sliding_window) : json(nullptr);
  if (gemma) {
    j["query_pre_attn_scalar"] = query_pre_attn_scalar;
    j["rope_local_base_freq"] = rope_local_base_freq;
    j["rope_scaling"] = rope_linear_factor != 1.0
                            ? json{{"rope_type", "linear"}, {"factor", rope_linear_factor}}
                            : json(nullptr);
    j["attn_logit_softcapping"] = nullptr;
    j["final_logit_softcapping"] = final_logit_softcapping ? json(*final_logit_softcapping) : json(nullptr);
  } else {
    j["use_sliding_window"] = use_sliding_window;
    j["max_window_layers"] = max_window_layers;
  }
  json types = json::array();
  for (std::int64_t window : attention_windows())
    types.push_back(window > 0 ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
  return j;
}

std::vector<std::int64_t> ModelConfig::attention_windows() const {
  // A config made in code may leave layer_types empty: every layer attends fully.
  std::vector<std::int64_t> windows(static_cast<std::size_t>(num_hidden_layers), 0);
  for (std::size_t i = 0; i < layer_types.size() && i < windows.size(); ++i)
    if (layer_types[i] == "sliding_attention") windows[i] = sliding_window.value_or(0);
  return windows;
}

}  // namespace tttmem
