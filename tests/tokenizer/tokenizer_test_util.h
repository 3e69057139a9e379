// Helpers for the tokenizer suites: the Qwen3 tokenizers (loaded once) and the fixture cases.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "test_support.h"
#include "tttmem/tokenizer.h"

namespace tttmem::test {

// qwen.tiktoken + qwen3_added_tokens.json.
inline const tokenizer::Tokenizer& qwen_tiktoken() {
  static const auto tok = [] {
    tokenizer::LoadOptions options;
    options.added_tokens = qwen3_tokenizer("qwen3_added_tokens.json");
    return tokenizer::Tokenizer::load(qwen3_tokenizer("qwen.tiktoken"), options);
  }();
  return *tok;
}

// The tokenizer.json the fixture script converted from the ranks.
inline const tokenizer::Tokenizer& qwen_hf_json() {
  static const auto tok = tokenizer::Tokenizer::load(fixture("qwen_from_ranks/tokenizer.json"));
  return *tok;
}

inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing fixture " + path.string() +
                                    " (run ctest, which makes it with the oracle script)");
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// "ids differ at index i: expected ... got ..." with the tokens around the first difference.
inline ::testing::AssertionResult same_ids(const tokenizer::Tokenizer& tok, const std::string& text,
                                           const std::vector<tokenizer::TokenId>& expected,
                                           const std::vector<tokenizer::TokenId>& got) {
  if (expected == got) return ::testing::AssertionSuccess();
  std::size_t i = 0;
  while (i < expected.size() && i < got.size() && expected[i] == got[i]) ++i;
  auto around = [&](const std::vector<tokenizer::TokenId>& ids) {
    nlohmann::json pieces = nlohmann::json::array();
    for (std::size_t k = i >= 2 ? i - 2 : 0; k < std::min(ids.size(), i + 3); ++k)
      pieces.push_back(std::to_string(ids[k]) + ":" +
                       tokenizer::utf8_replace_invalid(tok.id_to_token(ids[k])));
    return pieces.dump();
  };
  return ::testing::AssertionFailure()
         << "text " << nlohmann::json(text).dump() << "\nids differ at index " << i << " (expected "
         << expected.size() << " ids, got " << got.size() << ")\nexpected around it: "
         << around(expected) << "\ngot around it:      " << around(got);
}

}  // namespace tttmem::test
