// The loader/validator: counts of the published file and every kind of bad input.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "test_support.h"
#include "tttmem/bench.h"
#include "tttmem/io.h"

namespace {

using namespace tttmem;
using nlohmann::json;

TEST(BenchValidate, CountsOfThePublishedFile) {
  // Expected numbers: SPEC.md S1.9 (computed from the published file).
  const bench::Benchmark b = bench::load_benchmark(test::published_benchmark());
  EXPECT_EQ(b.version, "v1");
  EXPECT_EQ(b.seed, 42u);
  const bench::Stats st = bench::compute_stats(b);
  EXPECT_EQ(st.samples, 300);
  EXPECT_EQ(st.probes, 2617);
  EXPECT_EQ(st.facts, 3288);
  EXPECT_EQ(st.by_level.at(1).probes, 1096);
  EXPECT_EQ(st.by_level.at(2).probes, 425);
  EXPECT_EQ(st.by_level.at(3).probes, 1096);
  const std::map<std::string, int> l1{{"numeric", 240},  {"person", 200},  {"relational", 200},
                                      {"temporal", 181}, {"spatial", 100}, {"preference", 100},
                                      {"project", 75}};
  EXPECT_EQ(st.by_level.at(1).facts_by_category, l1);
  std::map<std::string, int> skeletons;
  for (const auto& s : b.samples)
    if (s.level == 1) ++skeletons[s.skeleton_id];
  EXPECT_EQ(skeletons, (std::map<std::string, int>{
                           {"SK-1", 19}, {"SK-2", 22}, {"SK-3", 25}, {"SK-4", 16}, {"SK-5", 18}}));
  // Distractor mean 2,923.8, min 2,001, max 3,995 characters (SPEC.md S1.9).
  const auto lengths = bench::length_stats(b, bench::count_code_points);
  EXPECT_NEAR(lengths.at("distractor").mean, 2923.8, 0.05);
  EXPECT_EQ(lengths.at("distractor").min, 2001u);
  EXPECT_EQ(lengths.at("distractor").max, 3995u);
  EXPECT_NEAR(lengths.at("conversation").mean, 197.6, 0.05);
}

TEST(BenchValidate, CliPrintsCounts) {
  const auto r = test::run_tttmem("build-benchmark --validate '" +
                                  test::published_benchmark().string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("300 samples, 2617 probes, 3288 facts"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("L2: 100 samples, 425 probes, 1096 facts"), std::string::npos)
      << r.output;
}

// A valid two-sample v1 document; each bad case edits one thing.
json valid_doc() {
  const json l1 = {
      {"sample_id", "L1-0000"},
      {"level", 1},
      {"skeleton_id", "SK-1"},
      {"conversation", "A：x"},
      {"facts",
       {{{"fact_id", "F1"}, {"fact_text", "t"}, {"category", "person"}, {"slot", "name_b"}},
        {{"fact_id", "F2"}, {"fact_text", "u"}, {"category", "numeric"}, {"slot", "empid"}}}},
      {"probes",
       {{{"probe_id", "P1"}, {"question", "q"}, {"gold_answer", "g"}, {"required_facts", {"F1"}}},
        {{"probe_id", "P2"}, {"question", "q"}, {"gold_answer", "h"}, {"required_facts", {"F2"}}}}},
      {"distractor", nullptr}};
  json l3 = l1;
  l3["sample_id"] = "L3-0000";
  l3["level"] = 3;
  l3["distractor"] = "d";
  return {{"version", "v1"},
          {"seed", 42},
          {"n_samples_per_level", 1},
          {"n_total", 2},
          {"samples", {l1, l3}}};
}

struct BadCase {
  const char* name;
  std::function<void(json&)> edit;
  std::vector<std::string> message_has;  // the error must name these (sample, field, ...)
};

TEST(BenchValidate, EveryBadInputIsRejectedWithSampleAndField) {
  const std::vector<BadCase> cases = {
      {"missing gold",
       [](json& d) { d["samples"][0]["probes"][1].erase("gold_answer"); },
       {"sample L1-0000", "probe P2", "gold_answer", "missing"}},
      {"empty gold",
       [](json& d) { d["samples"][0]["probes"][0]["gold_answer"] = ""; },
       {"sample L1-0000", "probe P1", "gold_answer", "empty"}},
      {"duplicate sample id",
       [](json& d) {
         d["samples"][1]["sample_id"] = "L1-0000";
         d["samples"][1]["level"] = 1;
         d["samples"][1]["distractor"] = nullptr;
       },
       {"L1-0000", "duplicate sample_id"}},
      {"duplicate probe id",
       [](json& d) { d["samples"][0]["probes"][1]["probe_id"] = "P1"; },
       {"sample L1-0000", "duplicate probe_id 'P1'"}},
      {"duplicate fact id",
       [](json& d) { d["samples"][0]["facts"][1]["fact_id"] = "F1"; },
       {"sample L1-0000", "duplicate fact_id 'F1'"}},
      {"fact without probe",
       [](json& d) { d["samples"][1]["probes"].erase(1); },
       {"sample L3-0000", "'F2'", "no probe"}},
      {"unknown required fact",
       [](json& d) { d["samples"][0]["probes"][0]["required_facts"] = {"F9"}; },
       {"sample L1-0000", "probe P1", "required_facts", "'F9'"}},
      {"no required facts",
       [](json& d) { d["samples"][0]["probes"][0]["required_facts"] = json::array(); },
       {"probe P1", "required_facts", "empty"}},
      {"unknown level",
       [](json& d) { d["samples"][0]["level"] = 4; },
       {"sample L1-0000", "'level'", "got 4"}},
      {"level as string",
       [](json& d) { d["samples"][0]["level"] = "1"; },
       {"sample L1-0000", "'level'", "integer"}},
      {"unknown category",
       [](json& d) { d["samples"][0]["facts"][0]["category"] = "food"; },
       {"sample L1-0000", "fact F1", "'category'", "food"}},
      {"question not a string",
       [](json& d) { d["samples"][1]["probes"][0]["question"] = 3; },
       {"sample L3-0000", "probe P1", "'question'", "string"}},
      {"facts not an array",
       [](json& d) { d["samples"][0]["facts"] = "F1"; },
       {"sample L1-0000", "'facts'", "array"}},
      {"sample not an object", [](json& d) { d["samples"][1] = 5; }, {"samples[1]", "object"}},
      {"sample without id",
       [](json& d) { d["samples"][1].erase("sample_id"); },
       {"samples[1]", "'sample_id'", "missing"}},
      {"L3 without distractor",
       [](json& d) { d["samples"][1]["distractor"] = nullptr; },
       {"sample L3-0000", "'distractor'", "level 3"}},
      {"L1 with distractor",
       [](json& d) { d["samples"][0]["distractor"] = "x"; },
       {"sample L1-0000", "'distractor'", "null"}},
      {"missing distractor",
       [](json& d) { d["samples"][0].erase("distractor"); },
       {"sample L1-0000", "'distractor'", "missing"}},
      {"unknown version", [](json& d) { d["version"] = "v3"; }, {"'version'", "v3"}},
      {"n_total mismatch", [](json& d) { d["n_total"] = 3; }, {"'n_total'", "3"}},
      {"no samples field", [](json& d) { d.erase("samples"); }, {"'samples'", "missing"}},
      {"v2 without unit", [](json& d) { d["version"] = "v2"; }, {"'distractor_unit'", "missing"}},
  };
  test::ScratchDir dir;
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    json doc = valid_doc();
    c.edit(doc);
    const auto path = dir / "bad.json";
    io::atomic_write_file(path, doc.dump(2));
    try {
      bench::load_benchmark(path);
      ADD_FAILURE() << "accepted";
    } catch (const bench::BenchError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;  // names the file
      for (const std::string& part : c.message_has)
        EXPECT_NE(msg.find(part), std::string::npos) << msg;
    }
  }
  // The unedited document is valid, so every rejection above is due to its one edit.
  io::atomic_write_file(dir / "good.json", valid_doc().dump(2));
  EXPECT_EQ(bench::load_benchmark(dir / "good.json").samples.size(), 2u);
}

TEST(BenchValidate, DamagedFilesThrowBenchErrorNeverCrash) {
  const std::string good = valid_doc().dump();
  std::mt19937 gen(1);
  for (std::size_t cut = 0; cut < good.size(); cut += 7)
    EXPECT_THROW(bench::parse_benchmark(good.substr(0, cut), "cut.json"), bench::BenchError) << cut;
  for (int trial = 0; trial < 500; ++trial) {
    std::string bad = good;
    bad[gen() % bad.size()] = static_cast<char>(gen() % 128);
    try {
      bench::parse_benchmark(bad, "flip.json");
    } catch (const bench::BenchError&) {
    }  // either outcome is fine; anything else escaping (or a crash) fails the test
  }
}

TEST(BenchValidate, NotJsonAndMissingFile) {
  EXPECT_THROW(bench::parse_benchmark("{\"version\": ", "trunc.json"), bench::BenchError);
  EXPECT_THROW(bench::parse_benchmark("[]", "array.json"), bench::BenchError);
  EXPECT_THROW(bench::load_benchmark("/nonexistent/benchmark.json"), std::exception);
}

TEST(BenchValidate, CliRejectsABrokenFileNamingTheField) {
  test::ScratchDir dir;
  json doc = valid_doc();
  doc["samples"][0]["probes"][0].erase("gold_answer");
  io::atomic_write_file(dir / "b.json", doc.dump());
  const auto r = test::run_tttmem("build-benchmark --validate '" + (dir / "b.json").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("sample L1-0000 probe P1: missing field 'gold_answer'"),
            std::string::npos)
      << r.output;
}

}  // namespace
