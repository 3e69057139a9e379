// `tttmem info` on checkpoints this test writes: text and JSON summaries, and errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"
#include "tttmem/io.h"

namespace tttmem::test {
namespace {

// A checkpoint with two dtypes in three shards and a small Qwen3 config.
struct Model {
  ScratchDir dir;
  std::vector<std::byte> buf = std::vector<std::byte>(4096);
  std::vector<io::TensorBytes> tensors{
      {"model.embed_tokens.weight", io::DType::BF16, {32, 16}, buf.data(), 1024},
      {"model.layers.0.mlp.up_proj.weight", io::DType::BF16, {24, 16}, buf.data(), 768},
      {"model.layers.0.input_layernorm.weight", io::DType::F32, {16}, buf.data(), 64},
      {"model.norm.weight", io::DType::F32, {16}, buf.data(), 64},
      {"lm_head.weight", io::DType::BF16, {32, 16}, buf.data(), 1024}};
  Model() {
    io::write_checkpoint(dir.path(), tensors, 3);
    const nlohmann::json config = {
        {"model_type", "qwen3"}, {"architectures", {"Qwen3ForCausalLM"}}, {"vocab_size", 32},
        {"hidden_size", 16}, {"intermediate_size", 24}, {"num_hidden_layers", 1},
        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 8},
        {"tie_word_embeddings", false}, {"rope_theta", 1000000.0}};
    io::atomic_write_file(dir / "config.json", config.dump());
  }
};

TEST(Info, JsonSummary) {
  const Model m;
  const CommandResult r = run_tttmem("info --json --model '" + m.dir.path().string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["tensors"], 5);
  EXPECT_EQ(j["total_bytes"], 1024 + 768 + 64 + 64 + 1024);
  EXPECT_EQ(j["dtypes"]["BF16"]["tensors"], 3);
  EXPECT_EQ(j["dtypes"]["BF16"]["bytes"], 1024 + 768 + 1024);
  EXPECT_EQ(j["dtypes"]["F32"]["tensors"], 2);
  EXPECT_EQ(j["dtypes"]["F32"]["bytes"], 128);
  ASSERT_EQ(j["shards"].size(), 3u);
  // The shard of each tensor, per the index the writer produced.
  const auto index = nlohmann::json::parse(io::read_file(m.dir / "model.safetensors.index.json"));
  for (const auto& shard : j["shards"]) {
    int count = 0;
    std::uint64_t bytes = 0;
    for (const auto& t : m.tensors)
      if (index["weight_map"][t.name] == shard["file"]) ++count, bytes += t.nbytes;
    EXPECT_EQ(shard["tensors"], count) << shard;
    EXPECT_EQ(shard["bytes"], bytes) << shard;
  }
  EXPECT_EQ(j["config"]["model_type"], "qwen3");
  EXPECT_EQ(j["config"]["num_hidden_layers"], 1);
  EXPECT_EQ(j["config"]["num_key_value_heads"], 2);
  EXPECT_EQ(j["config"]["head_dim"], 8);
  EXPECT_EQ(j["config"]["tie_word_embeddings"], false);
}

TEST(Info, TextSummary) {
  const Model m;
  const CommandResult r = run_tttmem("info --model '" + m.dir.path().string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* part : {"config:   qwen3 Qwen3ForCausalLM", "layers 1, hidden 16, heads 4 / kv heads 2, head_dim 8",
                           "intermediate 24, vocab 32", "tensors:  5", "(2944 bytes)", "BF16: 3 tensors",
                           "F32: 2 tensors", "shards:   3", "model-00001-of-00003.safetensors"})
    EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;
}

TEST(Info, SingleFileWithoutConfig) {
  const Model m;
  const auto file = m.dir / "model-00001-of-00003.safetensors";
  const CommandResult r = run_tttmem("info --json --model '" + file.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_TRUE(j["config"].is_null());
  EXPECT_EQ(j["shards"].size(), 1u);
}

TEST(Info, BadCheckpointIsARuntimeErrorNamingTheFile) {
  const Model m;
  std::filesystem::resize_file(m.dir / "model-00002-of-00003.safetensors", 20);
  const CommandResult r = run_tttmem("info --model '" + m.dir.path().string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("model-00002-of-00003.safetensors"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tttmem::test
