// eval: scores the result files of `tttmem run` (or of the seed) against the benchmark and writes
// report.json, figures and a Markdown table (SPEC.md `## eval`). Torch-free.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tttmem/bench.h"

namespace tttmem::eval {

// Every bad result file or folder: the message names the file (and line, sample, probe, field).
struct EvalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- Text scoring (SPEC.md `## eval`, "Scores") ----------------------------------------------

// The seed's normalisation, as code points: Python str.lower, each of the 82 punctuation code
// points -> one space, runs of Python `\s` -> one space, trimmed.
std::u32string normalize(std::string_view utf8);
std::u32string decode_utf8(std::string_view utf8);  // throws EvalError on invalid UTF-8
std::string encode_utf8(std::u32string_view text);
std::string python_strip(std::string_view utf8);  // str.strip(): Python whitespace, both ends
std::string first_line(std::string_view utf8);    // python_strip, then up to the first LF

// Containment EM: the normalised gold is non-empty and a substring of the normalised prediction.
bool contains_match(std::u32string_view norm_predicted, std::u32string_view norm_gold);
// Character F1 over code points (spaces count), 0 when either side is empty.
double char_f1(std::u32string_view norm_predicted, std::u32string_view norm_gold);

struct ProbeScore {
  double em = 0;         // containment (the seed's EM)
  double f1 = 0;         // character F1
  double strict_em = 0;  // normalised first line == normalised gold (non-empty)
};
ProbeScore score_probe(std::string_view predicted, std::string_view gold);

// The seed's analyze-variants "degenerate" test on a prediction: empty after strip, a character
// other than LF repeated >= 6 times in a row, or a 4..min(20, n/3) code-point chunk repeated
// >= 3 times back to back (n >= 12).
bool is_degenerate(std::string_view predicted);

// ---- Result files ------------------------------------------------------------------------------

struct Prediction {
  std::string probe_id, question, gold, predicted;
  std::optional<std::string> stop_reason;  // JSONL only
  std::optional<std::int64_t> generated_tokens;
  std::optional<double> seconds;  // JSONL only: the probe's wall time in the engine
  std::optional<double> ingest_seconds;  // JSONL only: its sample's share of the ingestion
};
struct SampleResult {
  std::size_t sample_index = 0;         // into Benchmark::samples
  std::vector<Prediction> predictions;  // benchmark probe order
};
struct ConditionResult {
  std::string name;                   // a, b, c, ..., a_prime_0p01 (set by load_condition)
  std::filesystem::path source;       // the file read
  std::vector<SampleResult> samples;  // benchmark order; samples absent from the file left out
  // The device's peak while the condition ran, from run.json (CUDA runs only).
  std::optional<std::int64_t> peak_device_bytes;
};

// The conditions reported by name, in report order: the condition table's kinds without a sweep
// (protocol::condition_kinds()). A sweep's conditions are ablations, <kind>_<scale>.
std::vector<std::string> main_condition_names();
// Condition names whose files (condition_<x>.jsonl or .json) exist in `dir`, in report order:
// main_condition_names(), then each sweep's ablations (a_prime_*, b_scaled_*) by numeric scale.
std::vector<std::string> discover_conditions(const std::filesystem::path& dir);
// The scale of an ablation name ("a_prime_0p05" -> 0.05), nullopt for the main conditions.
std::optional<double> ablation_scale(const std::string& name);

// Parses one result file against the benchmark. Every record must name a benchmark sample and
// probe with the benchmark's level, question and gold; no probe may repeat; a sample in the file
// must have all its probes. JSONL: one record per line (SPEC.md "run", Results), any order.
ConditionResult parse_jsonl(std::string_view text, const std::string& source,
                            const bench::Benchmark& benchmark);
// The seed's condition_<x>.json: [{sample_id, level, predictions: [{probe_id, question, gold,
// predicted}]}].
ConditionResult parse_seed_json(std::string_view text, const std::string& source,
                                const bench::Benchmark& benchmark);
// Reads condition_<name>.jsonl, else condition_<name>.json; when both exist they must agree.
ConditionResult load_condition(const std::filesystem::path& dir, const std::string& name,
                               const bench::Benchmark& benchmark);

// ---- Aggregation (seed-experiment semantics, SPEC.md `## eval`) --------------------------------

// Per-sample sums of one bucket, with the sample's conversation: the bootstrap resamples
// conversations (or samples) made of them.
struct Cluster {
  std::size_t sample_index = 0;
  std::size_t conversation = 0;  // index of the sample's conversation text in the benchmark
  std::int64_t n = 0;
  double em = 0, f1 = 0, strict_em = 0;
};
struct Interval {
  double lo = 0, hi = 0;
};
struct BucketIntervals {
  Interval em, f1, strict_em;
};
struct Bucket {
  std::int64_t n = 0;
  double em_sum = 0, f1_sum = 0, strict_sum = 0;  // summed probe by probe, in the seed's order
  std::vector<Cluster> clusters;                  // one per contributing sample, in order
  std::optional<BucketIntervals> ci;              // set by build_report
  void add(std::size_t sample_index, std::size_t conversation, const ProbeScore& score);
  double em() const { return em_sum / denominator(); }
  double f1() const { return f1_sum / denominator(); }
  double strict_em() const { return strict_sum / denominator(); }

 private:
  double denominator() const { return static_cast<double>(n > 0 ? n : 1); }
};
// Buckets keyed in first-occurrence order, as the seed's dicts are.
using Buckets = std::vector<std::pair<std::string, Bucket>>;
Bucket& bucket(Buckets& buckets, const std::string& key);
const Bucket* find_bucket(const Buckets& buckets, const std::string& key);

struct Degeneracy {
  std::int64_t n = 0;
  double exact_em = 0;      // stripped prediction == gold, byte for byte (analyze's "strict EM")
  double gold_in_pred = 0;  // raw substring containment, no normalisation
  double degenerate = 0;    // fraction is_degenerate
  double mean_chars = 0, median_chars = 0;  // code points of the stripped prediction
  std::vector<std::pair<std::string, std::int64_t>> stop_reasons;  // JSONL only, first seen order
  struct Example {
    std::string sample_id, probe_id, gold, predicted;
  };
  std::vector<Example> examples;  // 5 drawn as Python random.seed(42); random.sample
};

struct ConditionScores {
  std::string name;
  std::size_t n_samples = 0;
  std::size_t n_conversations = 0;  // distinct conversation texts among the samples
  Bucket overall;
  Buckets by_level, by_category, by_position;
  Buckets by_fact_position;      // v2 benchmarks (facts with offsets) only
  Buckets by_distractor_length;  // level-3 samples with a distractor_target (v2) only
  Degeneracy degeneracy;
};
ConditionScores score_condition(const ConditionResult& result, const bench::Benchmark& benchmark);

// ---- Bootstrap (DECISIONS.md `## eval`) -------------------------------------------------------

// What the bootstrap resamples: conversations (the text a sample ingests: the levels built from
// one conversation count once, as they are not independent) or samples (the seed's unit).
enum class CiUnit { conversation, sample };
std::string to_string(CiUnit unit);
CiUnit parse_ci_unit(const std::string& name);  // throws EvalError naming --ci-unit

struct BootstrapOptions {
  int resamples = 10000;
  std::uint64_t seed = 42;
  CiUnit unit = CiUnit::conversation;
};
// Percentile 95% interval of the ratio sum/n over units (options.unit) resampled with
// replacement, each unit the sum of its clusters.
BucketIntervals bootstrap(const Bucket& bucket, const BootstrapOptions& options);

// EM(x) - EM(y) over the samples both conditions scored, the same resampled units (their
// conversations, or the samples) on each side.
struct PairedDifference {
  std::string x, y;
  std::size_t n_samples = 0, n_conversations = 0;
  double em_x = 0, em_y = 0, diff = 0;
  double ratio = 0;       // em_x / max(em_y, 1e-6), the seed's guard
  Interval ci, ratio_ci;  // of diff and ratio, from the same resamples
};
std::optional<PairedDifference> paired_difference(const ConditionScores& x,
                                                  const ConditionScores& y,
                                                  const BootstrapOptions& options);

// ---- Report ------------------------------------------------------------------------------------

struct Report {
  std::vector<ConditionScores> conditions;    // report order, every bucket with its intervals
  // b-c, a-b, scroll-c, scroll-b, <ablation>-c where both are present
  std::vector<PairedDifference> differences;
  // B against A: memory_efficiency_ratio's interval (B / A over the same resampled units).
  std::optional<PairedDifference> efficiency;
  std::vector<std::string> warnings;
  BootstrapOptions bootstrap;
  std::string benchmark_version;
  std::string distractor_unit;  // v2: "tokens" or "chars"; v1: ""
  std::size_t benchmark_samples = 0, benchmark_probes = 0;
  nlohmann::ordered_json run_info;  // the results folder's run.json, null when absent
  std::string command;              // the command line that made the report (for results.md)
};

// Scores every condition and bootstraps the intervals; warnings name what is missing.
Report build_report(const std::vector<ConditionResult>& results, const bench::Benchmark& benchmark,
                    const BootstrapOptions& options);

// report.json: the seed's schema (headline, by_condition{overall, by_level, by_category,
// by_position}) in its key order, extra fields after the seed's in each object.
nlohmann::ordered_json report_json(const Report& report);
// The console summary: per condition `EM= F1= n=`, then the headline block.
std::string summary_text(const Report& report);
// A Markdown block for RESULTS.md: conditions with n, EM/strict EM/F1 and 95% CIs, by level.
std::string results_markdown(const Report& report);

// Writes figures/<name>.gp, .png and .svg with gnuplot. Returns false (after a warning) when
// gnuplot is not installed; throws EvalError when it fails on a script.
bool write_figures(const Report& report, const std::filesystem::path& figures_dir);

// ---- RULER report (SPEC.md `ruler`) ------------------------------------------------------------

// One (task, context length, condition) cell of RULER results: the study's any-of containment
// and RULER's string_match_all, means over samples with 95% percentile-bootstrap intervals (each
// sample its own unit: every sample has its own haystack and needles), the mean seconds an
// example took in the engine, split into its share of the ingestion and its answer (rows of a
// batch share the device; absent from the seed's files), and the condition's device peak.
struct RulerCell {
  std::string task, condition;
  std::int64_t length = 0, n = 0;
  double any_of = 0, string_match_all = 0;
  std::optional<Interval> any_of_ci, string_match_all_ci;
  std::optional<double> mean_seconds, mean_ingest_seconds, mean_answer_seconds;
  std::optional<std::int64_t> peak_device_bytes;
};
// Cells in task, length, then report order of the conditions. Throws EvalError unless
// `benchmark` is a RULER benchmark.
std::vector<RulerCell> ruler_cells(const std::vector<ConditionResult>& results,
                                   const bench::Benchmark& benchmark,
                                   const BootstrapOptions& options);
nlohmann::ordered_json ruler_report_json(const std::vector<RulerCell>& cells,
                                         const BootstrapOptions& options,
                                         const std::string& command);
std::string ruler_markdown(const std::vector<RulerCell>& cells, const std::string& command);
// accuracy_vs_context__<task> (any-of and string_match_all by length, a line per condition) and
// latency_vs_context (mean seconds by length, a line per condition), as write_figures.
bool write_ruler_figures(const std::vector<RulerCell>& cells,
                         const std::filesystem::path& figures_dir);

}  // namespace tttmem::eval
