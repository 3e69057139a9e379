// tttmem build-benchmark: generate the conversation-memory benchmark (v1 byte for byte, or v2),
// or validate a benchmark file and print its counts.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "flag_checks.h"
#include "tttmem/bench.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/tokenizer.h"

namespace tttmem::cli {

namespace {

struct BuildBenchmarkOptions {
  std::string out = "benchmark_v1.json";
  int samples_per_level = 100;
  std::string format = "v1";
  std::vector<int> levels{1, 2, 3};
  std::vector<std::int64_t> distractor_lengths{2048};
  std::string split = "all";
  bool independent_levels = true;
  std::string tokenizer;
  std::string validate;
};

}  // namespace

Action add_build_benchmark(CLI::App& app, const GlobalOptions& global) {
  auto opts = std::make_shared<BuildBenchmarkOptions>();
  CLI::App* sub = app.add_subcommand(
      "build-benchmark",
      "Generate the conversation-memory benchmark (v1: the published file byte for byte; v2: "
      "fixed), or --validate a benchmark file. The seed is the global --seed.");
  sub->add_option("--out", opts->out, "Output JSON file")->check(output_file())->capture_default_str();
  sub->add_option("--samples-per-level,--n-per-level", opts->samples_per_level,
                  "Samples per level (L2/L3 derive from the L1 samples)")
      ->check(whole_number(1, bench::kMaxSamplesPerLevel))
      ->capture_default_str();
  sub->add_option("--format", opts->format,
                  "v1 (the published benchmark) or v2 (the fixes in DECISIONS.md)")
      ->check(CLI::IsMember({"v1", "v2"}))
      ->capture_default_str();
  sub->add_option("--levels", opts->levels, "v2: levels to emit, e.g. 1,3")
      ->delimiter(',')
      ->check(CLI::Range(1, 3));
  sub->add_option(
         "--distractor-tokens", opts->distractor_lengths,
         "v2: L3 distractor lengths, one L3 set per length, e.g. 0,256,1024,4096,16384; in "
         "tokens of --tokenizer, in characters without one")
      ->delimiter(',')
      ->check(whole_number(0, INT64_MAX));
  sub->add_option("--split", opts->split,
                  "v2: train (templates SK-1..SK-5, one half of every value pool and of the "
                  "distractor passages), test (SK-6..SK-8, the other halves) or all")
      ->check(CLI::IsMember({"train", "test", "all"}))
      ->capture_default_str();
  sub->add_flag("--independent-levels,!--shared-levels", opts->independent_levels,
                "v2: levels 2 and 3 get conversations of their own (default); --shared-levels "
                "builds them from level 1's, as v1 does");
  sub->add_option("--tokenizer", opts->tokenizer,
                  "Tokenizer (.tiktoken, tokenizer.json, tokenizer.model or a model dir): v2 "
                  "distractor lengths in its tokens; with --validate, token-length statistics");
  sub->add_option("--validate", opts->validate,
                  "Validate this benchmark file and print its counts instead of generating")
      ->check(CLI::ExistingFile);

  return [opts, &global]() -> int {
    std::unique_ptr<tokenizer::Tokenizer> tok;
    if (!opts->tokenizer.empty()) tok = tokenizer::Tokenizer::load(opts->tokenizer);
    if (!opts->validate.empty()) {
      const bench::Benchmark b = bench::load_benchmark(opts->validate);
      std::map<std::string, bench::LengthSummary> token_lengths;
      if (tok) token_lengths = bench::length_stats(b, bench::token_measure(*tok).length);
      std::printf("%s: valid\n%s", opts->validate.c_str(),
                  bench::validation_report(b, token_lengths).c_str());
      return 0;
    }
    if (opts->format == "v1" && (opts->levels != std::vector<int>{1, 2, 3} ||
                                 opts->distractor_lengths != std::vector<std::int64_t>{2048} ||
                                 opts->split != "all" || !opts->independent_levels))
      throw bench::BenchError("--levels, --distractor-tokens, --split and --shared-levels need "
                              "--format v2 (v1 is fixed)");
    bench::GenerateOptions g;
    g.seed = global.seed;
    g.samples_per_level = opts->samples_per_level;
    g.format = opts->format;
    g.levels = opts->levels;
    g.distractor_lengths = opts->distractor_lengths;
    g.split = opts->split;
    g.independent_levels = opts->independent_levels;
    if (tok) {
      g.measure = bench::token_measure(*tok);
    } else if (g.format == "v2") {
      log::warn("build-benchmark: no --tokenizer given, v2 distractor lengths are in characters");
    }
    const bench::Benchmark b = bench::generate(g);
    io::atomic_write_file(opts->out, bench::to_json(b));
    std::printf("%s", bench::summary_text(b, opts->out).c_str());
    return 0;
  };
}

}  // namespace tttmem::cli
