// `tttmem evaluate` through the binary: the files it writes, the headline on synthetic
// conditions whose scores are known, missing conditions, and bad input (exit 1).
#include <gtest/gtest.h>

#include <cstdio>

#include "eval_test_util.h"
#include "tttmem/eval.h"

namespace tttmem::test {
namespace {

using nlohmann::json;
using OJ = nlohmann::ordered_json;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::vector<std::string> kSamples{"L1-0000", "L1-0001", "L1-0002", "L2-0000", "L2-0001",
                                        "L2-0002", "L3-0000", "L3-0001", "L3-0002"};

// condition_<name>.jsonl over `samples`, answering correctly on the samples in `correct`.
void write_condition(const std::filesystem::path& dir, const std::string& name,
                     const std::vector<std::string>& samples,
                     const std::vector<std::string>& correct,
                     const bench::Benchmark& benchmark = v1_benchmark()) {
  std::string out;
  for (const bench::Sample& s : benchmark.samples) {
    if (std::find(samples.begin(), samples.end(), s.sample_id) == samples.end()) continue;
    const bool right = std::find(correct.begin(), correct.end(), s.sample_id) != correct.end();
    // Reverse probe order: completion order is not benchmark order.
    for (auto p = s.probes.rbegin(); p != s.probes.rend(); ++p)
      out += json{{"sample_id", s.sample_id},
                  {"level", s.level},
                  {"probe_id", p->probe_id},
                  {"question", p->question},
                  {"gold", p->gold_answer},
                  {"predicted", right ? p->gold_answer + "。\n问题：" : "不知道"},
                  {"output_ids", json::array()},
                  {"prompt_tokens", 50},
                  {"generated_tokens", 8},
                  {"stop_reason", "max_new_tokens"},
                  {"seconds", 0.1}}
                 .dump() +
             "\n";
  }
  io::atomic_write_file(dir / ("condition_" + name + ".jsonl"), out);
}

std::int64_t probes_of(const std::vector<std::string>& samples) {
  std::int64_t n = 0;
  for (const bench::Sample& s : v1_benchmark().samples)
    if (std::find(samples.begin(), samples.end(), s.sample_id) != samples.end())
      n += static_cast<std::int64_t>(s.probes.size());
  return n;
}

CommandResult evaluate(const std::filesystem::path& results, const std::filesystem::path& out,
                       const std::string& extra = "") {
  return run_tttmem("evaluate --results '" + results.string() + "' --out '" + out.string() +
                    "' --benchmark '" + v1_benchmark_path().string() + "' --bootstrap 200" + extra);
}

TEST(EvalCli, AllConditionsGiveTheSeedsReportAndFigures) {
  const ScratchDir dir;
  const auto results = dir / "results", out = dir / "out";
  std::filesystem::create_directories(results);
  write_condition(results, "a", kSamples, kSamples);
  write_condition(results, "b", kSamples, {"L1-0000", "L3-0001"});
  write_condition(results, "c", kSamples, {});
  write_condition(results, "d", {"L3-0000", "L3-0001", "L3-0002"}, {});
  write_condition(results, "b_scaled_0p5", kSamples, {"L2-0001"});
  write_condition(results, "scroll", kSamples, {"L1-0000", "L2-0001"});
  const CommandResult r = evaluate(results, out);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const OJ report = OJ::parse(io::read_file(out / "report.json"));
  const OJ seed = OJ::parse(io::read_file(seed_fixture("seed_report.json")));
  // The seed's headline keys first, in its order.
  std::vector<std::string> ours, theirs;
  for (const auto& [k, _] : report["headline"].items()) ours.push_back(k);
  for (const auto& [k, _] : seed["headline"].items()) theirs.push_back(k);
  ASSERT_GE(ours.size(), theirs.size());
  EXPECT_EQ(std::vector<std::string>(ours.begin(), ours.begin() + theirs.size()), theirs);
  std::vector<std::string> conditions;
  for (const auto& [k, _] : report["by_condition"].items()) conditions.push_back(k);
  EXPECT_EQ(conditions, (std::vector<std::string>{"a", "b", "c", "d", "scroll", "b_scaled_0p5"}));

  const auto& h = report["headline"];
  const double n = static_cast<double>(probes_of(kSamples));
  const double em_b = static_cast<double>(probes_of({"L1-0000", "L3-0001"})) / n;
  const double em_b_l3 = static_cast<double>(probes_of({"L3-0001"})) /
                         static_cast<double>(probes_of({"L3-0000", "L3-0001", "L3-0002"}));
  EXPECT_EQ(h["em_a_context_baseline"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(h["em_b_ttt_memory"].get<double>(), em_b);
  EXPECT_EQ(h["em_c_no_memory"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(h["memory_efficiency_ratio"].get<double>(), em_b);
  EXPECT_DOUBLE_EQ(h["lift_over_no_memory"].get<double>(), em_b);
  EXPECT_EQ(h["verdict"], "NEGATIVE — fast weights do not substitute for context under this setup");
  EXPECT_DOUBLE_EQ(h["em_b_level3"].get<double>(), em_b_l3);
  EXPECT_EQ(h["em_d_with_distractor"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(h["distractor_decay_rate"].get<double>(), -1.0);
  EXPECT_DOUBLE_EQ(h["em_b_minus_c"]["diff"].get<double>(), em_b);
  EXPECT_EQ(h["em_b_minus_c"]["n_samples"], 9);
  // The 9 samples are 3 conversations at three levels each: the bootstrap's unit.
  EXPECT_EQ(h["em_b_minus_c"]["n_conversations"], 3);
  EXPECT_DOUBLE_EQ(h["em_a_minus_b"]["diff"].get<double>(), 1.0 - em_b);
  EXPECT_DOUBLE_EQ(h["em_b_scaled_0p5_minus_c"]["diff"].get<double>(),
                   static_cast<double>(probes_of({"L2-0001"})) / n);
  const double em_scroll = static_cast<double>(probes_of({"L1-0000", "L2-0001"})) / n;
  EXPECT_DOUBLE_EQ(h["em_scroll_minus_c"]["diff"].get<double>(), em_scroll);
  EXPECT_DOUBLE_EQ(h["em_scroll_minus_b"]["diff"].get<double>(), em_scroll - em_b);
  EXPECT_EQ(h["em_scroll_minus_b"]["n_samples"], 9);
  const double lo = h["em_b_minus_c"]["ci95"][0], hi = h["em_b_minus_c"]["ci95"][1];
  EXPECT_LE(lo, em_b);
  EXPECT_GE(hi, em_b);
  EXPECT_GE(lo, 0.0);  // B is never worse than C on any sample

  const auto& a = report["by_condition"]["a"];
  EXPECT_EQ(a["overall"]["n"], probes_of(kSamples));
  EXPECT_EQ(a["overall"]["strict_em"].get<double>(), 1.0);  // the answer's first line is the gold
  EXPECT_EQ(a["overall"]["em_ci95"], json::array({1.0, 1.0}));
  EXPECT_EQ(a["n_samples"], 9);
  EXPECT_EQ(a["n_conversations"], 3);
  EXPECT_EQ(a["ci_unit"], "conversation");
  EXPECT_EQ(report["bootstrap"]["unit"], "conversation");
  // B / A over the same resampled conversations: A is 1 on every one, so the interval is B's.
  EXPECT_EQ(h["memory_efficiency_ratio_ci95"], report["by_condition"]["b"]["overall"]["em_ci95"]);
  EXPECT_EQ(a["degeneracy"]["stop_reasons"]["max_new_tokens"], probes_of(kSamples));
  EXPECT_EQ(report["benchmark"]["n_probes"], 2617);
  EXPECT_EQ(report["bootstrap"]["resamples"], 200);
  EXPECT_TRUE(contains(report["warnings"].dump(), "condition a covers 9 of 300 benchmark samples"));

  const std::string md = io::read_file(out / "results.md");
  EXPECT_TRUE(contains(md, "| condition | conversations | samples | probes | EM (containment)"))
      << md;
  EXPECT_TRUE(contains(md, "bootstrap over conversations")) << md;
  EXPECT_TRUE(contains(md, "| A | 3 | 9 | ")) << md;
  EXPECT_TRUE(contains(md, "| b_scaled_0p5 | 3 | 9 | ")) << md;
  EXPECT_TRUE(contains(md, "| scroll | 3 | 9 | ")) << md;
  EXPECT_TRUE(contains(md, "- paired EM(scroll) − EM(C) over 9 common samples (3 conversations)"))
      << md;
  EXPECT_TRUE(contains(r.output, "verdict: NEGATIVE")) << r.output;
  // The ratio with its interval, in results.md and on the console.
  const OJ& ratio_ci = h["memory_efficiency_ratio_ci95"];
  char ratio[64];
  std::snprintf(ratio, sizeof ratio, "%.4f [%.4f, %.4f]", em_b, ratio_ci[0].get<double>(),
                ratio_ci[1].get<double>());
  EXPECT_TRUE(contains(md, std::string("- memory_efficiency_ratio = EM(B) / EM(A) = ") + ratio))
      << md;
  EXPECT_TRUE(contains(r.output, std::string("memory_efficiency_ratio (EM B / EM A): ") + ratio))
      << r.output;

  if (run_command("command -v gnuplot").exit_code == 0) {
    for (const char* fig : {"fig1_em_by_condition_level", "fig2_em_heatmap", "fig3_position_decay",
                            "fig4_distractor_effect"})
      for (const char* ext : {".gp", ".png", ".svg"}) {
        const auto path = out / "figures" / (std::string(fig) + ext);
        EXPECT_TRUE(std::filesystem::is_regular_file(path)) << path;
        EXPECT_GT(std::filesystem::file_size(path), 200u) << path;
      }
    const std::string png = io::read_file(out / "figures" / "fig1_em_by_condition_level.png");
    EXPECT_EQ(png.substr(1, 3), "PNG");
  }
}

// --ci-unit sample (the seed's unit) is named wherever the intervals are; the counts are the
// same, and the samples of a conversation drawn apart give another interval.
TEST(EvalCli, SampleUnitIsNamedWithItsIntervals) {
  const ScratchDir dir;
  write_condition(dir.path(), "b", kSamples, {"L1-0000", "L3-0001"});
  ASSERT_EQ(evaluate(dir.path(), dir / "conversation").exit_code, 0);
  CommandResult r = evaluate(dir.path(), dir / "sample", " --ci-unit sample");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const OJ report = OJ::parse(io::read_file(dir / "sample" / "report.json"));
  const OJ& b = report["by_condition"]["b"];
  EXPECT_EQ(report["bootstrap"]["unit"], "sample");
  EXPECT_EQ(b["ci_unit"], "sample");
  EXPECT_EQ(b["n_samples"], 9);
  EXPECT_EQ(b["n_conversations"], 3);
  const OJ by_conversation =
      OJ::parse(io::read_file(dir / "conversation" / "report.json"))["by_condition"]["b"];
  EXPECT_EQ(b["overall"]["em"], by_conversation["overall"]["em"]);
  EXPECT_NE(b["overall"]["em_ci95"], by_conversation["overall"]["em_ci95"]);
  const std::string md = io::read_file(dir / "sample" / "results.md");
  EXPECT_TRUE(contains(md, "--ci-unit sample` (")) << md;
  EXPECT_TRUE(contains(md, "percentile bootstrap over samples, 200 resamples")) << md;

  r = evaluate(dir.path(), dir / "probe", " --ci-unit probe");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--ci-unit")) << r.output;
}

TEST(EvalCli, V2BucketsByFactPositionAndDistractorLength) {
  const ScratchDir dir;
  const auto bench_path = dir / "v2.json";
  ASSERT_EQ(run_tttmem("build-benchmark --format v2 --samples-per-level 2 --levels 1,3 "
                       "--distractor-tokens 0,256 --out '" +
                       bench_path.string() + "'")
                .exit_code,
            0);
  const bench::Benchmark v2 = bench::load_benchmark(bench_path);
  std::vector<std::string> l3, right;
  std::int64_t fact_mentions = 0;
  for (const bench::Sample& s : v2.samples) {
    if (s.level != 3) continue;
    l3.push_back(s.sample_id);
    if (s.distractor_target == 256) right.push_back(s.sample_id);
    for (const bench::Probe& p : s.probes)
      fact_mentions += static_cast<std::int64_t>(p.required_facts.size());
  }
  ASSERT_EQ(l3.size(), 4u);
  write_condition(dir.path(), "d", l3, right, v2);
  const CommandResult r =
      run_tttmem("evaluate --bootstrap 50 --results '" + dir.path().string() + "' --out '" +
                 (dir / "out").string() + "' --benchmark '" + bench_path.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const OJ d = OJ::parse(io::read_file(dir / "out" / "report.json"))["by_condition"]["d"];
  EXPECT_EQ(d["by_distractor_length"]["0"]["em"].get<double>(), 0.0);
  EXPECT_EQ(d["by_distractor_length"]["256"]["em"].get<double>(), 1.0);
  std::int64_t n = 0;
  for (const auto& [_, bucket] : d["by_fact_position"].items())
    n += bucket["n"].get<std::int64_t>();
  EXPECT_EQ(n, fact_mentions);
  EXPECT_TRUE(contains(io::read_file(dir / "out" / "results.md"),
                       "- EM(D) by distractor length (chars): 0: 0.0000"));
  if (run_command("command -v gnuplot").exit_code == 0) {
    EXPECT_TRUE(
        std::filesystem::is_regular_file(dir / "out" / "figures" / "fig5_distractor_decay.png"));
  }
}

TEST(EvalCli, MissingConditionsGiveNullsAndWarnings) {
  const ScratchDir dir;
  std::filesystem::copy_file(seed_fixture("seed_condition_c.json"), dir / "condition_c.json");
  const CommandResult r = evaluate(dir.path(), dir / "out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "condition a is missing")) << r.output;
  EXPECT_TRUE(contains(r.output, "memory_efficiency_ratio and verdict are null")) << r.output;
  const OJ report = OJ::parse(io::read_file(dir / "out" / "report.json"));
  EXPECT_TRUE(report["headline"]["memory_efficiency_ratio"].is_null());
  EXPECT_TRUE(report["headline"]["verdict"].is_null());
  EXPECT_EQ(report["by_condition"]["c"]["overall"]["n"], 2617);
}

TEST(EvalCli, WithoutGnuplotTheReportIsStillWritten) {
  const ScratchDir dir;
  std::filesystem::copy_file(seed_fixture("seed_condition_c.json"), dir / "condition_c.json");
  const CommandResult r =
      run_command("PATH=/nonexistent '" TTTMEM_BINARY "' evaluate --bootstrap 0 --results '" +
                  dir.path().string() + "' --out '" + (dir / "out").string() + "' --benchmark '" +
                  v1_benchmark_path().string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "gnuplot is not installed: no figures written")) << r.output;
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / "out" / "report.json"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / "out" / "results.md"));
  EXPECT_FALSE(std::filesystem::exists(dir / "out" / "figures"));
}

TEST(EvalCli, BadInputExitsOneWithAClearMessage) {
  const ScratchDir dir;
  const auto out = dir / "out";
  // An empty folder.
  CommandResult r = evaluate(dir.path(), out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "no result files")) << r.output;
  // A malformed line: file and line named.
  write_condition(dir.path(), "b", {"L1-0000"}, {});
  std::string text = io::read_file(dir / "condition_b.jsonl");
  text.insert(text.find('\n', text.find('\n') + 1) + 1, "{\"sample_id\": \"L1-0000\",\n");
  io::atomic_write_file(dir / "condition_b.jsonl", text);
  r = evaluate(dir.path(), out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, (dir / "condition_b.jsonl").string() + ": line 3: invalid JSON"))
      << r.output;
  // Results of another benchmark.
  write_condition(dir.path(), "b", {"L1-0000"}, {});
  text = io::read_file(dir / "condition_b.jsonl");
  text.replace(text.find("\"L1-0000\""), 9, "\"L1-0500\"");
  io::atomic_write_file(dir / "condition_b.jsonl", text);
  r = evaluate(dir.path(), out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "sample 'L1-0500' is not in the benchmark")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out / "report.json"));
  // No benchmark given, and no run.json naming one.
  write_condition(dir.path(), "b", {"L1-0000"}, {});
  r = run_tttmem("evaluate --results '" + dir.path().string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "pass --benchmark FILE")) << r.output;
  // run.json naming it is enough.
  io::atomic_write_file(
      dir / "run.json",
      json{{"benchmark", v1_benchmark_path().string()}, {"held_out", true}}.dump());
  r = run_tttmem("evaluate --bootstrap 0 --results '" + dir.path().string() + "' --out '" +
                 out.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const OJ report = OJ::parse(io::read_file(out / "report.json"));
  EXPECT_EQ(report["held_out"], true);
  EXPECT_FALSE(report["by_condition"]["b"]["overall"].contains("em_ci95"));
}

}  // namespace
}  // namespace tttmem::test
