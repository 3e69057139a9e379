// bench: the conversation-memory benchmark. Generates the published v1 file byte for byte
// (SPEC.md S1), a corrected v2, and loads/validates either for `run` and
// `evaluate`. Torch-free.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tttmem::tokenizer {
class Tokenizer;
}

namespace tttmem::bench {

// Every bad benchmark file or option: the message names the file, sample and field.
struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Fact {
  std::string fact_id;  // F1, F2, ...
  std::string fact_text;
  std::string category;  // one of kFactCategories
  std::string slot;
  std::optional<std::int64_t> offset;  // v2: code-point offset of the value's first mention
};

struct Probe {
  std::string probe_id;  // P<k> (L1/L3) or C<j> (L2); "Q" for a RULER sample's one question
  std::string question;
  std::string gold_answer;
  std::vector<std::string> required_facts;
  std::vector<std::string> aliases;  // RULER: every reference, gold_answer first; else empty
};

struct Sample {
  std::string sample_id;
  int level = 0;  // 1 single fact, 2 composed, 3 with distractor
  std::string skeleton_id;
  std::string conversation;
  std::vector<Fact> facts;
  std::vector<Probe> probes;
  std::optional<std::string> distractor;          // level 3 only
  std::optional<std::int64_t> distractor_target;  // v2, level 3: the requested length
  std::optional<std::int64_t> distractor_length;  // v2, level 3: the length reached
  // A RULER sample (a file of build-benchmark --format ruler, read as a benchmark): its task and
  // context length; `conversation` holds its document, its one probe the question. Level 0.
  std::string task;
  std::int64_t context_length = 0;
};

struct Benchmark {
  std::string version;  // "v1", "v2", or "ruler" (build-benchmark --format ruler's file)
  std::uint64_t seed = 0;
  int n_samples_per_level = 0;
  std::string distractor_unit;  // v2: "tokens" or "chars"; v1: "" (chars, implicitly)
  // v2: which templates, value pools and distractor passages the samples draw from ("train",
  // "test" or "all"), and whether each level has conversations of its own. Files written before
  // these fields existed read as "all" and false.
  std::string split;
  bool independent_levels = false;
  // ruler: the file's generation budget for its task (RULER's; HELMET's 20). 0: none (v1, v2).
  std::int64_t tokens_to_generate = 0;
  std::vector<Sample> samples;
};

inline constexpr std::array<std::string_view, 7> kFactCategories{
    "person", "project", "temporal", "numeric", "relational", "spatial", "preference"};

// The three fixed distractor essays of the v1 generator, in the generator's order.
const std::array<std::string_view, 3>& distractor_seed_passages();

std::size_t count_code_points(std::string_view utf8);

// Length of a text in the distractor's unit (tokens or code points). Must be monotone in prefix
// length closely enough that truncation by bisection lands on the largest fitting prefix.
struct LengthMeasure {
  std::string unit;  // "tokens" or "chars"
  std::function<std::size_t(std::string_view)> length;
};
LengthMeasure code_point_measure();
// Tokens of `tok` (special-token text encoded as ordinary text); `tok` must outlive the measure.
LengthMeasure token_measure(const tokenizer::Tokenizer& tok);

// The most samples per level generate() makes or a benchmark file may declare: 100x the
// published benchmark, and a bound on memory (each sample holds a conversation and probes).
inline constexpr int kMaxSamplesPerLevel = 10'000;

// v2's distractor passages (data::distractor_passage 0..N-1): half to each split.
inline constexpr std::uint64_t kDistractorPassages = 800;

struct GenerateOptions {
  std::uint64_t seed = 42;
  int samples_per_level = 100;
  std::string format = "v1";  // "v1" (the published file) or "v2" (fixes, see DECISIONS.md)
  // v2 only:
  std::vector<int> levels{1, 2, 3};
  std::vector<std::int64_t> distractor_lengths{2048};  // one L3 set per length
  LengthMeasure measure = code_point_measure();
  // "train": templates SK-1..SK-5 and one half of every value pool and of the distractor
  // passages; "test": SK-6..SK-8 and the other halves; "all": everything.
  std::string split = "all";
  bool independent_levels = true;  // L2 and L3 get conversations of their own
};

// Generates the benchmark. v1 ignores the v2-only options and reproduces build_benchmark.py.
Benchmark generate(const GenerateOptions& options);

// The exact bytes the original would write (json.dumps(indent=2, ensure_ascii=False)).
std::string to_json(const Benchmark& benchmark);

// Parses and validates; `source` names the file in errors. Checks: types of every field, known
// version and level, unique sample ids, unique fact and probe ids per sample, a gold answer on
// every probe, required facts that exist, every fact probed (levels 1 and 3; level 2 carries the
// whole L1 fact list as context), distractor present exactly on level 3.
Benchmark parse_benchmark(std::string_view json_text, const std::string& source);
Benchmark load_benchmark(const std::filesystem::path& path);

// Counts for `build-benchmark --validate` and the generator's summary.
struct LevelStats {
  int samples = 0;
  int probes = 0;
  int facts = 0;
  std::map<std::string, int> facts_by_category;
  std::int64_t distractor_chars = 0;  // sum over the level's samples
};
struct Stats {
  std::map<int, LevelStats> by_level;
  int samples = 0, probes = 0, facts = 0;
};
Stats compute_stats(const Benchmark& benchmark);

// Mean/min/max of a length over a set of texts.
struct LengthSummary {
  std::size_t count = 0;
  double mean = 0;
  std::size_t min = 0, max = 0;
};
// conversation, question (by level), gold, distractor: each measured with `length`.
std::map<std::string, LengthSummary> length_stats(
    const Benchmark& benchmark, const std::function<std::size_t(std::string_view)>& length);

// The generator's stdout summary (SPEC.md S1.1): file, per-level counts, L1 category distribution.
std::string summary_text(const Benchmark& benchmark, const std::string& path);
// The validator's report: counts by level and category (and length statistics when given).
std::string validation_report(const Benchmark& benchmark,
                              const std::map<std::string, LengthSummary>& token_lengths);

}  // namespace tttmem::bench
