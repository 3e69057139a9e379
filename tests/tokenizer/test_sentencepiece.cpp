// The sentencepiece backend against the reference spm_encode/spm_decode binaries (Debian package
// `sentencepiece`) on a tiny BPE model trained at test time with spm_train.
#include <gmock/gmock.h>

#include <fstream>
#include <sstream>

#include "tokenizer_test_util.h"

namespace tttmem::test {
namespace {

using tokenizer::TokenId;

bool have(const std::string& tool) {
  return run_command("command -v " + tool + " >/dev/null").exit_code == 0;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class SentencePiece : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"spm_train", "spm_encode", "spm_decode"})
      if (!have(tool)) GTEST_SKIP() << tool << " not installed (Debian package sentencepiece)";
    std::ifstream in(published_benchmark());
    const auto doc = nlohmann::json::parse(in);
    std::ofstream corpus(dir_ / "corpus.txt");
    for (std::size_t i = 0; i < doc.at("samples").size(); i += 3) {
      const auto& s = doc.at("samples")[i];
      corpus << s.at("conversation").get<std::string>() << "\n";
      if (i % 2 == 0) test_lines_.push_back(lines_of(s.at("conversation"))[1]);
    }
    corpus << "The quick brown fox jumps over the lazy dog.\nIt's 9 o'clock, isn't it?\n";
    corpus.close();
    // Unseen characters exercise byte fallback; the identity rule keeps text unnormalized.
    test_lines_.insert(test_lines_.end(), {"Hello world, it's 2026!", "  two  spaces  ",
                                           "emoji 😀 and 𠀀 rare", "预算150万 </s> <unk>"});
    const auto train = run_command(
        "spm_train --input=" + (dir_ / "corpus.txt").string() + " --model_prefix=" +
        (dir_ / "m").string() + " --vocab_size=1000 --model_type=bpe --character_coverage=0.98 "
        "--byte_fallback=true --normalization_rule_name=identity --num_threads=1 --minloglevel=2");
    ASSERT_EQ(train.exit_code, 0) << train.output;
    std::ofstream test(dir_ / "test.txt");
    for (const auto& line : test_lines_) test << line << "\n";
  }

  ScratchDir dir_;
  std::vector<std::string> test_lines_;
};

TEST_F(SentencePiece, IdsMatchSpmEncodeAndTextMatchesSpmDecode) {
  const auto tok = tokenizer::Tokenizer::load(dir_ / "m.model");
  EXPECT_EQ(tok->kind(), "sentencepiece");
  EXPECT_EQ(tok->vocab_size(), 1000u);
  const auto model = (dir_ / "m.model").string();
  const auto encoded = run_command("spm_encode --model=" + model + " --output_format=id < " +
                                   (dir_ / "test.txt").string() + " 2>/dev/null");
  ASSERT_EQ(encoded.exit_code, 0) << encoded.output;
  const auto expected_lines = lines_of(encoded.output);
  ASSERT_EQ(expected_lines.size(), test_lines_.size());
  std::ofstream ids_file(dir_ / "ids.txt");
  for (std::size_t i = 0; i < test_lines_.size(); ++i) {
    std::vector<TokenId> expected;
    std::istringstream in(expected_lines[i]);
    for (TokenId id; in >> id;) expected.push_back(id);
    const auto ids = tok->encode(test_lines_[i], false);
    EXPECT_TRUE(same_ids(*tok, test_lines_[i], expected, ids));
    for (TokenId id : ids) ids_file << id << " ";
    ids_file << "\n";
  }
  ids_file.close();
  const auto decoded = run_command("spm_decode --model=" + model + " --input_format=id < " +
                                   (dir_ / "ids.txt").string() + " 2>/dev/null");
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output;
  const auto decoded_lines = lines_of(decoded.output);
  ASSERT_EQ(decoded_lines.size(), test_lines_.size());
  for (std::size_t i = 0; i < test_lines_.size(); ++i) {
    const auto ids = tok->encode(test_lines_[i], false);
    EXPECT_EQ(tok->decode(ids), decoded_lines[i]);
    tokenizer::StreamDecoder stream(*tok);
    std::string streamed;
    for (TokenId id : ids) streamed += stream.push(id);
    streamed += stream.finish();
    EXPECT_EQ(streamed, decoded_lines[i]);
  }
}

// A Gemma checkpoint folder holds tokenizer.model and a converted tokenizer.json whose
// normalizer the byte-level reader refuses: the folder loads the sentencepiece model.
TEST_F(SentencePiece, AModelFolderWithBothFilesLoadsTheSentencepieceModel) {
  ScratchDir folder;
  std::filesystem::copy_file(dir_ / "m.model", folder / "tokenizer.model");
  std::ofstream(folder / "tokenizer.json")
      << R"({"model": {"type": "BPE"}, "normalizer": {"type": "Replace"}})";
  EXPECT_THROW(tokenizer::Tokenizer::load(folder / "tokenizer.json"), tokenizer::TokenizerError);
  const auto tok = tokenizer::Tokenizer::load(folder.path());
  EXPECT_EQ(tok->kind(), "sentencepiece");
  EXPECT_EQ(tok->encode(test_lines_[0]),
            tokenizer::Tokenizer::load(dir_ / "m.model")->encode(test_lines_[0]));
}

TEST_F(SentencePiece, ControlPiecesAreSplitOutOnlyWithAllowSpecial) {
  const auto tok = tokenizer::Tokenizer::load(dir_ / "m.model");
  const auto eos = tok->token_to_id("</s>");
  ASSERT_TRUE(eos.has_value());
  EXPECT_EQ(tok->eos_id(), eos);
  const auto with = tok->encode("ab</s>", true);
  ASSERT_FALSE(with.empty());
  EXPECT_EQ(with.back(), *eos);
  const auto without = tok->encode("ab</s>", false);
  EXPECT_EQ(std::count(without.begin(), without.end(), *eos), 0);
}

}  // namespace
}  // namespace tttmem::test
