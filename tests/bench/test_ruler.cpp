// The RULER-style generators (include/tttmem/ruler.h): each task's structure, the token budget
// with the Qwen3 tokenizer, determinism, and `build-benchmark --format ruler` end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <regex>
#include <set>
#include <sstream>

#include "test_support.h"
#include "tttmem/io.h"
#include "tttmem/ruler.h"
#include "bench_test_util.h"
#include "tttmem/bench.h"
#include "tttmem/tokenizer.h"

namespace {

using namespace tttmem;
using ruler::Task;

using test::qwen_dir;
constexpr auto count_tokens = test::qwen_tokens;

ruler::Benchmark generate(Task task, std::int64_t length, int samples = 3,
                          std::uint64_t seed = ruler::kStudySeed) {
  ruler::GenerateOptions o;
  o.task = task;
  o.length = length;
  o.samples = samples;
  o.seed = seed;
  o.count_tokens = count_tokens;
  o.tokenizer = qwen_dir();
  return ruler::generate(o);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

std::string last_line(const std::string& text) { return text.substr(text.rfind('\n') + 1); }

std::set<std::string> shipped_words() {
  std::set<std::string> words;
  const ruler::WordLists& w = ruler::word_lists();
  for (const auto* list : {&w.nouns, &w.adjectives, &w.verbs})
    words.insert(list->begin(), list->end());
  return words;
}

// RULER's input + answer prefix, rebuilt from the study's fields (the mapping backwards): the
// question is the input's last line, a space, and the stripped answer prefix.
std::string ruler_input(const ruler::Sample& s) {
  const std::string prefix = s.metadata.at("answer_prefix");
  std::string stripped = prefix;
  stripped.erase(0, stripped.find_first_not_of(' '));
  stripped.erase(stripped.find_last_not_of(' ') + 1);
  EXPECT_TRUE(s.question.ends_with(" " + stripped)) << s.question;
  const std::string line = s.question.substr(0, s.question.size() - stripped.size() - 1);
  return s.document + "\n" + line + prefix;
}

// ---- vt ----------------------------------------------------------------------------------------

void check_vt(std::int64_t length) {
  const std::regex name("[A-Z]{5}"), value_re("[1-9][0-9]{4}");
  const std::regex demo_answer("they are:  [A-Z]{3} [A-Z]{3} [A-Z]{3} [A-Z]{3} [A-Z]{3}\n\n");
  for (const ruler::Sample& s : generate(Task::vt, length).samples) {
    SCOPED_TRACE(s.id);
    ASSERT_EQ(s.answer_aliases.size(), 5u);
    EXPECT_EQ(s.answer, s.answer_aliases[0]);
    EXPECT_EQ(std::set<std::string>(s.answer_aliases.begin(), s.answer_aliases.end()).size(), 5u);
    for (const std::string& n : s.answer_aliases) EXPECT_TRUE(std::regex_match(n, name)) << n;
    const std::string value = s.metadata.at("query");
    EXPECT_TRUE(std::regex_match(value, value_re)) << value;
    // The few-shot demo comes first: a whole vt example with 3-letter names and its answer.
    const std::string head = "Memorize and track the chain(s) of variable assignment";
    EXPECT_TRUE(s.document.starts_with(head));
    std::smatch demo;
    ASSERT_TRUE(std::regex_search(s.document, demo, demo_answer));
    const std::size_t real_start = demo.position(0) + demo.length(0);
    EXPECT_TRUE(s.document.substr(real_start).starts_with(head));
    // The chain after it, statement by statement in order, each once, each on its own line.
    std::size_t previous = real_start;
    for (std::size_t j = 0; j < 5; ++j) {
      const std::string statement =
          j == 0 ? "\nVAR " + s.answer_aliases[0] + " = " + value + "\n"
                 : "\nVAR " + s.answer_aliases[j] + " = VAR " + s.answer_aliases[j - 1] + " \n";
      const std::size_t at = s.document.find(statement);
      ASSERT_NE(at, std::string::npos) << statement;
      EXPECT_EQ(s.document.find(statement, at + 1), std::string::npos) << statement;
      EXPECT_GT(at, previous) << statement;
      previous = at;
    }
    EXPECT_EQ(s.question,
              "Question: Find all variables that are assigned the value " + value +
                  " in the text above. Answer: According to the chain(s) of variable assignment "
                  "in the text above, 5 variables are assigned the value " +
                  value + ", they are:");
  }
}

TEST(RulerVt, ChainOfFiveNamesInOrderAfterTheDemo1024) { check_vt(1024); }
TEST(RulerVt, ChainOfFiveNamesInOrderAfterTheDemo4096) { check_vt(4096); }

TEST(RulerVt, SmallVocabularyTokenizerGetsTheSmallestDemo) {
  // One token per byte: even 5 noise lines make a demo above RULER's 500 tokens, so the
  // smallest demo stands in rather than no vt at all.
  ruler::GenerateOptions o;
  o.task = Task::vt;
  o.length = 4096;
  o.samples = 2;
  o.count_tokens = [](std::string_view text) { return text.size(); };
  for (const ruler::Sample& s : ruler::generate(o).samples) {
    EXPECT_LE(s.input_tokens + 30, 4096);
    const std::string demo = s.document.substr(0, s.document.find("they are:"));
    std::size_t lines = 0;
    for (std::size_t at = demo.find(ruler::kNoiseBlock); at != std::string::npos;
         at = demo.find(ruler::kNoiseBlock, at + 1))
      ++lines;
    EXPECT_EQ(lines, 5u) << s.id;
    EXPECT_GT(s.metadata.at("haystack_units").get<int>(), 5) << s.id;
  }
}

// ---- cwe ---------------------------------------------------------------------------------------

void check_cwe(std::int64_t length, int common, int uncommon) {
  const std::set<std::string> vocabulary = shipped_words();
  for (const ruler::Sample& s : generate(Task::cwe, length).samples) {
    SCOPED_TRACE(s.id);
    EXPECT_EQ(s.question,
              "Question: What are the 10 most common words in the above list? Answer: The top 10 "
              "words that appear most often in the list are:");
    // The demo (template, list, its answer) precedes the real list, the document's last line.
    EXPECT_TRUE(s.document.starts_with("Below is a numbered list of words."));
    EXPECT_NE(s.document.find("appear most often in the list are: 1. "), std::string::npos);
    const std::vector<std::string> items = split(last_line(s.document), ' ');
    ASSERT_EQ(items.size() % 2, 0u);
    std::map<std::string, int> counts;
    for (std::size_t i = 0; i < items.size(); i += 2) {
      EXPECT_EQ(items[i], std::to_string(i / 2 + 1) + ".");
      ++counts[items[i + 1]];
      EXPECT_TRUE(vocabulary.count(items[i + 1])) << items[i + 1];
    }
    ASSERT_EQ(s.answer_aliases.size(), 10u);
    EXPECT_EQ(s.answer, s.answer_aliases[0]);
    const std::set<std::string> answer(s.answer_aliases.begin(), s.answer_aliases.end());
    ASSERT_EQ(answer.size(), 10u);
    // The spec's frequencies: answer words `common` times, every other word `uncommon` times.
    for (const auto& [word, n] : counts)
      EXPECT_EQ(n, answer.count(word) ? common : uncommon) << word;
    std::vector<std::pair<int, std::string>> ranked;
    for (const auto& [word, n] : counts) ranked.emplace_back(-n, word);
    std::sort(ranked.begin(), ranked.end());
    std::set<std::string> top10;
    for (int i = 0; i < 10; ++i) top10.insert(ranked[i].second);
    EXPECT_EQ(top10, answer);
    EXPECT_EQ(counts.size(), s.metadata.at("haystack_units").get<std::size_t>());
    EXPECT_EQ(s.metadata.at("common_repeats"), common);
    EXPECT_EQ(s.metadata.at("uncommon_repeats"), uncommon);
  }
}

TEST(RulerCwe, TenCommonWordsAreTheMostFrequent1024) { check_cwe(1024, 6, 1); }
TEST(RulerCwe, TenCommonWordsAreTheMostFrequent4096) { check_cwe(4096, 30, 3); }

// ---- fwe ---------------------------------------------------------------------------------------

TEST(RulerFwe, AnswerIsRanksTwoToFourAndDotsAreFirst) {
  const std::string head =
      "Read the following coded text and track the frequency of each coded word. Find the three "
      "most frequently appeared coded words. ";
  const std::regex coded("[a-z]{6}");
  for (std::int64_t length : {1024, 4096}) {
    for (const ruler::Sample& s : generate(Task::fwe, length).samples) {
      SCOPED_TRACE(s.id);
      ASSERT_TRUE(s.document.starts_with(head));
      const std::string text = s.document.substr(head.size());
      ASSERT_EQ(text.find('\n'), std::string::npos);
      std::map<std::string, std::int64_t> counts;
      for (const std::string& w : split(text, ' ')) ++counts[w];
      std::vector<std::pair<std::int64_t, std::string>> ranked;
      for (const auto& [word, n] : counts) {
        ranked.emplace_back(-n, word);
        if (word != "...") {
          EXPECT_TRUE(std::regex_match(word, coded)) << word;
        }
      }
      std::sort(ranked.begin(), ranked.end());
      ASSERT_GE(ranked.size(), 5u);
      EXPECT_EQ(ranked[0].second, "...");
      ASSERT_EQ(s.answer_aliases.size(), 3u);
      EXPECT_EQ(s.answer, s.answer_aliases[0]);
      // Ranks 2-4 in order, each strictly more frequent than the next rank.
      for (std::size_t k = 1; k <= 3; ++k) {
        EXPECT_EQ(ranked[k].second, s.answer_aliases[k - 1]);
        EXPECT_LT(ranked[k - 1].first, ranked[k].first);
      }
      EXPECT_LT(ranked[3].first, ranked[4].first);
      // Zipf counts with alpha 2: rank k appears floor(n k^-2 / zeta(2)) times.
      const auto n = s.metadata.at("haystack_units").get<std::int64_t>();
      for (std::int64_t k = 1; k <= 4; ++k) {
        const auto want = static_cast<std::int64_t>(
            std::floor(static_cast<double>(n) / static_cast<double>(k * k) /
                       (std::numbers::pi * std::numbers::pi / 6.0)));
        EXPECT_EQ(-ranked[static_cast<std::size_t>(k - 1)].first, want) << "rank " << k;
      }
      EXPECT_EQ(s.metadata.at("vocab_size"), (length - 50) / 50);
    }
  }
}

// ---- niah --------------------------------------------------------------------------------------

struct Needle {
  std::string key, value;
};

void check_niah(Task task, std::size_t needles, std::size_t keys, std::size_t queried) {
  const std::regex needle_re(
      "\nOne of the special magic numbers for ([a-z]+)-([a-z]+) is: ([0-9]{7})\\.\n");
  const std::set<std::string> adjectives(ruler::word_lists().adjectives.begin(),
                                         ruler::word_lists().adjectives.end());
  const std::set<std::string> nouns(ruler::word_lists().nouns.begin(),
                                    ruler::word_lists().nouns.end());
  for (const ruler::Sample& s : generate(task, 1024).samples) {
    SCOPED_TRACE(s.id);
    std::vector<Needle> found;
    for (auto it = std::sregex_iterator(s.document.begin(), s.document.end(), needle_re);
         it != std::sregex_iterator(); ++it) {
      EXPECT_TRUE(adjectives.count((*it)[1])) << (*it)[1];
      EXPECT_TRUE(nouns.count((*it)[2])) << (*it)[2];
      found.push_back({(*it)[1].str() + "-" + (*it)[2].str(), (*it)[3]});
    }
    ASSERT_EQ(found.size(), needles);
    std::set<std::string> distinct;
    for (const Needle& n : found) distinct.insert(n.key);
    EXPECT_EQ(distinct.size(), keys);
    const auto asked = s.metadata.at("queried_keys").get<std::vector<std::string>>();
    ASSERT_EQ(asked.size(), queried);
    // The references are the values of the queried keys' needles, in query order.
    std::vector<std::string> want;
    for (const std::string& key : asked) {
      EXPECT_NE(s.question.find(key), std::string::npos) << key;
      std::vector<std::string> values;
      for (const Needle& n : found)
        if (n.key == key) values.push_back(n.value);
      ASSERT_FALSE(values.empty()) << key;
      std::sort(values.begin(), values.end());
      want.insert(want.end(), values.begin(), values.end());
    }
    for (const std::string& key : distinct) {
      if (std::find(asked.begin(), asked.end(), key) == asked.end()) {
        EXPECT_EQ(s.question.find(key), std::string::npos) << "distractor " << key;
      }
    }
    std::vector<std::string> got = s.answer_aliases;
    for (std::size_t i = 0, at = 0; i < asked.size(); ++i) {  // values of one key: any order
      const std::size_t per_key = got.size() / asked.size();
      std::sort(got.begin() + static_cast<std::ptrdiff_t>(at),
                got.begin() + static_cast<std::ptrdiff_t>(at + per_key));
      at += per_key;
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(s.answer, s.answer_aliases[0]);
    const bool one = queried * needles / keys == 1;
    EXPECT_TRUE(s.question.starts_with(one ? "What is the special magic number for "
                                           : "What are all the special magic numbers for "))
        << s.question;
  }
}

TEST(RulerNiah, SingleNeedleHoldsTheQueriedValue) { check_niah(Task::niah_single, 1, 1, 1); }
TEST(RulerNiah, MultiKeyAsksOneOfFourKeys) { check_niah(Task::niah_multi, 4, 4, 1); }
TEST(RulerNiah, MultiValueAsksFourValuesOfOneKey) { check_niah(Task::niah_multivalue, 4, 1, 1); }
TEST(RulerNiah, MultiQueryAsksAllFourKeys) { check_niah(Task::niah_multiquery, 4, 4, 4); }

TEST(RulerNiah, SeedPinsTheSamplesOnEveryPlatform) {
  // py::Random only: this sample is the same wherever the project builds.
  const ruler::Sample s = generate(Task::niah_single, 1024, 1).samples.at(0);
  EXPECT_EQ(s.answer, "1903152");
  EXPECT_EQ(s.metadata.at("queried_keys"), nlohmann::ordered_json::array({"urgent-partner"}));
  EXPECT_EQ(s.id, "niah_single_1024_0000");
}

// ---- Budget and determinism, every task
// ----------------------------------------------------------

class RulerEveryTask : public ::testing::TestWithParam<Task> {};

// Tokens one more haystack unit adds (a noise line, a listed word with its repeats, a coded word).
double unit_tokens(Task task, const ruler::Sample& s) {
  const auto units = s.metadata.at("haystack_units").get<double>();
  if (task == Task::cwe) {
    const std::string list = last_line(s.document);
    const double entries = static_cast<double>(split(list, ' ').size()) / 2;
    return static_cast<double>(count_tokens(list)) / entries *
           s.metadata.at("uncommon_repeats").get<double>();
  }
  if (task == Task::fwe) return static_cast<double>(count_tokens(s.document)) / units;
  const std::string noise(ruler::kNoiseBlock);
  return static_cast<double>(count_tokens(noise + "\n" + noise) - count_tokens(noise));
}

TEST_P(RulerEveryTask, FitsTheBudgetAndFillsItToTheLastIncrement) {
  const Task task = GetParam();
  const int answer = ruler::generation_budget(task).ruler;
  for (std::int64_t length : {1024, 4096}) {
    const ruler::Benchmark b = generate(task, length);
    EXPECT_EQ(b.tokens_to_generate, answer);
    ASSERT_EQ(b.samples.size(), 3u);
    for (const ruler::Sample& s : b.samples) {
      SCOPED_TRACE(s.id);
      EXPECT_EQ(static_cast<std::int64_t>(count_tokens(ruler_input(s))), s.input_tokens);
      EXPECT_LE(s.input_tokens + answer, length);
      EXPECT_EQ(s.metadata.at("ruler_length"), s.input_tokens + answer);
      // The fit leaves at most one back-off increment unused, plus the unit the search stops
      // short of and the jitter of one draw's tokens against another's.
      const auto increment = s.metadata.at("fill_increment").get<double>();
      const double slack = static_cast<double>(length - answer - s.input_tokens);
      EXPECT_LT(slack, (increment + 1) * unit_tokens(task, s) + 32)
          << "increment " << increment << ", unit " << unit_tokens(task, s);
    }
  }
}

TEST_P(RulerEveryTask, SameSeedSameBytesOtherSeedOtherSamples) {
  const Task task = GetParam();
  const std::string first = ruler::to_json(generate(task, 1024, 2, 1337));
  EXPECT_EQ(ruler::to_json(generate(task, 1024, 2, 1337)), first);
  const std::string other = ruler::to_json(generate(task, 1024, 2, 7));
  EXPECT_NE(other, first);
  const auto a = nlohmann::json::parse(first), b = nlohmann::json::parse(other);
  EXPECT_NE(a["samples"][0]["answer_aliases"], b["samples"][0]["answer_aliases"]);
  EXPECT_EQ(b["seed"], 7);
}

TEST_P(RulerEveryTask, FileReadsBackAsWritten) {
  const std::string text = ruler::to_json(generate(GetParam(), 1024, 2, 1337));
  EXPECT_EQ(ruler::to_json(ruler::parse_benchmark(text, "b.json")), text);
}

INSTANTIATE_TEST_SUITE_P(Tasks, RulerEveryTask,
                         ::testing::Values(Task::vt, Task::cwe, Task::fwe, Task::niah_single,
                                           Task::niah_multi, Task::niah_multivalue,
                                           Task::niah_multiquery),
                         [](const ::testing::TestParamInfo<Task>& info) {
                           return ruler::task_name(info.param);
                         });

// ---- Library edges
// -------------------------------------------------------------------------------

// A damaged file names itself, the sample and the field.
TEST(RulerFile, DamagedFilesNameTheSampleAndField) {
  const nlohmann::json good = nlohmann::json::parse(ruler::to_json(generate(Task::niah_single, 1024, 2)));
  auto error = [](const nlohmann::json& doc) {
    try {
      ruler::parse_benchmark(doc.dump(), "b.json");
    } catch (const ruler::RulerError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  nlohmann::json doc = good;
  doc["samples"][1].erase("answer");
  EXPECT_EQ(error(doc), "b.json: sample 1: field 'answer' must be a string, missing");
  doc = good;
  doc["samples"][1]["id"] = doc["samples"][0]["id"];
  EXPECT_NE(error(doc).find("sample 1: duplicate id"), std::string::npos);
  doc = good;
  doc["samples"][0]["answer_aliases"] = nlohmann::json::array({"other"});
  EXPECT_NE(error(doc).find("must be non-empty and the first of 'answer_aliases'"), std::string::npos);
  doc = good;
  doc["samples"][0]["context_length_target"] = 2048;
  EXPECT_NE(error(doc).find("must be the file's (niah_single, 1024)"), std::string::npos);
  doc = good;
  doc["task"] = "qa";
  EXPECT_NE(error(doc).find("qa"), std::string::npos);
  EXPECT_THROW(bench::parse_benchmark(doc.dump(), "b.json"), bench::BenchError);
}

// The runner reads a RULER file as samples: the document where a conversation stands, one probe
// with every reference.
TEST(RulerFile, ReadsAsTheRunnersSamples) {
  const ruler::Benchmark r = generate(Task::niah_multivalue, 1024, 2);
  const bench::Benchmark b = bench::parse_benchmark(ruler::to_json(r), "b.json");
  EXPECT_EQ(b.version, "ruler");
  ASSERT_EQ(b.samples.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const bench::Sample& s = b.samples[i];
    EXPECT_EQ(s.sample_id, r.samples[i].id);
    EXPECT_EQ(s.level, 0);
    EXPECT_EQ(s.task, "niah_multivalue");
    EXPECT_EQ(s.context_length, 1024);
    EXPECT_EQ(s.conversation, r.samples[i].document);
    ASSERT_EQ(s.probes.size(), 1u);
    EXPECT_EQ(s.probes[0].question, r.samples[i].question);
    EXPECT_EQ(s.probes[0].gold_answer, r.samples[i].answer);
    EXPECT_EQ(s.probes[0].aliases, r.samples[i].answer_aliases);
    EXPECT_EQ(s.probes[0].aliases.size(), 4u);
  }
}

TEST(RulerTasks, NamesBudgetsAndTooShortLengths) {
  for (const std::string& name : ruler::task_names())
    EXPECT_EQ(ruler::task_name(ruler::parse_task(name)), name);
  EXPECT_THROW(ruler::parse_task("niah"), ruler::RulerError);
  EXPECT_EQ(ruler::generation_budget(Task::vt).ruler, 30);
  EXPECT_EQ(ruler::generation_budget(Task::cwe).ruler, 120);
  EXPECT_EQ(ruler::generation_budget(Task::fwe).ruler, 50);
  EXPECT_EQ(ruler::generation_budget(Task::niah_multiquery).ruler, 128);
  EXPECT_EQ(ruler::generation_budget(Task::cwe).study, 16);
  // vt's few-shot demo alone takes most of 500 tokens.
  try {
    generate(Task::vt, 400);
    FAIL() << "vt at 400 tokens should not fit";
  } catch (const ruler::RulerError& e) {
    EXPECT_NE(std::string(e.what()).find("--length 400 is too short"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(generate(Task::niah_single, 100), ruler::RulerError);
}

// At 366 tokens niah_multi's smallest haystack fits most draws but not every one (a long key
// or value): such a sample is redrawn, as RULER does, instead of failing the whole file; a
// length that no draw fits still fails, saying how many draws were tried.
TEST(RulerTasks, SampleOverflowingTheSmallestHaystackIsRedrawn) {
  const ruler::Benchmark b = generate(Task::niah_multi, 366, 500, 1);
  ASSERT_EQ(b.samples.size(), 500u);
  const std::int64_t budget = 366 - ruler::generation_budget(Task::niah_multi).ruler;
  std::int64_t smallest_haystacks = 0;
  for (const ruler::Sample& s : b.samples) {
    EXPECT_LE(s.input_tokens, budget) << s.id;
    smallest_haystacks += s.metadata.at("haystack_units") == 4;
  }
  EXPECT_EQ(smallest_haystacks, 500);
  try {
    generate(Task::niah_multi, 356, 3, 1);
    FAIL() << "niah_multi at 356 tokens should not fit";
  } catch (const ruler::RulerError& e) {
    EXPECT_NE(std::string(e.what()).find("in 100 draws"), std::string::npos) << e.what();
  }
}

TEST(RulerTasks, ShippedWordListsArePlainSortedAndDisjoint) {
  const ruler::WordLists& w = ruler::word_lists();
  const std::regex plain("[a-z]{3,10}");
  std::set<std::string_view> all;
  std::size_t total = 0;
  for (const auto* list : {&w.nouns, &w.adjectives, &w.verbs}) {
    EXPECT_GT(list->size(), 900u);
    EXPECT_TRUE(std::is_sorted(list->begin(), list->end()));
    for (std::string_view word : *list)
      EXPECT_TRUE(std::regex_match(std::string(word), plain)) << word;
    all.insert(list->begin(), list->end());
    total += list->size();
  }
  EXPECT_EQ(all.size(), total);
}

// ---- CLI
// -----------------------------------------------------------------------------------------

TEST(RulerCli, WritesTheLibrarysBenchmarkWithTheStudySeed) {
  test::ScratchDir dir;
  const auto out = dir / "niah.json";
  const std::string common =
      "build-benchmark --format ruler --task niah_single --length 1024 "
      "--samples 3 --tokenizer '" +
      qwen_dir() + "' --out '" + out.string() + "'";
  auto r = test::run_tttmem(common);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string written = io::read_file(out);
  EXPECT_EQ(written, ruler::to_json(generate(Task::niah_single, 1024, 3, 1337)));
  const auto doc = nlohmann::json::parse(written);
  EXPECT_EQ(doc["format"], "ruler");
  EXPECT_EQ(doc["task"], "niah_single");
  EXPECT_EQ(doc["length"], 1024);
  EXPECT_EQ(doc["seed"], 1337);
  EXPECT_EQ(doc["tokenizer"], qwen_dir());
  EXPECT_EQ(doc["tokens_to_generate"], 128);
  ASSERT_EQ(doc["samples"].size(), 3u);
  EXPECT_EQ(doc["samples"][2]["id"], "niah_single_1024_0002");
  EXPECT_EQ(doc["samples"][2]["context_length_target"], 1024);

  r = test::run_tttmem(common + " --seed 1337");  // the global flag after the subcommand
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(io::read_file(out), written);
  r = test::run_tttmem("--seed 7 " + common);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(io::read_file(out), written);
  EXPECT_EQ(nlohmann::json::parse(io::read_file(out))["seed"], 7);
}

TEST(RulerCli, BadFlagCombinationsNameTheFlag) {
  test::ScratchDir dir;
  const auto out = dir / "x.json";
  const std::string tok = " --tokenizer '" + qwen_dir() + "'";
  const std::string to = " --out '" + out.string() + "'";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--task vt --length 1024" + tok + to, "--task, --length: need --format ruler"},
      {"--format ruler --task vt --length 100" + tok + to, "--length"},
      {"--format ruler --task bogus --length 1024" + tok + to, "unknown task 'bogus'"},
      {"--format ruler --task vt --length 1024" + to, "--format ruler needs --tokenizer"},
      {"--format ruler --task vt --length 1024 --levels 1" + tok + to,
       "--levels: not used by --format ruler"},
      {"--format ruler --task vt --length 300" + tok + to, "vt: --length 300 is too short"},
  };
  test::expect_build_benchmark_refuses(cases, out);
}

}  // namespace
