// The generator: v1 against the published file, v2 invariants.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "test_support.h"
#include "tttmem/bench.h"
#include "tttmem/io.h"
#include "tttmem/tokenizer.h"

namespace {

using namespace tttmem;
using bench::Benchmark;

// sha256 of benchmark_v1.json as published (spfunctions/ttt-conv-memory, commit 6b4c5b5): the
// pin that makes the regenerated file (test::published_benchmark()) the published one.
constexpr const char* kV1Sha256 =
    "e37ad24c552803e0f59753021e1d1968b6d13c3e4d966ff9521fbba62e2cafaf";

std::string sha256_of_file(const std::filesystem::path& path) {
  const auto r = test::run_command("sha256sum '" + path.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output.substr(0, 64);
}

TEST(BenchV1, CliReproducesThePublishedFileByteForByte) {
  test::ScratchDir dir;
  const auto out = dir / "benchmark_v1.json";
  const auto r = test::run_tttmem("build-benchmark --seed 42 --samples-per-level 100 --out '" +
                                  out.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(sha256_of_file(out), kV1Sha256);
  // The fixture the other suites read is the same file.
  EXPECT_EQ(sha256_of_file(test::published_benchmark()), kV1Sha256);
  // The summary of SPEC.md S1.1 (numbers from S1.9: 1,096 L1 probes over 100 samples, 425 L2).
  EXPECT_NE(r.output.find("with 300 samples"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("L2: 100 samples, 4.2 probes/sample"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("L1 fact categories: numeric 240, person 200, relational 200, temporal "
                          "181, spatial 100, preference 100, project 75"),
            std::string::npos)
      << r.output;
}

TEST(BenchV1, DistractorSeedPassagesMatchTheSpecDigests) {
  // Code-point lengths and sha256 from SPEC.md S1.6.
  const std::vector<std::pair<std::size_t, std::string>> want = {
      {515, "c9c087ae7991eef55c7492207ec5cb51ae9e616e1fa4aa35b5a0e0557984ad60"},
      {361, "539a099ceed850f6949bbb535e09fc0a2a91f006a1a14fe8e3f08bd431e737a4"},
      {408, "2220c84b0c702230981bb9e5e033c53193d65aa0c928554027c5fd7906194e1a"}};
  test::ScratchDir dir;
  const auto& passages = bench::distractor_seed_passages();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(bench::count_code_points(passages[i]), want[i].first) << "passage " << i;
    const auto file = dir / ("p" + std::to_string(i));
    io::atomic_write_file(file, passages[i]);
    EXPECT_EQ(sha256_of_file(file), want[i].second) << "passage " << i;
  }
}

TEST(BenchV1, OtherSeedsAndSizesDifferButStayValid) {
  bench::GenerateOptions o;
  o.seed = 7;
  o.samples_per_level = 5;
  const Benchmark b = bench::generate(o);
  ASSERT_EQ(b.samples.size(), 15u);
  const std::string json = bench::to_json(b);
  EXPECT_NE(json, bench::to_json(bench::generate({.seed = 8, .samples_per_level = 5})));
  const Benchmark back = bench::parse_benchmark(json, "seed7");
  EXPECT_EQ(back.samples.size(), 15u);
  EXPECT_EQ(bench::to_json(back), json);  // the loader keeps everything the writer writes
}

// ---- v2 ----

bench::GenerateOptions v2_options(std::uint64_t seed) {
  bench::GenerateOptions o;
  o.seed = seed;
  o.format = "v2";
  o.samples_per_level = 60;
  o.distractor_lengths = {0, 256, 1000};
  return o;
}

std::map<std::string, std::string> slot_values(const bench::Sample& s) {
  std::map<std::string, std::string> out;
  for (std::size_t k = 0; k < s.facts.size(); ++k) out[s.facts[k].slot] = s.probes[k].gold_answer;
  return out;
}

TEST(BenchV2, L1GoldsAreInTheConversationAndUnique) {
  const Benchmark b = bench::generate(v2_options(42));
  int l1 = 0;
  for (const auto& s : b.samples) {
    std::set<std::string> golds;
    for (const auto& p : s.probes) {
      EXPECT_TRUE(golds.insert(p.gold_answer).second)
          << s.sample_id << " repeats gold '" << p.gold_answer << "'";
      if (s.level != 2) {
        EXPECT_NE(s.conversation.find(p.gold_answer), std::string::npos)
            << s.sample_id << " " << p.probe_id;
      }
      EXPECT_EQ(p.gold_answer.find("；"), std::string::npos)
          << s.sample_id << " has a two-part gold";
    }
    if (s.level != 1) continue;
    ++l1;
    for (std::size_t k = 0; k < s.facts.size(); ++k) {
      // The recorded offset is where the value is first mentioned (in code points).
      const auto& f = s.facts[k];
      ASSERT_TRUE(f.offset.has_value());
      const std::size_t at = s.conversation.find(s.probes[k].gold_answer);
      EXPECT_EQ(static_cast<std::size_t>(*f.offset),
                bench::count_code_points(std::string_view(s.conversation).substr(0, at)));
    }
  }
  EXPECT_EQ(l1, 60);
}

TEST(BenchV2, NumericSlotsComeFromTheirOwnPools) {
  const Benchmark b = bench::generate(v2_options(3));
  const std::regex empid("[1-9][0-9]{3}"), budget("([0-9]+)万");
  const std::set<std::string> headcounts{"8",  "12", "15", "20",  "25", "30",
                                         "40", "50", "80", "100", "120"};
  int seen = 0;
  for (const auto& s : b.samples) {
    if (s.level != 1) continue;
    for (const auto& [slot, value] : slot_values(s)) {
      std::smatch m;
      if (slot == "empid") {
        EXPECT_TRUE(std::regex_match(value, empid)) << value;
      }
      if (slot == "headcount") {
        EXPECT_TRUE(headcounts.count(value)) << value;
      }
      if (slot == "budget") {
        ASSERT_TRUE(std::regex_match(value, m, budget)) << value;
        const int n = std::stoi(m[1]);
        EXPECT_TRUE(n >= 50 && n <= 995 && n % 5 == 0) << value;
      }
      seen += slot == "empid" || slot == "budget" || slot == "headcount";
    }
  }
  EXPECT_GT(seen, 100);
}

TEST(BenchV2, Sk3ProjectIsProbedAndPreferenceQuestionsFitTheValue) {
  bench::GenerateOptions o = v2_options(42);
  o.split = "train";  // SK-1..SK-5: the held-out templates ask a question that fits either kind
  const Benchmark b = bench::generate(o);
  int sk3 = 0, dietary = 0, other = 0;
  const std::set<std::string> dietary_values{"不吃辣",     "偏好清淡",     "不喝咖啡",
                                             "对花生过敏", "需要全套素食", "不喝酒"};
  for (const auto& s : b.samples) {
    if (s.level == 2 && s.skeleton_id == "SK-3") {
      ++sk3;
      EXPECT_EQ(s.probes.size(), 5u) << s.sample_id;  // v1 skipped C1, C3, C5 for lack of a project
    }
    if (s.level != 1) continue;
    for (std::size_t k = 0; k < s.facts.size(); ++k) {
      if (s.facts[k].category != "preference") continue;
      const bool says_dietary = s.probes[k].question.find("饮食") != std::string::npos;
      const bool is_dietary = dietary_values.count(s.probes[k].gold_answer) > 0;
      EXPECT_EQ(says_dietary, is_dietary) << s.sample_id << ": " << s.probes[k].question;
      (is_dietary ? dietary : other)++;
    }
  }
  EXPECT_GT(sk3, 0);
  EXPECT_GT(dietary, 0);
  EXPECT_GT(other, 0);
}

TEST(BenchV2, DistractorsHaveTheRequestedLengthsAndIdsAreUnique) {
  const Benchmark b = bench::generate(v2_options(42));
  std::map<std::int64_t, int> per_length;
  std::set<std::string> ids;
  for (const auto& s : b.samples) {
    EXPECT_TRUE(ids.insert(s.sample_id).second) << s.sample_id;
    std::set<std::string> pids;
    for (const auto& p : s.probes) EXPECT_TRUE(pids.insert(p.probe_id).second) << s.sample_id;
    if (s.level != 3) continue;
    ASSERT_TRUE(s.distractor && s.distractor_target && s.distractor_length);
    EXPECT_EQ(static_cast<std::int64_t>(bench::count_code_points(*s.distractor)),
              *s.distractor_target);
    EXPECT_EQ(*s.distractor_length, *s.distractor_target);
    ++per_length[*s.distractor_target];
  }
  EXPECT_EQ(per_length, (std::map<std::int64_t, int>{{0, 60}, {256, 60}, {1000, 60}}));
  EXPECT_EQ(b.distractor_unit, "chars");
}

// ---- v2 splits: what "held out" means ----

bench::GenerateOptions split_options(const std::string& split, std::uint64_t seed) {
  bench::GenerateOptions o = v2_options(seed);
  o.split = split;
  o.samples_per_level = 100;
  o.distractor_lengths = {2000};
  return o;
}

// Whole passages of the L3 distractors (the text between blank lines; the last piece of each
// distractor may be cut, so it is left out).
std::set<std::string> distractor_passages(const Benchmark& b) {
  std::set<std::string> out;
  for (const auto& s : b.samples) {
    if (!s.distractor) continue;
    const std::string& d = *s.distractor;
    for (std::size_t at = 0, end; (end = d.find("\n\n", at)) != std::string::npos; at = end + 2)
      out.insert(d.substr(at, end - at));
  }
  return out;
}

TEST(BenchV2Split, TestSharesNoTemplateQuestionPairValueOrPassageWithTrain) {
  const Benchmark train = bench::generate(split_options("train", 1001));
  for (const std::uint64_t seed : {std::uint64_t{7}, std::uint64_t{1001}}) {
    const Benchmark test = bench::generate(split_options("test", seed));
    EXPECT_EQ(test.split, "test");
    std::set<std::string> skeletons, questions, golds, passages = distractor_passages(train);
    std::set<std::pair<std::string, std::string>> pairs;
    for (const auto& s : train.samples) {
      skeletons.insert(s.skeleton_id);
      for (const auto& p : s.probes) {
        questions.insert(p.question);
        pairs.insert({p.question, p.gold_answer});
      }
      for (const auto& f : s.facts)  // dates and times are shared: no question names them alone
        if (f.category != "temporal") golds.insert(slot_values(s).at(f.slot));
    }
    EXPECT_EQ(skeletons, (std::set<std::string>{"SK-1", "SK-2", "SK-3", "SK-4", "SK-5"}));
    std::set<std::string> test_skeletons;
    for (const auto& s : test.samples) {
      test_skeletons.insert(s.skeleton_id);
      for (const auto& p : s.probes) {
        EXPECT_FALSE(questions.count(p.question)) << s.sample_id << ": " << p.question;
        EXPECT_FALSE(pairs.count({p.question, p.gold_answer})) << s.sample_id;
      }
      for (const auto& f : s.facts)
        if (f.category != "temporal") {
          const std::string& value = slot_values(s).at(f.slot);
          EXPECT_FALSE(golds.count(value)) << s.sample_id << " " << f.slot << " " << value;
        }
    }
    EXPECT_EQ(test_skeletons, (std::set<std::string>{"SK-6", "SK-7", "SK-8"}));
    const std::set<std::string> test_passages = distractor_passages(test);
    for (const std::string& passage : test_passages) EXPECT_FALSE(passages.count(passage));
  }
}

TEST(BenchV2Split, DistractorsComeFromHundredsOfPassagesThatStateNoValue) {
  const Benchmark train = bench::generate(split_options("train", 3));
  const Benchmark test = bench::generate(split_options("test", 3));
  // 100 distractors of 2,000 characters draw from each split's 400 passages.
  EXPECT_GE(distractor_passages(train).size(), 300u);
  EXPECT_GE(distractor_passages(test).size(), 300u);
  // No distractor repeats a passage (each holds about 12).
  for (const Benchmark* b : {&train, &test})
    for (const auto& s : b->samples) {
      if (!s.distractor) continue;
      std::set<std::string> seen;
      std::size_t start = 0, end;
      while ((end = s.distractor->find("\n\n", start)) != std::string::npos) {
        EXPECT_TRUE(seen.insert(s.distractor->substr(start, end - start)).second) << s.sample_id;
        start = end + 2;
      }
    }
  // No gold of either split occurs in any distractor: the prose shares no value with the pools.
  std::set<std::string> golds;
  for (const Benchmark* b : {&train, &test})
    for (const auto& s : b->samples)
      for (const auto& p : s.probes) golds.insert(p.gold_answer);
  for (const Benchmark* b : {&train, &test})
    for (const auto& s : b->samples) {
      if (!s.distractor) continue;
      for (const std::string& gold : golds)
        ASSERT_EQ(s.distractor->find(gold), std::string::npos) << s.sample_id << ": " << gold;
    }
}

TEST(BenchV2Split, EightTemplatesInAllAndLevelsHaveTheirOwnConversations) {
  bench::GenerateOptions o = split_options("all", 5);
  o.distractor_lengths = {0, 300};
  const Benchmark b = bench::generate(o);
  EXPECT_EQ(b.split, "all");
  EXPECT_TRUE(b.independent_levels);
  std::set<std::string> skeletons;
  std::map<std::string, std::set<int>> levels_of;  // conversation -> levels it appears in
  for (const auto& s : b.samples) {
    skeletons.insert(s.skeleton_id);
    levels_of[s.conversation].insert(s.level);
  }
  EXPECT_EQ(skeletons.size(), 8u);
  for (const auto& [conversation, levels] : levels_of) EXPECT_EQ(levels.size(), 1u);
  // Level 3's lengths share their conversations, so the length curve pairs them.
  std::map<std::string, int> per_conversation;
  for (const auto& s : b.samples)
    if (s.level == 3) ++per_conversation[s.conversation];
  for (const auto& [conversation, count] : per_conversation) EXPECT_EQ(count, 2);
  // --shared-levels: levels 2 and 3 repeat level 1's conversations, as v1 does.
  o.independent_levels = false;
  const Benchmark shared = bench::generate(o);
  EXPECT_FALSE(shared.independent_levels);
  std::set<std::string> l1;
  for (const auto& s : shared.samples)
    if (s.level == 1) l1.insert(s.conversation);
  for (const auto& s : shared.samples) EXPECT_TRUE(l1.count(s.conversation)) << s.sample_id;
  // Both fields survive the file.
  const Benchmark back = bench::parse_benchmark(bench::to_json(shared), "shared");
  EXPECT_EQ(back.split, "all");
  EXPECT_FALSE(back.independent_levels);
}

TEST(BenchV2Split, ALevelDoesNotDependOnTheLevelsAskedForAndTheClaimIsChecked) {
  bench::GenerateOptions o = split_options("test", 5);
  o.samples_per_level = 10;
  const Benchmark all = bench::generate(o);
  o.levels = {1, 3};
  const Benchmark some = bench::generate(o);
  const auto level3 = [](const Benchmark& b) {
    std::vector<std::string> out;
    for (const auto& s : b.samples)
      if (s.level == 3) out.push_back(s.conversation + "\n\n" + *s.distractor);
    return out;
  };
  EXPECT_EQ(level3(all), level3(some));

  // The loader rejects a file that says its levels are independent and repeats a conversation.
  auto doc = nlohmann::ordered_json::parse(bench::to_json(all));
  doc["samples"][10]["conversation"] = doc["samples"][0]["conversation"];  // L2-0000 := L1-0000's
  try {
    bench::parse_benchmark(doc.dump(), "f.json");
    ADD_FAILURE() << "a repeated conversation was accepted";
  } catch (const bench::BenchError& e) {
    EXPECT_STREQ(e.what(), "f.json: sample L2-0000: field 'independent_levels' is true but its "
                           "conversation is also that of level-1 sample L1-0000");
  }
  doc["independent_levels"] = false;
  EXPECT_NO_THROW(bench::parse_benchmark(doc.dump(), "f.json"));
}

TEST(BenchV2Split, BadSplitIsAnErrorAndV1RefusesTheV2Flags) {
  bench::GenerateOptions o = v2_options(1);
  o.split = "dev";
  EXPECT_THROW(bench::generate(o), bench::BenchError);
  test::ScratchDir dir;
  const auto out = (dir / "x.json").string();
  auto r = test::run_tttmem("build-benchmark --format v2 --split dev --out '" + out + "'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--split"), std::string::npos) << r.output;
  r = test::run_tttmem("build-benchmark --split test --out '" + out + "'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--format v2"), std::string::npos) << r.output;
  r = test::run_tttmem("build-benchmark --format v2 --split test --shared-levels "
                       "--samples-per-level 3 --distractor-tokens 50 --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Benchmark b = bench::load_benchmark(out);
  EXPECT_EQ(b.split, "test");
  EXPECT_FALSE(b.independent_levels);
}

TEST(BenchV2, PluggableMeasureGivesTheLongestFittingPrefix) {
  // A stand-in for a tokenizer: "tokens" are UTF-8 bytes / 3, rounded up.
  bench::GenerateOptions o = v2_options(5);
  o.samples_per_level = 4;
  o.levels = {3};
  o.distractor_lengths = {500};
  const auto measure = [](std::string_view t) { return (t.size() + 2) / 3; };
  o.measure = {"tokens", measure};
  const Benchmark b = bench::generate(o);
  ASSERT_EQ(b.samples.size(), 4u);
  EXPECT_EQ(b.distractor_unit, "tokens");
  for (const auto& s : b.samples) {
    const std::string& d = *s.distractor;
    EXPECT_LE(measure(d), 500u);
    EXPECT_EQ(static_cast<std::size_t>(*s.distractor_length), measure(d));
    EXPECT_GE(measure(d), 499u) << s.sample_id;  // one more character would not fit
  }
}

TEST(BenchV2, DistractorLengthsInQwenTokens) {
  const auto tok = tokenizer::Tokenizer::load(test::qwen3_tokenizer("qwen.tiktoken"));
  bench::GenerateOptions o = v2_options(42);
  o.samples_per_level = 3;
  o.levels = {3};
  o.distractor_lengths = {0, 64, 700};
  o.measure = bench::token_measure(*tok);
  const Benchmark b = bench::generate(o);
  EXPECT_EQ(b.distractor_unit, "tokens");
  ASSERT_EQ(b.samples.size(), 9u);
  for (const auto& s : b.samples) {
    EXPECT_EQ(*s.distractor_length, *s.distractor_target) << s.sample_id;
    EXPECT_EQ(static_cast<std::int64_t>(tok->encode(*s.distractor, false).size()),
              *s.distractor_target);
  }
}

TEST(BenchValidate, TokenStatisticsMatchTheAuthorsMeasurement) {
  // The authors measured the v1 conversations with the Qwen3 tokenizer: mean 140, min 123,
  // max 158 tokens (SPEC.md S1.9).
  const auto r = test::run_tttmem(
      "build-benchmark --validate '" + test::published_benchmark().string() +
      "' --tokenizer '" + test::qwen3_tokenizer("qwen.tiktoken").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("conversation: 140."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" / 123 / 158 over 100"), std::string::npos) << r.output;
}

TEST(BenchV2, DeterministicForASeedAndRoundTripsThroughTheLoader) {
  const std::string a = bench::to_json(bench::generate(v2_options(11)));
  EXPECT_EQ(a, bench::to_json(bench::generate(v2_options(11))));
  EXPECT_NE(a, bench::to_json(bench::generate(v2_options(12))));
  const Benchmark back = bench::parse_benchmark(a, "v2");
  EXPECT_EQ(back.version, "v2");
  EXPECT_EQ(bench::to_json(back), a);
}

TEST(BenchV2, LevelsOptionSelectsLevels) {
  bench::GenerateOptions o = v2_options(1);
  o.levels = {2};
  const Benchmark b = bench::generate(o);
  ASSERT_EQ(b.samples.size(), 60u);
  for (const auto& s : b.samples) EXPECT_EQ(s.level, 2);
  o.levels = {4};
  EXPECT_THROW(bench::generate(o), bench::BenchError);
  o.levels = {3};
  o.distractor_lengths = {-1};
  EXPECT_THROW(bench::generate(o), bench::BenchError);
}

TEST(BenchV2, CliWritesV2) {
  test::ScratchDir dir;
  const auto out = dir / "v2.json";
  const auto r = test::run_tttmem(
      "build-benchmark --format v2 --seed 9 --samples-per-level 10 "
      "--levels 1,3 --distractor-tokens 0,300 --out '" +
      out.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Benchmark b = bench::load_benchmark(out);
  EXPECT_EQ(b.version, "v2");
  EXPECT_EQ(b.seed, 9u);
  EXPECT_EQ(b.samples.size(), 30u);
  const auto bad =
      test::run_tttmem("build-benchmark --levels 1 --out '" + (dir / "x.json").string() + "'");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("--format v2"), std::string::npos) << bad.output;
}

}  // namespace
