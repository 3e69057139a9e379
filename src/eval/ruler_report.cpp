// The RULER report (SPEC.md `ruler`): results of the study's modes (or any condition) on a RULER
// benchmark, scored both ways and grouped by task, context length and condition.
#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <tuple>

#include "tttmem/eval.h"
#include "tttmem/helmet.h"
#include "tttmem/ruler.h"

namespace tttmem::eval {

std::vector<RulerCell> ruler_cells(const std::vector<ConditionResult>& results,
                                   const bench::Benchmark& benchmark,
                                   const BootstrapOptions& options) {
  if (benchmark.version != "ruler")
    throw EvalError("a RULER report needs a RULER benchmark (build-benchmark --format ruler), "
                    "got a " + benchmark.version + " benchmark");
  struct Sums {
    Bucket bucket;  // em carries any-of, f1 string_match_all: the bootstrap resamples both
    double ingest_seconds = 0, answer_seconds = 0;
    std::int64_t timed = 0;
  };
  std::vector<RulerCell> cells;
  for (const ConditionResult& result : results) {
    std::map<std::pair<std::string, std::int64_t>, Sums> by_task_length;
    for (const SampleResult& s : result.samples) {
      const bench::Sample& sample = benchmark.samples.at(s.sample_index);
      for (const Prediction& p : s.predictions) {
        const bench::Probe& probe = sample.probes.front();
        // HELMET's ICL labels are integer ids: scored by exact label, both ways.
        const bool label = sample.task == helmet::kIclTask;
        const double any = (label ? ruler::label_match(p.predicted, probe.gold_answer)
                                  : ruler::any_of_match(p.predicted, probe.aliases))
                               ? 1.0
                               : 0.0;
        const double all = label ? any : ruler::string_match_all(p.predicted, probe.aliases);
        Sums& sums = by_task_length[{sample.task, sample.context_length}];
        sums.bucket.n += 1;
        sums.bucket.em_sum += any;
        sums.bucket.f1_sum += all;
        sums.bucket.strict_sum += any;
        sums.bucket.clusters.push_back({s.sample_index, s.sample_index, 1, any, all, any});
        if (p.seconds) {
          sums.answer_seconds += *p.seconds;
          sums.ingest_seconds += p.ingest_seconds.value_or(0.0);
          ++sums.timed;
        }
      }
    }
    for (const auto& [key, sums] : by_task_length) {
      RulerCell cell;
      cell.task = key.first;
      cell.length = key.second;
      cell.condition = result.name;
      cell.n = sums.bucket.n;
      cell.any_of = sums.bucket.em();
      cell.string_match_all = sums.bucket.f1();
      if (options.resamples > 0) {
        const BucketIntervals ci = bootstrap(sums.bucket, options);
        cell.any_of_ci = ci.em;
        cell.string_match_all_ci = ci.f1;
      }
      if (sums.timed > 0) {
        const auto timed = static_cast<double>(sums.timed);
        cell.mean_ingest_seconds = sums.ingest_seconds / timed;
        cell.mean_answer_seconds = sums.answer_seconds / timed;
        cell.mean_seconds = *cell.mean_ingest_seconds + *cell.mean_answer_seconds;
      }
      cell.peak_device_bytes = result.peak_device_bytes;
      cells.push_back(std::move(cell));
    }
  }
  // Task, length, then the conditions in the order given (report order).
  std::map<std::string, std::size_t> rank;
  for (std::size_t i = 0; i < results.size(); ++i) rank[results[i].name] = i;
  std::stable_sort(cells.begin(), cells.end(), [&](const RulerCell& a, const RulerCell& b) {
    return std::tie(a.task, a.length, rank[a.condition]) < std::tie(b.task, b.length, rank[b.condition]);
  });
  return cells;
}

namespace {

nlohmann::ordered_json interval_json(const std::optional<Interval>& ci) {
  if (!ci) return nullptr;
  return nlohmann::ordered_json::array({ci->lo, ci->hi});
}

template <typename T>
nlohmann::ordered_json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * v);
  return buf;
}

std::string with_interval(double v, const std::optional<Interval>& ci) {
  return ci ? percent(v) + " [" + percent(ci->lo) + ", " + percent(ci->hi) + "]" : percent(v);
}

}  // namespace

nlohmann::ordered_json ruler_report_json(const std::vector<RulerCell>& cells,
                                         const BootstrapOptions& options,
                                         const std::string& command) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const RulerCell& c : cells)
    rows.push_back({{"task", c.task},
                    {"length", c.length},
                    {"condition", c.condition},
                    {"n", c.n},
                    {"any_of", c.any_of},
                    {"any_of_ci95", interval_json(c.any_of_ci)},
                    {"string_match_all", c.string_match_all},
                    {"string_match_all_ci95", interval_json(c.string_match_all_ci)},
                    {"mean_seconds", optional_json(c.mean_seconds)},
                    {"mean_ingest_seconds", optional_json(c.mean_ingest_seconds)},
                    {"mean_answer_seconds", optional_json(c.mean_answer_seconds)},
                    {"peak_device_bytes", optional_json(c.peak_device_bytes)}});
  return {{"benchmark_format", "ruler"},
          {"ci_unit", "sample"},
          {"bootstrap_resamples", options.resamples},
          {"bootstrap_seed", options.seed},
          {"command", command},
          {"cells", rows}};
}

std::string ruler_markdown(const std::vector<RulerCell>& cells, const std::string& command) {
  std::ostringstream s;
  s << "`" << command << "`\n\n"
    << "| task | length | condition | n | any-of % [95% CI] | string_match_all % [95% CI] | "
       "mean s (ingest + answer) | peak MiB |\n|---|---|---|---|---|---|---|---|\n";
  for (const RulerCell& c : cells) {
    char seconds[64] = "not measured", peak[32] = "not measured";
    if (c.mean_seconds)
      std::snprintf(seconds, sizeof seconds, "%.3f (%.3f + %.3f)", *c.mean_seconds,
                    *c.mean_ingest_seconds, *c.mean_answer_seconds);
    if (c.peak_device_bytes)
      std::snprintf(peak, sizeof peak, "%.0f", static_cast<double>(*c.peak_device_bytes) / (1 << 20));
    s << "| " << c.task << " | " << c.length << " | " << c.condition << " | " << c.n << " | "
      << with_interval(c.any_of, c.any_of_ci) << " | "
      << with_interval(c.string_match_all, c.string_match_all_ci) << " | " << seconds << " | "
      << peak << " |\n";
  }
  s << "\nIntervals: percentile bootstrap over samples (each RULER sample has its own haystack "
       "and needles). Seconds: an example's share of its ingestion forward plus its answer, "
       "under the run's batching. Peak: the device allocator's peak over the condition, weights "
       "included (CUDA runs only).\n";
  return s.str();
}

}  // namespace tttmem::eval
