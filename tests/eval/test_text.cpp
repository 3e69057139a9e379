// Normalisation, EM, F1, strict EM and the degeneracy test against the Python oracle
// (tests/python/make_eval_reference.py), plus hand-checked values.
#include <gtest/gtest.h>

#include <map>

#include "eval_test_util.h"
#include "tttmem/eval.h"

namespace tttmem::test {
namespace {

using eval::decode_utf8;
using eval::encode_utf8;
using eval::normalize;

TEST(EvalText, MatchesThePythonOracleOnEdgeCases) {
  const auto& cases = eval_reference().at("cases");
  ASSERT_GE(cases.size(), 30u);
  for (const auto& c : cases) {
    const std::string pred = c.at("pred"), gold = c.at("gold");
    SCOPED_TRACE("pred '" + pred + "' gold '" + gold + "'");
    EXPECT_EQ(encode_utf8(normalize(pred)), c.at("norm_pred").get<std::string>());
    EXPECT_EQ(encode_utf8(normalize(gold)), c.at("norm_gold").get<std::string>());
    const eval::ProbeScore s = eval::score_probe(pred, gold);
    EXPECT_EQ(s.em, c.at("em").get<double>());
    EXPECT_NEAR(s.f1, c.at("f1").get<double>(), 1e-15);
    EXPECT_EQ(s.strict_em, c.at("strict_em").get<double>());
  }
}

TEST(EvalText, DegeneracyMatchesThePythonOracle) {
  const auto& cases = eval_reference().at("degenerate");
  ASSERT_GE(cases.size(), 15u);
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    EXPECT_EQ(eval::is_degenerate(text), c.at("degenerate").get<bool>()) << "'" << text << "'";
  }
}

TEST(EvalText, EveryCodePointNormalisesAsPythonDoes) {
  // Python's str.lower, punctuation and whitespace over the whole code space: the oracle lists
  // the code points normalisation changes, every other one must come back unchanged.
  std::map<char32_t, std::string> changed;
  for (const auto& [key, value] : eval_reference().at("changed").items())
    changed[static_cast<char32_t>(std::stoul(key))] = value.get<std::string>();
  ASSERT_GT(changed.size(), 1400u);
  int mismatches = 0;
  for (char32_t c = 0; c < 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    const std::string text = encode_utf8(std::u32string(1, c));
    const auto it = changed.find(c);
    const std::string expected = it == changed.end() ? text : it->second;
    const std::string got = encode_utf8(normalize(text));
    if (got != expected && ++mismatches <= 10)
      ADD_FAILURE() << "U+" << std::hex << static_cast<std::uint32_t>(c) << ": '" << got
                    << "', Python '" << expected << "'";
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(EvalText, HandCheckedScores) {
  // 'aab' vs 'abb': overlap {a, b} = 2, P = R = 2/3, F1 = 2/3.
  EXPECT_DOUBLE_EQ(eval::score_probe("aab", "abb").f1, 2.0 / 3.0);
  // Spaces count as characters: 'a b' vs 'ab' -> overlap 2, P = 2/3, R = 1, F1 = 0.8.
  EXPECT_DOUBLE_EQ(eval::score_probe("a, b", "ab").f1, 0.8);
  // Containment, not equality; a gold that normalises to nothing never matches.
  EXPECT_EQ(eval::score_probe("他叫何鑫。", "何鑫").em, 1.0);
  EXPECT_EQ(eval::score_probe("。", "！").em, 0.0);
  // Strict EM reads the first line only.
  EXPECT_EQ(eval::score_probe("何鑫\n郭斌", "郭斌").strict_em, 0.0);
  EXPECT_EQ(eval::score_probe("何鑫\n郭斌", "郭斌").em, 1.0);
  EXPECT_EQ(eval::score_probe("  「何鑫」。\n", "何鑫").strict_em, 1.0);
}

TEST(EvalText, PunctuationSetHasTheSeeds82CodePoints) {
  // Every code point below U+10000 that normalises a lone "a<c>b" to "a b" without being
  // whitespace: exactly the 82 punctuation code points.
  int punctuation = 0;
  for (char32_t c = 0x21; c < 0x10000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    const std::u32string text{U'a', c, U'b'};
    if (normalize(encode_utf8(text)) == U"a b") ++punctuation;
  }
  // 82 punctuation + the whitespace code points above U+0020 (U+0085, U+00A0, U+1680,
  // U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000: 19).
  EXPECT_EQ(punctuation, 82 + 19);
}

TEST(EvalText, Utf8RoundTripAndRejection) {
  const std::string text = "a\xC3\xA9\xE4\xBD\x95\xF0\x9F\x98\x80";  // a é 何 😀
  EXPECT_EQ(decode_utf8(text), (std::u32string{U'a', 0xE9, 0x4F55, 0x1F600}));
  EXPECT_EQ(encode_utf8(decode_utf8(text)), text);
  for (const char* bad : {"\xC3", "\xC0\x80", "\xED\xA0\x80", "\xF5\x80\x80\x80", "\x80"})
    EXPECT_THROW(decode_utf8(bad), eval::EvalError) << bad;
}

TEST(EvalText, StripAndFirstLineUsePythonWhitespace) {
  EXPECT_EQ(eval::python_strip("\u3000\n 何鑫\u00a0\t"), "何鑫");
  EXPECT_EQ(eval::first_line("\n\n何鑫\n郭斌"), "何鑫");
  EXPECT_EQ(eval::first_line("   "), "");
}

}  // namespace
}  // namespace tttmem::test
