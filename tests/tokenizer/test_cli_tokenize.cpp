// `tttmem tokenize` through the binary: every tokenizer kind, --special, --decode, --lines.
#include <gmock/gmock.h>

#include <fstream>

#include "tokenizer_test_util.h"

namespace tttmem::test {
namespace {

using ::testing::HasSubstr;

std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

TEST(TokenizeCommand, EncodesWithTiktokenAndFindsTheAddedTokensNextToIt) {
  // qwen.tiktoken sits next to qwen3_added_tokens.json: no --added-tokens needed.
  const auto r = run_tttmem("tokenize --tokenizer " + quoted(qwen3_tokenizer("qwen.tiktoken")) +
                            " --special --text '<|im_start|>user\nHello<|im_end|>'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "151644,872,198,9707,151645\n");
  const auto plain = run_tttmem("tokenize --tokenizer " + quoted(qwen3_tokenizer("qwen.tiktoken")) +
                                " --text '<|im_end|>'");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_THAT(plain.output, ::testing::Not(HasSubstr("151645")));
}

TEST(TokenizeCommand, LinesFileAndDecodeRoundTrip) {
  ScratchDir dir;
  const std::vector<std::string> lines = {"A：你好，邱阳，最近怎么样？", "预算150万。", "e\xcc\x81 'LL 😀"};
  std::ofstream(dir / "in.txt") << lines[0] << "\n" << lines[1] << "\r\n" << lines[2] << "\n";
  const auto r = run_tttmem("tokenize --tokenizer " + quoted(fixture("qwen_from_ranks")) +
                            " --file " + quoted(dir / "in.txt") + " --lines");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string expected, decoded_expected;
  for (const auto& line : lines) {
    const auto ids = qwen_hf_json().encode(line, false);
    for (std::size_t i = 0; i < ids.size(); ++i) expected += (i ? "," : "") + std::to_string(ids[i]);
    expected += "\n";
    decoded_expected += qwen_hf_json().decode(ids) + "\n";
  }
  EXPECT_EQ(r.output, expected);
  std::ofstream(dir / "ids.txt") << r.output;
  const auto back = run_tttmem("tokenize --tokenizer " + quoted(fixture("qwen_from_ranks/tokenizer.json")) +
                               " --decode --lines --file " + quoted(dir / "ids.txt"));
  ASSERT_EQ(back.exit_code, 0) << back.output;
  EXPECT_EQ(back.output, decoded_expected);  // the HF path normalizes e + U+0301 to U+00E9
  EXPECT_THAT(back.output, HasSubstr("\xc3\xa9 'LL"));
}

TEST(TokenizeCommand, ErrorsNameTheProblem) {
  const std::string tok = " --tokenizer " + quoted(qwen3_tokenizer("qwen.tiktoken"));
  auto r = run_tttmem("tokenize" + tok);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("give --text or --file"));
  r = run_tttmem("tokenize" + tok + " --text a --file b");
  EXPECT_EQ(r.exit_code, 2);
  r = run_tttmem("tokenize" + tok + " --decode --text '12,x3'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("'x3' is not a token id"));
  ScratchDir dir;
  std::ofstream(dir / "bad.txt", std::ios::binary) << "bad \xff byte";
  r = run_tttmem("tokenize" + tok + " --file " + quoted(dir / "bad.txt"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("not valid UTF-8 at byte offset 4"));
  r = run_tttmem("tokenize --tokenizer /nonexistent/x.tiktoken --text a");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("'/nonexistent/x.tiktoken' does not exist"));
}

}  // namespace
}  // namespace tttmem::test
