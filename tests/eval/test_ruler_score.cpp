// RULER scoring (include/tttmem/ruler.h): the study's any-of containment and RULER's
// string_match_all on hand-made predictions.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tttmem/bench.h"
#include "tttmem/eval.h"
#include "tttmem/ruler.h"

namespace {

using tttmem::ruler::any_of_match;
using tttmem::ruler::label_match;
using tttmem::ruler::normalize_answer;
using tttmem::ruler::string_match_all;

TEST(RulerScore, NormalisationLowercasesAndStripsOuterPunctuationOnly) {
  EXPECT_EQ(normalize_answer("  The Answer.  "), "the answer");
  EXPECT_EQ(normalize_answer("\"1903152\"!\n"), "1903152");
  EXPECT_EQ(normalize_answer("U.S.A."), "u.s.a");  // interior dots stay
  EXPECT_EQ(normalize_answer("(urgent-partner)"), "urgent-partner");
  EXPECT_EQ(normalize_answer("\u00c9COLE \u00bb"),
            "\u00e9cole \u00bb");  // Unicode lowercase; » is not ASCII
  EXPECT_EQ(normalize_answer(" ... "), "");
}

TEST(RulerScore, AnyOfContainmentNeedsOneNonEmptyReference) {
  const std::vector<std::string> value{"1903152"};
  EXPECT_TRUE(any_of_match("The special magic number is 1903152.", value));
  EXPECT_TRUE(any_of_match("1903152", value));
  EXPECT_FALSE(any_of_match("190315", value));  // the prediction must hold the reference
  EXPECT_FALSE(any_of_match("", value));
  // vt: one of the five names earns the whole credit, case-insensitively.
  const std::vector<std::string> names{"KJBIN", "KKWCU", "RYSIR", "IBKBE", "NPPUZ"};
  EXPECT_TRUE(any_of_match("they are: rysir", names));
  EXPECT_FALSE(any_of_match("they are: ABCDE", names));
  // References empty after normalisation are skipped, not matched by everything.
  const std::vector<std::string> empty{"", " ... "};
  EXPECT_FALSE(any_of_match("anything ...", empty));
  const std::vector<std::string> punctuated{"\"Paris.\""};
  EXPECT_TRUE(any_of_match("it is paris, france", punctuated));
}

TEST(RulerScore, StringMatchAllIsTheFractionFound) {
  const std::vector<std::string> names{"KJBIN", "KKWCU", "RYSIR", "IBKBE", "NPPUZ"};
  EXPECT_DOUBLE_EQ(string_match_all("KJBIN, kkwcu and RySiR", names), 0.6);
  EXPECT_DOUBLE_EQ(string_match_all("KJBIN KKWCU RYSIR IBKBE NPPUZ", names), 1.0);
  EXPECT_DOUBLE_EQ(string_match_all("none of them", names), 0.0);
  // No normalisation beyond lowercase: a reference with punctuation must appear as written.
  const std::vector<std::string> with_dot{"paris."};
  EXPECT_DOUBLE_EQ(string_match_all("Paris", with_dot), 0.0);
  EXPECT_THROW(string_match_all("x", std::vector<std::string>{}), tttmem::ruler::RulerError);
}

TEST(RulerScore, AnyOfHidesWhatStringMatchAllCounts) {
  // cwe: a 16-token answer names only a few of the ten words.
  const std::vector<std::string> words{"outcome", "article", "surprise", "rub",  "improved",
                                       "lemon",   "stage",   "omit",     "ride", "obliged"};
  const std::string prediction = " 1. outcome 2. article 3. surprise";
  EXPECT_TRUE(any_of_match(prediction, words));
  EXPECT_DOUBLE_EQ(string_match_all(prediction, words), 0.3);
}

TEST(RulerScore, IclLabelsMatchAsWholeWordsNotSubstrings) {
  EXPECT_TRUE(label_match("1", "1"));
  EXPECT_TRUE(label_match(" label: 1\ntext", "1"));
  EXPECT_TRUE(label_match("1. because", "1"));
  EXPECT_FALSE(label_match("12", "1"));
  EXPECT_FALSE(label_match("label: 12", "1"));
  EXPECT_FALSE(label_match("it is 1", "1"));
  EXPECT_FALSE(label_match("", "1"));
  EXPECT_TRUE(any_of_match("12", std::vector<std::string>{"1"}));  // why ICL needs its own rule
}

// The RULER report scores a helmet_icl cell by exact label, both ways; other tasks by containment.
TEST(RulerScore, ReportScoresIclByLabelAndOtherTasksByContainment) {
  for (const std::string task : {"helmet_icl", "helmet_rag"}) {
    tttmem::ruler::Benchmark file{task, 512, 1, "tok", 20, {}};
    for (int i = 0; i < 2; ++i)
      file.samples.push_back({task + "_" + std::to_string(i), task, 512, "doc", "question?", "1",
                              {"1"}, 100, nlohmann::ordered_json::object()});
    const tttmem::bench::Benchmark benchmark =
        tttmem::bench::parse_benchmark(tttmem::ruler::to_json(file), "memory");
    tttmem::eval::ConditionResult result;
    result.name = "in_context";
    for (std::size_t i = 0; i < 2; ++i) {
      tttmem::eval::Prediction p;
      p.probe_id = "Q";
      p.predicted = i == 0 ? "12" : "1";
      result.samples.push_back({i, {p}});
    }
    const auto cells = tttmem::eval::ruler_cells({result}, benchmark, {0, 1});
    ASSERT_EQ(cells.size(), 1u);
    const double expected = task == "helmet_icl" ? 0.5 : 1.0;
    EXPECT_DOUBLE_EQ(cells[0].any_of, expected) << task;
    EXPECT_DOUBLE_EQ(cells[0].string_match_all, expected) << task;
  }
}

}  // namespace
