// tttmem build-benchmark: generate the conversation-memory benchmark (v1 byte for byte, or v2),
// or a RULER-style synthetic task (--format ruler), or HELMET's RAG or ICL task from local files
// (--format helmet), or validate a benchmark file and print its counts.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "flag_checks.h"
#include "tttmem/bench.h"
#include "tttmem/helmet.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/ruler.h"
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
  // --format ruler and helmet
  std::string task;
  std::int64_t length = 0;
  int samples = 25;
  // --format helmet
  std::string data;
  std::string demos;
};

// The flags given on the command line, among `names`, joined for a message.
std::string given_flags(const CLI::App& sub, std::initializer_list<const char*> names) {
  std::string given;
  for (const char* name : names)
    if (sub.get_option(name)->count() > 0) given += (given.empty() ? "" : ", ") + std::string(name);
  return given;
}

// The flags --format ruler and helmet need, take and refuse; other formats take none of theirs.
void check_task_flags(const CLI::App& sub, const BuildBenchmarkOptions& opts) {
  const bool helmet_format = opts.format == "helmet";
  if (opts.format != "ruler" && !helmet_format) {
    const std::string given =
        given_flags(sub, {"--task", "--length", "--samples", "--data", "--demos"});
    if (!given.empty()) throw bench::BenchError(given + ": need --format ruler or helmet");
    return;
  }
  const std::string unused = given_flags(sub, {"--samples-per-level", "--levels",
                                               "--distractor-tokens", "--split",
                                               "--independent-levels", "--validate"});
  if (!unused.empty())
    throw bench::BenchError(
        unused + ": not used by --format " + opts.format + " (its flags: --task, " +
        (helmet_format ? "--data, --demos, " : "") + "--length, --samples, --tokenizer, --out)");
  if (const std::string files = given_flags(sub, {"--data", "--demos"});
      !helmet_format && !files.empty())
    throw bench::BenchError(files + ": need --format helmet");
  std::vector<const char*> needed{"--task", "--length", "--tokenizer", "--out"};
  if (helmet_format) needed.insert(needed.end(), {"--data", "--demos"});
  for (const char* flag : needed)
    if (sub.get_option(flag)->count() == 0)
      throw bench::BenchError("--format " + opts.format + " needs " + flag +
                              (std::string_view(flag) == "--demos"
                                   ? " (rag: the demo rows; icl: the train pool)"
                                   : " (lengths are tokens of --tokenizer)"));
  if ((opts.task == "rag" || opts.task == "icl") != helmet_format)
    throw bench::BenchError("--task " + opts.task + " is not a task of --format " + opts.format +
                            (helmet_format ? " (rag or icl)" : ""));
}

// --format ruler: the task's samples, filled to --length tokens of --tokenizer, written as one
// JSON document. The seed is the global --seed when given, else the study's 1337.
int build_ruler(const BuildBenchmarkOptions& opts, const tokenizer::Tokenizer& tok,
                std::uint64_t seed) {
  ruler::GenerateOptions g;
  g.task = ruler::parse_task(opts.task);
  g.length = opts.length;
  g.samples = opts.samples;
  g.seed = seed;
  g.count_tokens = bench::token_measure(tok).length;
  g.tokenizer = opts.tokenizer;
  const ruler::Benchmark b = ruler::generate(g);
  io::atomic_write_file(opts.out, ruler::to_json(b));
  const auto [shortest, longest] = std::minmax_element(
      b.samples.begin(), b.samples.end(), [](const ruler::Sample& x, const ruler::Sample& y) {
        return x.input_tokens < y.input_tokens;
      });
  std::printf(
      "%s: %zu %s samples at %lld tokens (seed %llu): input %lld..%lld tokens + %d for "
      "the answer\n",
      opts.out.c_str(), b.samples.size(), b.task.c_str(), static_cast<long long>(b.length),
      static_cast<unsigned long long>(b.seed), static_cast<long long>(shortest->input_tokens),
      static_cast<long long>(longest->input_tokens), b.tokens_to_generate);
  return 0;
}

// --format helmet: HELMET's RAG or ICL rows from local JSONL files, fitted to --length tokens of
// --tokenizer, written in the RULER file format. The seed is the global --seed (HELMET's 42).
int build_helmet(const BuildBenchmarkOptions& opts, const tokenizer::Tokenizer& tok,
                 std::uint64_t seed) {
  helmet::BuildOptions h;
  h.length = opts.length;
  h.samples = opts.samples;
  h.seed = seed;
  h.count_tokens = bench::token_measure(tok).length;
  h.tokenizer = opts.tokenizer;
  h.data_source = opts.data;
  h.demos_source = opts.demos;
  const ruler::Benchmark b =
      opts.task == "rag" ? helmet::build_rag(helmet::load_rag_jsonl(opts.data),
                                             helmet::load_rag_jsonl(opts.demos), h)
                         : helmet::build_icl(helmet::load_icl_jsonl(opts.data),
                                             helmet::load_icl_jsonl(opts.demos), h);
  io::atomic_write_file(opts.out, ruler::to_json(b));
  std::printf("%s: %zu %s samples at %lld tokens (seed %llu) + %d for the answer\n",
              opts.out.c_str(), b.samples.size(), b.task.c_str(), static_cast<long long>(b.length),
              static_cast<unsigned long long>(b.seed), b.tokens_to_generate);
  return 0;
}

}  // namespace

Action add_build_benchmark(CLI::App& app, const GlobalOptions& global) {
  auto opts = std::make_shared<BuildBenchmarkOptions>();
  CLI::App* sub = app.add_subcommand(
      "build-benchmark",
      "Generate the conversation-memory benchmark (v1: the published file byte for byte; v2: "
      "fixed), a RULER-style synthetic task (--format ruler), HELMET's RAG or ICL task from local "
      "files (--format helmet), or --validate a benchmark file. The seed is the global --seed "
      "(default 42; 1337, the RULER study's, for --format ruler).");
  sub->add_option("--out", opts->out, "Output JSON file")->check(output_file())->capture_default_str();
  sub->add_option("--samples-per-level,--n-per-level", opts->samples_per_level,
                  "Samples per level (L2/L3 derive from the L1 samples)")
      ->check(whole_number(1, bench::kMaxSamplesPerLevel))
      ->capture_default_str();
  sub->add_option("--format", opts->format,
                  "v1 (the published benchmark), v2 (the fixes in DECISIONS.md), ruler (a "
                  "RULER-style synthetic task: --task, --length, --samples, --tokenizer) or helmet "
                  "(HELMET's rag or icl task from local files: --data, --demos, as ruler)")
      ->check(CLI::IsMember({"v1", "v2", "ruler", "helmet"}))
      ->capture_default_str();
  std::string task_list;
  for (const std::string& name : ruler::task_names())
    task_list += (task_list.empty() ? "" : ", ") + name;
  sub->add_option("--task", opts->task,
                  "ruler: the task, one of " + task_list + "; helmet: rag or icl")
      ->check(CLI::Validator(
          [task_list](const std::string& v) -> std::string {
            const auto names = ruler::task_names();
            if (std::find(names.begin(), names.end(), v) != names.end() || v == "rag" ||
                v == "icl")
              return {};
            return "unknown task '" + v + "': expected one of " + task_list +
                   " (ruler) or rag, icl (helmet)";
          },
          "TASK"));
  sub->add_option("--length", opts->length,
                  "ruler, helmet: tokens of --tokenizer for the input plus the task's answer "
                  "budget")
      ->check(whole_number(ruler::kMinLength, ruler::kMaxLength));
  sub->add_option("--samples", opts->samples, "ruler, helmet: samples to generate")
      ->check(whole_number(1, ruler::kMaxSamples))
      ->capture_default_str();
  sub->add_option("--data", opts->data,
                  "helmet: the test rows, a JSONL file in HELMET's format (rag: question, answers, "
                  "ctxs; icl: text, label)")
      ->check(CLI::ExistingFile);
  sub->add_option("--demos", opts->demos,
                  "helmet: rag: the demo rows (HELMET's train file, 2 shots per question); icl: "
                  "the train pool the demos are drawn from")
      ->check(CLI::ExistingFile);
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
                  "distractor lengths and ruler lengths in its tokens; with --validate, "
                  "token-length statistics");
  sub->add_option("--validate", opts->validate,
                  "Validate this benchmark file and print its counts instead of generating")
      ->check(CLI::ExistingFile);

  const CLI::Option* seed_flag = app.get_option("--seed");
  return [opts, &global, sub, seed_flag]() -> int {
    check_task_flags(*sub, *opts);
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
    if (opts->format == "ruler")
      return build_ruler(*opts, *tok, seed_flag->count() > 0 ? global.seed : ruler::kStudySeed);
    if (opts->format == "helmet") return build_helmet(*opts, *tok, global.seed);
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
