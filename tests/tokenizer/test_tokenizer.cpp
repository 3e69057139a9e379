// The tokenizer API, the Qwen3 chat template, and bad input (corrupt vocabulary files, invalid
// UTF-8, unknown ids): every failure is a TokenizerError naming what is wrong.
#include <gmock/gmock.h>

#include <fstream>

#include "tokenizer_test_util.h"

namespace tttmem::test {
namespace {

using ::testing::HasSubstr;
using tokenizer::TokenId;
using tokenizer::TokenizerError;

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// The message of the TokenizerError `f` throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const TokenizerError& e) {
    return e.what();
  }
  return "";
}

TEST(Tokenizer, QwenSpecialIdsAndVocabulary) {
  const auto& tok = qwen_tiktoken();
  EXPECT_EQ(tok.kind(), "tiktoken");
  EXPECT_EQ(tok.vocab_size(), 151669u);
  EXPECT_EQ(tok.added_tokens().size(), 26u);
  EXPECT_EQ(tok.eos_id(), tokenizer::kQwenImEnd);
  EXPECT_EQ(tok.token_to_id("<|im_end|>"), tokenizer::kQwenImEnd);
  EXPECT_EQ(tok.token_to_id("<|endoftext|>"), tokenizer::kQwenEndOfText);
  EXPECT_EQ(tok.token_to_id("<think>"), 151667);
  EXPECT_EQ(tok.id_to_token(151668), "</think>");
  EXPECT_EQ(tok.token_to_id("\n"), 198);  // the chat vectors' newline id
  EXPECT_EQ(tok.id_to_token(198), "\n");
  EXPECT_EQ(tok.token_to_id("not a token at all"), std::nullopt);
}

TEST(Tokenizer, AddedTokensAreTextWithoutAllowSpecial) {
  const auto& tok = qwen_tiktoken();
  EXPECT_EQ(tok.encode("<|im_end|>", true), std::vector<TokenId>{tokenizer::kQwenImEnd});
  const auto plain = tok.encode("<|im_end|>", false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(tok.decode(plain), "<|im_end|>");
}

TEST(Tokenizer, EncodeBatchEqualsEncodeInOrder) {
  const auto& tok = qwen_tiktoken();
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back("第" + std::to_string(i) + "个样本：张伟的预算是" + std::to_string(i * 7) + "万。");
  const auto batch = tok.encode_batch(texts, true, 4);
  ASSERT_EQ(batch.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i], tok.encode(texts[i], true));
}

TEST(ChatTemplate, MatchesTheQwen3ChatVectors) {
  std::ifstream in(committed_fixture("qwen3_chat_vectors.json"));
  const auto cases = nlohmann::json::parse(in).at("cases");
  ASSERT_EQ(cases.size(), 3u);
  using tokenizer::ChatMessage;
  const std::vector<std::string> rendered = {
      tokenizer::render_qwen3_chat({}, {.add_generation_prompt = true, .enable_thinking = false}),
      tokenizer::render_qwen3_chat(
          std::vector<ChatMessage>{{"system", "You are a helpful assistant."},
                                   {"user", "What is 2+2?"}},
          {.add_generation_prompt = true}),
      tokenizer::render_qwen3_chat(std::vector<ChatMessage>{{"user", "Hello"}},
                                   {.add_generation_prompt = true}),
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i].at("text");
    // The first vector is only the generation prompt with thinking off.
    EXPECT_EQ(rendered[i], text) << "case " << i;
    const auto ids = cases[i].at("ids").get<std::vector<TokenId>>();
    EXPECT_TRUE(same_ids(qwen_tiktoken(), text, ids, qwen_tiktoken().encode(text, true)));
    EXPECT_TRUE(same_ids(qwen_hf_json(), text, ids, qwen_hf_json().encode(text, true)));
  }
}

TEST(ChatTemplate, AssistantTurnsAndThinkBlocks) {
  using tokenizer::ChatMessage;
  const std::vector<ChatMessage> conversation = {
      {"user", "Q1"},
      {"assistant", "<think>\nfirst thoughts\n</think>\n\nA1"},
      {"user", "Q2"},
      {"assistant", "A2"},
  };
  // Earlier turns lose their reasoning; the final assistant turn after the last query gets an
  // empty think block (what training on no_robots sees, SPEC.md S2.6).
  EXPECT_EQ(tokenizer::render_qwen3_chat(conversation),
            "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
            "<|im_start|>user\nQ2<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\nA2<|im_end|>\n");
  // Reasoning after the last query is kept.
  const std::vector<ChatMessage> reasoning = {{"user", "Q"},
                                              {"assistant", "<think>\nwhy\n</think>\n\nA"}};
  EXPECT_EQ(tokenizer::render_qwen3_chat(reasoning),
            "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nwhy\n</think>\n\nA"
            "<|im_end|>\n");
  EXPECT_THAT(error_of([] {
                tokenizer::render_qwen3_chat(std::vector<ChatMessage>{{"tool", "x"}});
              }),
              HasSubstr("role 'tool'"));
}

TEST(TokenizerBadInput, InvalidUtf8IsRejectedWithItsByteOffset) {
  const auto& tok = qwen_tiktoken();
  for (const auto& [text, offset] : std::vector<std::pair<std::string, int>>{
           {"abc\xff", 3}, {"你好\xe4\xbd", 6}, {"\xc0\x80", 0}, {"ok\xed\xa0\x80", 2},
           {"\xf4\x90\x80\x80", 0}, {"a\x80" "b", 1}}) {
    EXPECT_THAT(error_of([&] { tok.encode(text, true); }),
                HasSubstr("not valid UTF-8 at byte offset " + std::to_string(offset)))
        << nlohmann::json(tokenizer::utf8_replace_invalid(text)).dump();
    EXPECT_EQ(tokenizer::find_invalid_utf8(text), offset);
  }
  EXPECT_EQ(tokenizer::find_invalid_utf8("张伟 😀 e\xcc\x81"), std::nullopt);
}

TEST(TokenizerBadInput, UnknownIdsAreRejected) {
  const auto& tok = qwen_tiktoken();
  for (TokenId id : {-1, 151669, 1 << 30}) {
    const std::vector<TokenId> ids{1, id};
    EXPECT_THAT(error_of([&] { tok.decode(ids); }),
                HasSubstr("token id " + std::to_string(id) + " is not in the vocabulary"));
  }
}

TEST(TokenizerBadInput, CorruptRanksFilesNameFileAndLine) {
  ScratchDir dir;
  const auto ranks = dir / "bad.tiktoken";
  tokenizer::LoadOptions options;
  options.added_tokens = qwen3_tokenizer("qwen3_added_tokens.json");
  auto load_error = [&](const std::string& text) {
    write(ranks, text);
    return error_of([&] { tokenizer::Tokenizer::load(ranks, options); });
  };
  EXPECT_THAT(error_of([&] { tokenizer::Tokenizer::load(dir / "missing.tiktoken"); }),
              HasSubstr("missing.tiktoken' does not exist"));
  EXPECT_THAT(load_error("IQ== 0\nIg== 1\nIw\n"), HasSubstr("line 3: expected '<base64 token> <rank>'"));
  EXPECT_THAT(load_error("IQ== 0\nI*== 1\n"), HasSubstr("line 2: the token is not valid base64"));
  EXPECT_THAT(load_error("IQ== 0\nIR== 1\n"), HasSubstr("line 2: the token is not valid base64"));
  EXPECT_THAT(load_error("IQ== 0\nIg== 0\n"), HasSubstr("line 2: rank 0 already given on line 1"));
  EXPECT_THAT(load_error("IQ== 0\nIQ== 1\n"), HasSubstr("line 2: the token's bytes are already listed"));
  EXPECT_THAT(load_error("IQ== -4\n"), HasSubstr("line 1: the rank '-4' is not a non-negative integer"));
  EXPECT_THAT(load_error("IQ== 1x\n"), HasSubstr("line 1: the rank '1x'"));
  EXPECT_THAT(load_error(""), HasSubstr("is empty"));
  // Well-formed but not byte-level: byte 0x00 has no token.
  EXPECT_THAT(load_error("IQ== 0\n"), HasSubstr("no token for the single byte 0x00"));
  // An added token whose id is already a rank.
  std::string all_bytes;
  const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int b = 0; b < 256; ++b)
    all_bytes += std::string{b64[b >> 2], b64[(b & 3) << 4], '=', '='} + " " + std::to_string(b) + "\n";
  write(dir / "clash.json", R"({"added_tokens": [{"id": 7, "content": "<x>", "special": true}]})");
  options.added_tokens = dir / "clash.json";
  EXPECT_THAT(load_error(all_bytes), HasSubstr("id 7 of '<x>' is already taken"));
  // The 256 bytes alone make a working byte-level tokenizer.
  write(dir / "ok.json", R"({"<x>": 300})");
  options.added_tokens = dir / "ok.json";
  write(ranks, all_bytes);
  const auto tok = tokenizer::Tokenizer::load(ranks, options);
  EXPECT_EQ(tok->encode("ab<x>", true), (std::vector<TokenId>{97, 98, 300}));
  EXPECT_EQ(tok->vocab_size(), 301u);
  EXPECT_THAT(error_of([&] { tok->decode(std::vector<TokenId>{299}); }), HasSubstr("token id 299"));
}

TEST(TokenizerBadInput, TokenizerJsonMergeNamingAnUnknownToken) {
  ScratchDir dir;
  std::ifstream in(fixture("qwen_from_ranks/tokenizer.json"));
  auto doc = nlohmann::json::parse(in);
  auto& merges = doc.at("model").at("merges");
  merges[5] = "Ġ qqqqqq";
  write(dir / "tokenizer.json", doc.dump());
  EXPECT_THAT(error_of([&] { tokenizer::Tokenizer::load(dir.path()); }),
              HasSubstr("model.merges[5] \"Ġ qqqqqq\" names a token not in model.vocab ('qqqqqq')"));
  write(dir / "tokenizer.json", "{\"model\": ");
  EXPECT_THAT(error_of([&] { tokenizer::Tokenizer::load(dir / "tokenizer.json"); }),
              HasSubstr("is not valid JSON"));
  write(dir / "tokenizer.json", R"({"model": {"type": "WordPiece"}})");
  EXPECT_THAT(error_of([&] { tokenizer::Tokenizer::load(dir / "tokenizer.json"); }),
              HasSubstr("model.type is \"WordPiece\", expected \"BPE\""));
}

}  // namespace
}  // namespace tttmem::test
