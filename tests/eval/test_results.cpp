// Reading result files: JSONL in any order, the seed's JSON, both together, and every kind of
// bad input named by file and place.
#include <gtest/gtest.h>

#include "eval_test_util.h"
#include "tttmem/eval.h"

namespace tttmem::test {
namespace {

using nlohmann::json;

// One JSONL record per probe of the given samples (benchmark order), predicting `answer(gold)`.
std::vector<json> records(const std::vector<std::string>& sample_ids) {
  std::vector<json> out;
  for (const bench::Sample& s : v1_benchmark().samples) {
    if (std::find(sample_ids.begin(), sample_ids.end(), s.sample_id) == sample_ids.end()) continue;
    for (const bench::Probe& p : s.probes)
      out.push_back({{"sample_id", s.sample_id},
                     {"level", s.level},
                     {"probe_id", p.probe_id},
                     {"question", p.question},
                     {"gold", p.gold_answer},
                     {"predicted", "答：" + p.gold_answer},
                     {"output_ids", {1, 2}},
                     {"prompt_tokens", 40},
                     {"generated_tokens", 2},
                     {"stop_reason", "stop_token"},
                     {"seconds", 0.5}});
  }
  return out;
}

std::string jsonl(const std::vector<json>& recs) {
  std::string out;
  for (const json& r : recs) out += r.dump() + "\n";
  return out;
}

eval::ConditionResult parse(const std::string& text) {
  return eval::parse_jsonl(text, "cond.jsonl", v1_benchmark());
}

// The message of the EvalError `f` throws.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const eval::EvalError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no EvalError";
  return "";
}

TEST(EvalResults, JsonlInCompletionOrderComesOutInBenchmarkOrder) {
  std::vector<json> recs = records({"L1-0000", "L2-0000", "L3-0000"});
  std::reverse(recs.begin(), recs.end());
  std::swap(recs[1], recs[7]);
  const eval::ConditionResult r = parse(jsonl(recs));
  ASSERT_EQ(r.samples.size(), 3u);
  const auto& b = v1_benchmark();
  for (const eval::SampleResult& s : r.samples) {
    const bench::Sample& sample = b.samples[s.sample_index];
    ASSERT_EQ(s.predictions.size(), sample.probes.size());
    for (std::size_t k = 0; k < s.predictions.size(); ++k)
      EXPECT_EQ(s.predictions[k].probe_id, sample.probes[k].probe_id);
  }
  EXPECT_EQ(b.samples[r.samples[0].sample_index].sample_id, "L1-0000");
  EXPECT_EQ(b.samples[r.samples[2].sample_index].sample_id, "L3-0000");
  EXPECT_EQ(r.samples[0].predictions[0].stop_reason, "stop_token");
}

TEST(EvalResults, SeedJsonAndJsonlGiveTheSameScores) {
  const auto path = seed_fixture("seed_condition_c.json");
  const eval::ConditionResult from_json =
      eval::parse_seed_json(io::read_file(path), path.string(), v1_benchmark());
  // The same predictions as JSONL records, shuffled.
  std::vector<json> recs;
  const json seed = json::parse(io::read_file(path));
  for (const json& s : seed)
    for (const json& p : s["predictions"])
      recs.push_back({{"sample_id", s["sample_id"]},
                      {"level", s["level"]},
                      {"probe_id", p["probe_id"]},
                      {"question", p["question"]},
                      {"gold", p["gold"]},
                      {"predicted", p["predicted"]}});
  std::reverse(recs.begin(), recs.end());
  const eval::ConditionResult from_jsonl = parse(jsonl(recs));
  const auto a = eval::score_condition(from_json, v1_benchmark());
  const auto b = eval::score_condition(from_jsonl, v1_benchmark());
  EXPECT_EQ(a.overall.n, 2617);
  EXPECT_EQ(a.overall.n, b.overall.n);
  EXPECT_EQ(a.overall.em_sum, b.overall.em_sum);
  EXPECT_EQ(a.overall.f1_sum, b.overall.f1_sum);
}

TEST(EvalResults, ResultsOfAnotherBenchmarkAreRejected) {
  std::vector<json> recs = records({"L1-0000"});
  recs[0]["sample_id"] = "L1-9999";
  EXPECT_NE(error_of([&] {
              parse(jsonl(recs));
            }).find("cond.jsonl: line 1: sample 'L1-9999' is not in the benchmark"),
            std::string::npos);
  recs = records({"L1-0000"});
  recs[2]["probe_id"] = "P99";
  EXPECT_NE(error_of([&] { parse(jsonl(recs)); }).find("line 3: sample L1-0000 has no probe 'P99'"),
            std::string::npos);
  recs = records({"L1-0000"});
  recs[1]["gold"] = "别人";
  EXPECT_NE(
      error_of([&] { parse(jsonl(recs)); }).find("line 2: sample L1-0000 probe P2: gold '别人'"),
      std::string::npos);
  recs = records({"L1-0000"});
  recs[1]["question"] = "另一个问题？";
  EXPECT_NE(error_of([&] { parse(jsonl(recs)); }).find("question '另一个问题？' differs"),
            std::string::npos);
  recs = records({"L1-0000"});
  recs[0]["level"] = 3;
  EXPECT_NE(error_of([&] { parse(jsonl(recs)); }).find("has level 3 but the benchmark says 1"),
            std::string::npos);
}

TEST(EvalResults, MissingAndDuplicatedProbesAreRejected) {
  std::vector<json> recs = records({"L1-0000", "L1-0001"});
  recs.erase(recs.begin() + 13);  // L1-0001 P4
  EXPECT_NE(
      error_of([&] { parse(jsonl(recs)); }).find("cond.jsonl: sample L1-0001 probe P4 is missing"),
      std::string::npos);
  recs = records({"L1-0000"});
  recs.push_back(recs[4]);
  EXPECT_NE(error_of([&] {
              parse(jsonl(recs));
            }).find("cond.jsonl: line 11: sample L1-0000 probe P5 appears twice (first at line 5)"),
            std::string::npos);
}

TEST(EvalResults, MalformedLinesNameFileAndLine) {
  const std::string good = jsonl(records({"L1-0000"}));
  // A run killed mid-write: the last line is cut.
  const std::string cut = good.substr(0, good.size() - 20);
  EXPECT_NE(error_of([&] { parse(cut); }).find("cond.jsonl: line 10: invalid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse("[1, 2]\n"); }).find("cond.jsonl: line 1: expected a JSON object"),
            std::string::npos);
  std::vector<json> recs = records({"L1-0000"});
  recs[3].erase("predicted");
  EXPECT_NE(error_of([&] { parse(jsonl(recs)); }).find("line 4: missing field 'predicted'"),
            std::string::npos);
  recs = records({"L1-0000"});
  recs[3]["level"] = "1";
  EXPECT_NE(error_of([&] {
              parse(jsonl(recs));
            }).find("line 4: field 'level' must be an integer, got string"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse("\n\n"); }).find("cond.jsonl: holds no predictions"),
            std::string::npos);
  // Blank lines are skipped, and line numbers still count them.
  EXPECT_NO_THROW(parse("\n" + good + "\n"));
  EXPECT_NE(error_of([&] { parse("\n\n{\"sample_id\": 1}\n"); }).find("line 3: "),
            std::string::npos);
}

TEST(EvalResults, SeedJsonErrorsNameThePlace) {
  const auto parse_json = [](const std::string& text) {
    return eval::parse_seed_json(text, "cond.json", v1_benchmark());
  };
  EXPECT_NE(error_of([&] { parse_json("{}"); }).find("cond.json: expected a JSON list"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              parse_json("[{\"sample_id\": \"L1-0000\", \"level\": 1}]");
            }).find("cond.json: [0]: missing field 'predictions'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              parse_json(
                  R"([{"sample_id": "L1-0000", "level": 1, "predictions": [{"probe_id": "P1"}]}])");
            }).find("cond.json: [0].predictions[0]: missing field 'question'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_json("[{\"sample_id\": "); }).find("cond.json: invalid JSON"),
            std::string::npos);
}

TEST(EvalResults, DiscoveryOrdersMainConditionsThenAblationsByScale) {
  const ScratchDir dir;
  for (const char* name :
       {"condition_b_scaled_0p5.json", "condition_c.jsonl", "condition_a.json", "condition_a.jsonl",
        "condition_a_prime_1p0235.json", "condition_a_prime_0p05.jsonl",
        "condition_b_scaled_0p1.json", "condition_ttt_paper.jsonl", "condition_x.json", "run.json",
        "condition_a_prime_abc.json", "condition_scroll.jsonl"})
    io::atomic_write_file(dir / name, "");
  EXPECT_EQ(eval::discover_conditions(dir.path()),
            (std::vector<std::string>{"a", "c", "ttt_paper", "scroll", "a_prime_0p05",
                                      "a_prime_1p0235", "b_scaled_0p1", "b_scaled_0p5"}));
  EXPECT_EQ(eval::ablation_scale("a_prime_1p0235"), 1.0235);
  EXPECT_EQ(eval::ablation_scale("b"), std::nullopt);
  EXPECT_NE(error_of([&] { eval::discover_conditions(dir / "nope"); }).find("not a folder"),
            std::string::npos);
}

TEST(EvalResults, JsonlAndJsonTogetherMustAgree) {
  const ScratchDir dir;
  std::vector<json> recs = records({"L1-0000"});
  io::atomic_write_file(dir / "condition_b.jsonl", jsonl(recs));
  json seed = json::array();
  json sample = {{"sample_id", "L1-0000"}, {"level", 1}, {"predictions", json::array()}};
  for (const json& r : recs)
    sample["predictions"].push_back({{"probe_id", r["probe_id"]},
                                     {"question", r["question"]},
                                     {"gold", r["gold"]},
                                     {"predicted", r["predicted"]}});
  seed.push_back(sample);
  io::atomic_write_file(dir / "condition_b.json", seed.dump());
  const eval::ConditionResult r = eval::load_condition(dir.path(), "b", v1_benchmark());
  EXPECT_EQ(r.name, "b");
  EXPECT_EQ(r.source.filename(), "condition_b.jsonl");
  seed[0]["predictions"][3]["predicted"] = "stale";
  io::atomic_write_file(dir / "condition_b.json", seed.dump());
  EXPECT_NE(
      error_of([&] { eval::load_condition(dir.path(), "b", v1_benchmark()); }).find("disagree"),
      std::string::npos);
}

}  // namespace
}  // namespace tttmem::test
