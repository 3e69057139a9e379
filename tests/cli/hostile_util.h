// Helpers for the hostile-input suites (issue 9): a tiny model config, special files, and the
// checks every bad input must pass (exit code, message).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace tttmem::test {

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A Qwen3 config small enough that init-model and forward take milliseconds.
inline std::string tiny_config_json(int max_position_embeddings = 64) {
  return R"({"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "vocab_size": 64,
  "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
  "num_key_value_heads": 1, "head_dim": 8, "max_position_embeddings": )" +
         std::to_string(max_position_embeddings) + R"(, "torch_dtype": "float32"})";
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A checkpoint folder made by `tttmem init-model` from tiny_config_json().
inline std::filesystem::path make_tiny_model(const ScratchDir& dir) {
  write_text(dir / "tiny.json", tiny_config_json());
  const auto model = dir / "model";
  const CommandResult r = run_tttmem("init-model --config '" + (dir / "tiny.json").string() +
                                     "' --out '" + model.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return model;
}

// A .tiktoken file with the 256 single bytes as ranks 0..255: a byte-level tokenizer.
inline std::filesystem::path write_byte_ranks(const std::filesystem::path& path) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string text;
  for (int b = 0; b < 256; ++b)
    text += std::string{kAlphabet[b >> 2], kAlphabet[(b & 3) << 4], '=', '='} + " " +
            std::to_string(b) + "\n";
  write_text(path, text);
  return path;
}

inline std::filesystem::path make_fifo(const std::filesystem::path& path) {
  EXPECT_EQ(::mkfifo(path.c_str(), 0644), 0) << path;
  return path;
}

// `tttmem ARGS` under a time limit: a hang ends as exit 124 instead of stalling the suite.
inline CommandResult run_tttmem_within(int seconds, const std::string& args) {
  return run_command("timeout " + std::to_string(seconds) + " '" TTTMEM_BINARY "' " + args);
}

// What a refused input must end with: the exit code (1 runtime, 2 usage) and message parts.
struct Expect {
  int exit_code;
  std::vector<std::string> message_has;
};

inline void expect_failure(const CommandResult& r, const Expect& e, const std::string& what) {
  EXPECT_EQ(r.exit_code, e.exit_code) << what << "\n" << r.output;
  for (const auto& part : e.message_has) EXPECT_TRUE(contains(r.output, part)) << what << "\n" << r.output;
  EXPECT_FALSE(contains(r.output, "terminate called")) << what << "\n" << r.output;
}

}  // namespace tttmem::test
