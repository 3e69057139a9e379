// Token-for-token identity with the reference tokenizers on every benchmark text and thousands
// of random Unicode strings (ids from tests/python/make_tokenizer_reference.py: the pip tiktoken
// package, and the pip tokenizers package on a tokenizer.json converted from the same ranks).
#include <map>

#include "tokenizer_test_util.h"

namespace tttmem::test {
namespace {

using tokenizer::TokenId;

const std::vector<nlohmann::json>& cases() {
  static const auto all = read_jsonl(fixture("tokenizer_reference.jsonl"));
  return all;
}

TEST(TokenizerReference, CoversEveryBenchmarkTextKindAndRandomStrings) {
  std::map<std::string, int> kinds;
  for (const auto& c : cases()) ++kinds[c.at("kind").get<std::string>()];
  for (const char* kind : {"conversation", "distractor", "ingest_d", "fact", "question", "gold",
                           "prompt_with_conversation", "prompt_without_conversation"})
    EXPECT_GT(kinds[kind], 0) << kind;
  EXPECT_GE(kinds["random"], 3000);
  EXPECT_GT(kinds["long"], 0);
}

TEST(TokenizerReference, TiktokenIdsMatchOnEveryCase) {
  const auto& tok = qwen_tiktoken();
  for (const auto& c : cases()) {
    const std::string text = c.at("text");
    ASSERT_TRUE(same_ids(tok, text, c.at("ids").get<std::vector<TokenId>>(), tok.encode(text, true)))
        << "kind " << c.at("kind");
    if (c.contains("ordinary")) {
      ASSERT_TRUE(same_ids(tok, text, c.at("ordinary").get<std::vector<TokenId>>(),
                           tok.encode(text, false)))
          << "allow_special=false (tiktoken encode_ordinary)";
    }
  }
}

TEST(TokenizerReference, DecodeRoundTripsEveryCase) {
  const auto& tok = qwen_tiktoken();
  for (const auto& c : cases()) {
    const std::string text = c.at("text");
    ASSERT_EQ(tok.decode_bytes(c.at("ids").get<std::vector<TokenId>>()), text);
    ASSERT_EQ(tok.decode(tok.encode(text, false)), text);
  }
}

TEST(TokenizerReference, HuggingFaceJsonIdsMatchTokenizersOnEveryCase) {
  const auto& tok = qwen_hf_json();
  EXPECT_EQ(tok.kind(), "huggingface");
  EXPECT_EQ(tok.vocab_size(), qwen_tiktoken().vocab_size());
  int differs_from_tiktoken = 0;
  for (const auto& c : cases()) {
    const std::string text = c.at("text");
    const auto hf = c.at("hf").get<std::vector<TokenId>>();
    ASSERT_TRUE(same_ids(tok, text, hf, tok.encode(text, true))) << "kind " << c.at("kind");
    if (hf != c.at("ids").get<std::vector<TokenId>>()) {
      // Only NFC separates the two: the text must change under NFC and encode like its NFC form.
      ++differs_from_tiktoken;
      const std::string normalized = tokenizer::nfc(text);
      ASSERT_NE(normalized, text);
      ASSERT_EQ(qwen_tiktoken().encode(normalized, true), hf) << nlohmann::json(text).dump();
    }
  }
  EXPECT_GT(differs_from_tiktoken, 0) << "the random strings should exercise NFC";
}

TEST(TokenizerReference, DecodeReplacesBrokenUtf8LikePython) {
  const auto& tok = qwen_tiktoken();
  for (const auto& c : read_jsonl(fixture("tokenizer_decode.jsonl"))) {
    const auto ids = c.at("ids").get<std::vector<TokenId>>();
    const std::string expected = c.at("text");
    ASSERT_EQ(tok.decode(ids), expected) << c.dump();
    // Streaming the same ids gives the same text, and every chunk is whole characters.
    tokenizer::StreamDecoder stream(tok);
    std::string streamed;
    for (TokenId id : ids) {
      const std::string chunk = stream.push(id);
      ASSERT_FALSE(tokenizer::find_invalid_utf8(chunk).has_value()) << c.dump();
      streamed += chunk;
    }
    streamed += stream.finish();
    ASSERT_EQ(streamed, expected) << c.dump();
  }
}

TEST(TokenizerReference, StreamingWholeConversationsNeverSplitsACharacter) {
  const auto& tok = qwen_tiktoken();
  for (const auto& c : cases()) {
    if (c.at("kind") != "conversation") continue;
    tokenizer::StreamDecoder stream(tok);
    std::string streamed;
    for (TokenId id : c.at("ids").get<std::vector<TokenId>>()) {
      const std::string chunk = stream.push(id);
      ASSERT_FALSE(tokenizer::find_invalid_utf8(chunk).has_value());
      streamed += chunk;
    }
    EXPECT_EQ(stream.finish(), "");
    ASSERT_EQ(streamed, c.at("text").get<std::string>());
  }
  // A rare CJK character is split over byte tokens: nothing comes out until it is whole.
  const std::string rare = "\xF0\xA0\x80\x80";  // U+20000
  const auto ids = tok.encode(rare, false);
  ASSERT_GT(ids.size(), 1u);
  tokenizer::StreamDecoder stream(tok);
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_EQ(stream.push(ids[i]), "");
  EXPECT_EQ(stream.push(ids.back()), rare);
}

TEST(TokenizerReference, SeedPromptBuildersGiveTheReferenceTexts) {
  std::map<std::string, std::vector<TokenId>> by_text;
  for (const auto& c : cases()) by_text[c.at("text")] = c.at("ids").get<std::vector<TokenId>>();
  std::ifstream in(published_benchmark());
  const auto doc = nlohmann::json::parse(in);
  int checked = 0;
  for (const auto& s : doc.at("samples")) {
    for (const auto& p : s.at("probes")) {
      for (const std::string& prompt :
           {tokenizer::seed_prompt_with_conversation(s.at("conversation").get<std::string>(),
                                                     p.at("question").get<std::string>()),
            tokenizer::seed_prompt_without_conversation(p.at("question").get<std::string>())}) {
        const auto it = by_text.find(prompt);
        ASSERT_NE(it, by_text.end()) << "prompt not among the reference texts: " << prompt;
        ASSERT_EQ(qwen_tiktoken().encode(prompt, false), it->second);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 2 * 2617);
  int code_points = 0;  // SPEC.md S2.7 gives the system prompt's length: 33 code points
  for (char ch : tokenizer::kSeedSystemPrompt) code_points += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  EXPECT_EQ(code_points, 33);
}

}  // namespace
}  // namespace tttmem::test
