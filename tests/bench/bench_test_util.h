// What the benchmark-builder suites share: the shipped Qwen3 tokenizer, counting tokens as RULER
// and HELMET fitting count them (no special tokens added).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

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

}  // namespace tttmem::test
