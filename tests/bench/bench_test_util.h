// What the benchmark-builder suites share: the shipped Qwen3 tokenizer, counting tokens as RULER
// and HELMET fitting count them (no special tokens added), and the refused-flags check.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_support.h"
#include "tttmem/tokenizer.h"

namespace tttmem::test {

inline const std::string& qwen_dir() {
  static const std::string dir = (source_dir() / "configs" / "tokenizers" / "qwen3").string();
  return dir;
}

inline std::size_t qwen_tokens(std::string_view text) {
  static const auto tok = tokenizer::Tokenizer::load(qwen_dir());
  return tok->encode(text, false).size();
}

// Each `build-benchmark ARGS` fails, says its message and writes nothing to `out`.
inline void expect_build_benchmark_refuses(
    const std::vector<std::pair<std::string, std::string>>& cases,
    const std::filesystem::path& out) {
  for (const auto& [args, message] : cases) {
    const auto r = run_tttmem("build-benchmark " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(out)) << args;
  }
}

}  // namespace tttmem::test
