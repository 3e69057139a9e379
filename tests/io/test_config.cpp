// config.json parsing: the real Qwen3-8B config, HF defaults, and every rejection.
#include <gtest/gtest.h>

#include <fstream>

#include "io_test_util.h"
#include "test_support.h"
#include "tttmem/config.h"

namespace tttmem::test {
namespace {

using nlohmann::json;

json qwen3_8b() {
  return json::parse(io::read_file(source_dir() / "configs/models/qwen3-8b.json"));
}

std::string config_error(const json& j) {
  try {
    ModelConfig::from_json(j, "cfg/config.json");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an error for " << j.dump();
  return {};
}

TEST(Config, LoadsQwen3_8B) {
  const ModelConfig c = ModelConfig::load(source_dir() / "configs/models/qwen3-8b.json");
  EXPECT_EQ(c.model_type, "qwen3");
  EXPECT_EQ(c.architectures, std::vector<std::string>{"Qwen3ForCausalLM"});
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 12288);
  EXPECT_EQ(c.num_hidden_layers, 36);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.max_position_embeddings, 40960);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.bos_token_id, 151643);
  EXPECT_EQ(c.eos_token_ids, std::vector<std::int64_t>{151645});
  EXPECT_FALSE(c.pad_token_id.has_value());
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.raw["max_window_layers"], 36);  // other fields stay reachable
}

TEST(Config, LoadsFromAFolderAndRoundTrips) {
  ScratchDir dir;
  io::atomic_write_file(dir / "config.json", qwen3_8b().dump());
  const ModelConfig c = ModelConfig::load(dir.path());
  const ModelConfig again = ModelConfig::from_json(c.to_json(), "round trip");
  EXPECT_EQ(again.to_json(), c.to_json());
  EXPECT_EQ(again.head_dim, 128);
  EXPECT_EQ(again.eos_token_ids, c.eos_token_ids);
}

TEST(Config, DefaultsForOptionalFields) {
  json j = qwen3_8b();
  for (const char* f : {"head_dim", "num_key_value_heads", "rope_theta", "eos_token_id", "torch_dtype"}) j.erase(f);
  const ModelConfig c = ModelConfig::from_json(j, "x");
  EXPECT_EQ(c.head_dim, 4096 / 32);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_TRUE(c.eos_token_ids.empty());
  j["dtype"] = "float32";  // the newer transformers spelling
  EXPECT_EQ(ModelConfig::from_json(j, "x").torch_dtype, "float32");
}

TEST(Config, HeadDimIndependentOfHiddenSize) {
  json j = qwen3_8b();  // Qwen3-0.6B shape: 16 heads x 128 != hidden 1024
  j["hidden_size"] = 1024;
  j["num_attention_heads"] = 16;
  EXPECT_EQ(ModelConfig::from_json(j, "x").head_dim, 128);
}

TEST(Config, EosTokenIdList) {
  json j = qwen3_8b();
  j["eos_token_id"] = {151645, 151643};
  EXPECT_EQ(ModelConfig::from_json(j, "x").eos_token_ids, (std::vector<std::int64_t>{151645, 151643}));
  j["eos_token_id"] = {151645, "x"};
  EXPECT_CONTAINS(config_error(j), "field 'eos_token_id'");
}

TEST(Config, MissingRequiredFields) {
  for (const char* f : {"model_type", "vocab_size", "hidden_size", "intermediate_size",
                        "num_hidden_layers", "num_attention_heads"}) {
    json j = qwen3_8b();
    j.erase(f);
    const std::string msg = config_error(j);
    EXPECT_CONTAINS(msg, "cfg/config.json: field '" + std::string(f) + "': missing");
  }
}

TEST(Config, WrongTypes) {
  const std::vector<std::pair<std::string, json>> cases{
      {"hidden_size", "4096"}, {"num_hidden_layers", 36.5}, {"rope_theta", "big"},
      {"tie_word_embeddings", 0}, {"hidden_act", 1}, {"architectures", "Qwen3ForCausalLM"}};
  for (const auto& [field, value] : cases) {
    json j = qwen3_8b();
    j[field] = value;
    EXPECT_CONTAINS(config_error(j), "cfg/config.json: field '" + field + "'");
  }
}

TEST(Config, NonPositiveSizes) {
  for (const char* f : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "num_key_value_heads", "head_dim"}) {
    json j = qwen3_8b();
    j[f] = 0;
    EXPECT_CONTAINS(config_error(j), "field '" + std::string(f) + "': expected a positive integer");
    j[f] = -4;
    EXPECT_CONTAINS(config_error(j), "field '" + std::string(f) + "'");
  }
}

TEST(Config, InconsistentHeads) {
  json j = qwen3_8b();
  j["num_key_value_heads"] = 5;
  EXPECT_CONTAINS(config_error(j), "num_attention_heads (32) must be a multiple of num_key_value_heads (5)");
  j = qwen3_8b();
  j.erase("head_dim");
  j["hidden_size"] = 4100;
  EXPECT_CONTAINS(config_error(j), "field 'head_dim': missing and hidden_size (4100) is not divisible");
  j = qwen3_8b();
  j["head_dim"] = 127;
  EXPECT_CONTAINS(config_error(j), "field 'head_dim': must be even");
}

TEST(Config, UnsupportedFeatures) {
  json j = qwen3_8b();
  j["hidden_act"] = "gelu";
  EXPECT_CONTAINS(config_error(j), "field 'hidden_act': unsupported activation 'gelu'");
  j = qwen3_8b();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_CONTAINS(config_error(j), "field 'rope_scaling': unsupported rope scaling (supported: none)");
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};  // Gemma3's, not Qwen3's
  EXPECT_CONTAINS(config_error(j), "field 'rope_scaling': unsupported rope scaling");
  j = qwen3_8b();
  j["model_type"] = "llama";
  EXPECT_CONTAINS(config_error(j), "field 'model_type': unsupported model type 'llama'");
  j = qwen3_8b();
  j["layer_types"] = json::array();
  for (int i = 0; i < 36; ++i) j["layer_types"].push_back("chunked_attention");
  EXPECT_CONTAINS(config_error(j), "field 'layer_types': unsupported layer type \"chunked_attention\"");
  j = qwen3_8b();
  j["torch_dtype"] = "int8";
  EXPECT_CONTAINS(config_error(j), "field 'torch_dtype'");
  EXPECT_CONTAINS(config_error(json::array()), "cfg/config.json: config must be a JSON object");
}

// transformers' Gemma3TextConfig: its defaults (tied head, window 4096, pattern 6, the token ids),
// hidden_activation, and what this implementation refuses.
TEST(Config, Gemma3TextAsTransformersReadsIt) {
  const json minimal = {{"model_type", "gemma3_text"}, {"vocab_size", 262144},
                        {"hidden_size", 1152}, {"intermediate_size", 6912},
                        {"num_hidden_layers", 26}, {"num_attention_heads", 4},
                        {"num_key_value_heads", 1}};
  ModelConfig c = ModelConfig::from_json(minimal, "gemma");
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.query_pre_attn_scalar, 256);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.rope_local_base_freq, 1e4);
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
  EXPECT_EQ(c.bos_token_id, 2);
  EXPECT_EQ(c.eos_token_ids, std::vector<std::int64_t>{1});
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_FALSE(c.final_logit_softcapping);
  std::vector<std::int64_t> windows(26, 4096);
  for (int full : {5, 11, 17, 23}) windows[full] = 0;  // (i + 1) % 6 == 0
  EXPECT_EQ(c.attention_windows(), windows);
  json j = minimal;
  j["sliding_window"] = 512;
  j["sliding_window_pattern"] = 2;
  c = ModelConfig::from_json(j, "gemma");
  EXPECT_EQ(c.attention_windows()[0], 512);
  EXPECT_EQ(c.attention_windows()[1], 0);
  const json written = c.to_json();
  EXPECT_EQ(written.at("hidden_activation"), "gelu_pytorch_tanh");
  EXPECT_FALSE(written.contains("hidden_act"));
  EXPECT_EQ(ModelConfig::from_json(written, "round trip").to_json(), written);

  j = minimal;
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  EXPECT_EQ(ModelConfig::from_json(j, "gemma").rope_linear_factor, 8.0);
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 8.0}};
  EXPECT_CONTAINS(config_error(j), "field 'rope_scaling': unsupported rope scaling (supported: "
                                   "none, default, linear with factor >= 1)");
  j = minimal;
  j["hidden_activation"] = "gelu";
  EXPECT_CONTAINS(config_error(j), "field 'hidden_activation': unsupported activation 'gelu'");
  j = minimal;
  j["attn_logit_softcapping"] = 50.0;
  EXPECT_CONTAINS(config_error(j), "field 'attn_logit_softcapping': transformers' Gemma3 attention");
  j = minimal;
  j["use_bidirectional_attention"] = true;
  EXPECT_CONTAINS(config_error(j), "field 'use_bidirectional_attention'");
  j = minimal;
  j["model_type"] = "gemma3";
  EXPECT_CONTAINS(config_error(j), "'gemma3' is the multimodal Gemma3 config");
}

// transformers' Qwen3Config: sliding_window only under use_sliding_window (4096 when absent, none
// when null); layer_types, when absent, slides the layers from max_window_layers on.
TEST(Config, SlidingWindowAsQwen3ConfigReadsIt) {
  json j = qwen3_8b();  // use_sliding_window false, sliding_window null, max_window_layers 36
  ModelConfig c = ModelConfig::from_json(j, "8b");
  EXPECT_FALSE(c.sliding_window.has_value());
  EXPECT_EQ(c.attention_windows(), std::vector<std::int64_t>(36, 0));
  j["sliding_window"] = 512;  // ignored without use_sliding_window, as in transformers
  EXPECT_EQ(ModelConfig::from_json(j, "8b").attention_windows(), std::vector<std::int64_t>(36, 0));

  j["use_sliding_window"] = true;
  j["max_window_layers"] = 30;
  c = ModelConfig::from_json(j, "8b");
  std::vector<std::int64_t> expected(36, 0);
  std::fill(expected.begin() + 30, expected.end(), 512);
  EXPECT_EQ(c.attention_windows(), expected);
  EXPECT_EQ(c.layer_types[29], "full_attention");
  EXPECT_EQ(c.layer_types[30], "sliding_attention");
  const ModelConfig again = ModelConfig::from_json(c.to_json(), "round trip");
  EXPECT_EQ(again.attention_windows(), expected);
  EXPECT_EQ(again.to_json(), c.to_json());

  j.erase("sliding_window");
  EXPECT_EQ(ModelConfig::from_json(j, "8b").sliding_window, 4096);
  j["sliding_window"] = nullptr;
  EXPECT_EQ(ModelConfig::from_json(j, "8b").attention_windows(), std::vector<std::int64_t>(36, 0));

  j["sliding_window"] = 64;
  j["layer_types"] = json::array();
  for (int i = 0; i < 36; ++i) j["layer_types"].push_back(i % 2 ? "sliding_attention" : "full_attention");
  c = ModelConfig::from_json(j, "8b");  // explicit layer_types win over max_window_layers
  EXPECT_EQ(c.attention_windows()[0], 0);
  EXPECT_EQ(c.attention_windows()[1], 64);
  EXPECT_EQ(c.attention_windows()[35], 64);

  j["use_sliding_window"] = false;
  EXPECT_CONTAINS(config_error(j), "field 'layer_types': names sliding_attention layers, but no "
                                   "sliding window is set");
  j["use_sliding_window"] = true;
  j["layer_types"].erase(0);
  EXPECT_CONTAINS(config_error(j), "field 'layer_types': expected a list of 36 strings");
  j.erase("layer_types");
  j["sliding_window"] = 0;
  EXPECT_CONTAINS(config_error(j), "field 'sliding_window': expected a positive integer");
  j["sliding_window"] = 64;
  j["max_window_layers"] = -1;
  EXPECT_CONTAINS(config_error(j), "field 'max_window_layers'");
}

TEST(Config, FileErrorsNameTheFile) {
  ScratchDir dir;
  std::ofstream(dir / "config.json") << R"({"model_type": "qwen3", "model_type": "qwen3"})";
  std::string msg = io_error_of([&] { ModelConfig::load(dir.path()); });
  EXPECT_CONTAINS(msg, (dir / "config.json").string());
  EXPECT_CONTAINS(msg, "duplicate key 'model_type'");
  std::ofstream(dir / "config.json") << "{nope";
  EXPECT_CONTAINS(io_error_of([&] { ModelConfig::load(dir.path()); }), "invalid JSON");
  EXPECT_CONTAINS(io_error_of([&] { ModelConfig::load(dir / "missing.json"); }), "missing.json");
}

}  // namespace
}  // namespace tttmem::test
