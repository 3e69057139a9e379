// Aggregation as the seed's evaluate_condition (sums in its order, so the published numbers come
// out bit for bit), the analyze-variants degeneracy metrics, and the sample-clustered bootstrap.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "tttmem/eval.h"
#include "tttmem/protocol.h"
#include "tttmem/pycompat.h"

namespace tttmem::eval {

namespace {

constexpr const char* kPositions[] = {"front", "middle", "back"};

// Thirds as the seed cuts them: x < 1/3 front, x < 2/3 middle, else back (doubles compared).
const char* third(double x) {
  return x < 1.0 / 3.0 ? kPositions[0] : x < 2.0 / 3.0 ? kPositions[1] : kPositions[2];
}

// Python's random.sample(range(n), k) index sequence (CPython 3.11 Lib/random.py algorithm:
// a shrinking pool for small populations, rejection against the chosen set otherwise).
std::vector<std::size_t> python_sample(std::size_t n, std::size_t k, py::Random& rng) {
  std::size_t setsize = 21;
  if (k > 5)
    setsize += static_cast<std::size_t>(
        std::pow(4.0, std::ceil(std::log(static_cast<double>(k * 3)) / std::log(4.0))));
  std::vector<std::size_t> out;
  if (n <= setsize) {
    std::vector<std::size_t> pool(n);
    for (std::size_t i = 0; i < n; ++i) pool[i] = i;
    for (std::size_t i = 0; i < k; ++i) {
      const std::size_t j = rng.randbelow(n - i);
      out.push_back(pool[j]);
      pool[j] = pool[n - i - 1];
    }
  } else {
    std::vector<bool> selected(n, false);
    for (std::size_t i = 0; i < k; ++i) {
      std::size_t j = rng.randbelow(n);
      while (selected[j]) j = rng.randbelow(n);
      selected[j] = true;
      out.push_back(j);
    }
  }
  return out;
}

Degeneracy degeneracy_of(const ConditionResult& result, const bench::Benchmark& benchmark) {
  Degeneracy d;
  std::vector<std::pair<const Prediction*, const std::string*>> all;  // with its sample id
  std::vector<double> lengths;
  double exact = 0, gold_in = 0, degenerate = 0;
  for (const SampleResult& s : result.samples)
    for (const Prediction& p : s.predictions) {
      all.emplace_back(&p, &benchmark.samples[s.sample_index].sample_id);
      const std::string stripped = python_strip(p.predicted);
      exact += stripped == p.gold;
      gold_in += p.predicted.find(p.gold) != std::string::npos;
      degenerate += is_degenerate(p.predicted);
      lengths.push_back(static_cast<double>(bench::count_code_points(stripped)));
      if (p.stop_reason) {
        auto it = std::find_if(d.stop_reasons.begin(), d.stop_reasons.end(),
                               [&](const auto& e) { return e.first == *p.stop_reason; });
        if (it == d.stop_reasons.end())
          d.stop_reasons.emplace_back(*p.stop_reason, 1);
        else
          ++it->second;
      }
    }
  d.n = static_cast<std::int64_t>(all.size());
  if (all.empty()) return d;
  const double n = static_cast<double>(all.size());
  d.exact_em = exact / n;
  d.gold_in_pred = gold_in / n;
  d.degenerate = degenerate / n;
  double sum = 0;
  for (double len : lengths) sum += len;
  d.mean_chars = sum / n;
  std::sort(lengths.begin(), lengths.end());
  const std::size_t mid = lengths.size() / 2;
  d.median_chars = lengths.size() % 2 ? lengths[mid] : (lengths[mid - 1] + lengths[mid]) / 2;
  py::Random rng(42);  // analyze_phase_a.py: random.seed(42); random.sample(preds, 5)
  for (std::size_t i : python_sample(all.size(), std::min<std::size_t>(5, all.size()), rng)) {
    const auto& [p, sample_id] = all[i];
    d.examples.push_back({*sample_id, p->probe_id, p->gold, p->predicted});
  }
  return d;
}

// numpy.percentile's default (linear interpolation between order statistics).
double percentile(std::vector<double>& values, double q) {
  std::sort(values.begin(), values.end());
  const double h = (static_cast<double>(values.size()) - 1) * q;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

Interval interval95(std::vector<double>& values) {
  return {percentile(values, 0.025), percentile(values, 0.975)};
}

// Level-3 samples whose predictions equal those of the level-1 sample with the same
// conversation: the condition never saw the distractor, so L3 repeats L1 (the seed's A, B and C;
// SPEC.md S9.1). Returns {equal, comparable}.
std::pair<std::size_t, std::size_t> l3_repeating_l1(const ConditionResult& result,
                                                    const bench::Benchmark& benchmark) {
  std::map<std::string_view, const SampleResult*> level1;
  for (const SampleResult& r : result.samples)
    if (benchmark.samples[r.sample_index].level == 1)
      level1[benchmark.samples[r.sample_index].conversation] = &r;
  std::size_t equal = 0, comparable = 0;
  for (const SampleResult& r : result.samples) {
    const bench::Sample& sample = benchmark.samples[r.sample_index];
    const auto it = sample.level == 3 ? level1.find(sample.conversation) : level1.end();
    if (it == level1.end()) continue;
    ++comparable;
    equal += std::equal(
        r.predictions.begin(), r.predictions.end(), it->second->predictions.begin(),
        it->second->predictions.end(),
        [](const Prediction& x, const Prediction& y) { return x.predicted == y.predicted; });
  }
  return {equal, comparable};
}

// Clusters summed per unit, in first-occurrence order: per conversation, or as they are.
std::vector<Cluster> merge_units(const std::vector<Cluster>& clusters, CiUnit unit) {
  if (unit == CiUnit::sample) return clusters;
  std::vector<Cluster> out;
  std::map<std::size_t, std::size_t> index;  // conversation -> its place in out
  for (const Cluster& c : clusters) {
    const auto [it, fresh] = index.emplace(c.conversation, out.size());
    if (fresh) {
      out.push_back(c);
      continue;
    }
    Cluster& u = out[it->second];
    u.n += c.n;
    u.em += c.em;
    u.f1 += c.f1;
    u.strict_em += c.strict_em;
  }
  return out;
}

}  // namespace

void Bucket::add(std::size_t sample_index, std::size_t conversation, const ProbeScore& score) {
  ++n;
  em_sum += score.em;
  f1_sum += score.f1;
  strict_sum += score.strict_em;
  if (clusters.empty() || clusters.back().sample_index != sample_index)
    clusters.push_back({sample_index, conversation, 0, 0, 0, 0});
  Cluster& c = clusters.back();
  ++c.n;
  c.em += score.em;
  c.f1 += score.f1;
  c.strict_em += score.strict_em;
}

Bucket& bucket(Buckets& buckets, const std::string& key) {
  for (auto& [k, b] : buckets)
    if (k == key) return b;
  return buckets.emplace_back(key, Bucket{}).second;
}

const Bucket* find_bucket(const Buckets& buckets, const std::string& key) {
  for (const auto& [k, b] : buckets)
    if (k == key) return &b;
  return nullptr;
}

ConditionScores score_condition(const ConditionResult& result, const bench::Benchmark& benchmark) {
  ConditionScores out;
  out.name = result.name;
  out.n_samples = result.samples.size();
  // Conversations numbered in benchmark order.
  std::map<std::string_view, std::size_t> conversations;
  for (const bench::Sample& sample : benchmark.samples)
    conversations.emplace(sample.conversation, conversations.size());
  std::set<std::size_t> seen;
  for (const SampleResult& r : result.samples) {
    const bench::Sample& sample = benchmark.samples[r.sample_index];
    const std::size_t unit = conversations.at(sample.conversation);
    seen.insert(unit);
    std::map<std::string, const bench::Fact*> facts;
    for (const bench::Fact& f : sample.facts) facts[f.fact_id] = &f;
    const double conversation_chars =
        static_cast<double>(bench::count_code_points(sample.conversation));
    for (std::size_t j = 0; j < r.predictions.size(); ++j) {
      const Prediction& p = r.predictions[j];
      const bench::Probe& probe = sample.probes[j];
      const ProbeScore score = score_probe(p.predicted, p.gold);
      const std::size_t s = r.sample_index;
      out.overall.add(s, unit, score);
      bucket(out.by_level, std::to_string(sample.level)).add(s, unit, score);
      for (const std::string& fact_id : probe.required_facts) {
        const bench::Fact& fact = *facts.at(fact_id);
        bucket(out.by_category, fact.category).add(s, unit, score);
        if (fact.offset)
          bucket(out.by_fact_position,
                 third(static_cast<double>(*fact.offset) / conversation_chars))
              .add(s, unit, score);
      }
      if (sample.level == 1 || sample.level == 3)
        bucket(out.by_position,
               third(static_cast<double>(j) / static_cast<double>(sample.probes.size())))
            .add(s, unit, score);
      if (sample.distractor_target)
        bucket(out.by_distractor_length, std::to_string(*sample.distractor_target))
            .add(s, unit, score);
    }
  }
  out.n_conversations = seen.size();
  out.degeneracy = degeneracy_of(result, benchmark);
  return out;
}

std::string to_string(CiUnit unit) {
  return unit == CiUnit::conversation ? "conversation" : "sample";
}

CiUnit parse_ci_unit(const std::string& name) {
  if (name == "conversation") return CiUnit::conversation;
  if (name == "sample") return CiUnit::sample;
  throw EvalError("--ci-unit: '" + name + "', expected conversation or sample");
}

BucketIntervals bootstrap(const Bucket& b, const BootstrapOptions& options) {
  const std::vector<Cluster> units = merge_units(b.clusters, options.unit);
  const std::size_t k = units.size();
  if (k == 0 || options.resamples <= 0) return {};
  py::Random rng(options.seed);
  std::vector<double> em(options.resamples), f1(options.resamples), strict(options.resamples);
  for (int r = 0; r < options.resamples; ++r) {
    std::int64_t n = 0;
    double em_sum = 0, f1_sum = 0, strict_sum = 0;
    for (std::size_t i = 0; i < k; ++i) {
      const Cluster& c = units[rng.randbelow(k)];
      n += c.n;
      em_sum += c.em;
      f1_sum += c.f1;
      strict_sum += c.strict_em;
    }
    const double dn = static_cast<double>(n);
    em[r] = em_sum / dn;
    f1[r] = f1_sum / dn;
    strict[r] = strict_sum / dn;
  }
  return {interval95(em), interval95(f1), interval95(strict)};
}

std::optional<PairedDifference> paired_difference(const ConditionScores& x,
                                                  const ConditionScores& y,
                                                  const BootstrapOptions& options) {
  std::map<std::size_t, const Cluster*> in_y;
  for (const Cluster& c : y.overall.clusters) in_y[c.sample_index] = &c;
  std::vector<Cluster> common_x, common_y;
  for (const Cluster& c : x.overall.clusters)
    if (const auto it = in_y.find(c.sample_index); it != in_y.end()) {
      common_x.push_back(c);
      common_y.push_back(*it->second);
    }
  if (common_x.empty()) return std::nullopt;
  // Both sides merged into the same units, in the same order.
  const std::vector<Cluster> ux = merge_units(common_x, options.unit),
                             uy = merge_units(common_y, options.unit);
  std::vector<std::pair<const Cluster*, const Cluster*>> pairs;
  for (std::size_t i = 0; i < ux.size(); ++i) pairs.emplace_back(&ux[i], &uy[i]);

  // EM over a multiset of clusters: summed probes over summed counts.
  struct EmSum {
    std::int64_t n = 0;
    double em = 0;
    void add(const Cluster& c) { n += c.n, em += c.em; }
    double value() const { return em / static_cast<double>(n); }
  };
  EmSum sx, sy;
  for (const auto& [cx, cy] : pairs) sx.add(*cx), sy.add(*cy);
  PairedDifference d;
  d.x = x.name;
  d.y = y.name;
  d.n_samples = common_x.size();
  d.n_conversations = merge_units(common_x, CiUnit::conversation).size();
  d.em_x = sx.value();
  d.em_y = sy.value();
  d.diff = d.em_x - d.em_y;
  const auto ratio = [](double x, double y) { return x / std::max(y, 1e-6); };
  d.ratio = ratio(d.em_x, d.em_y);
  if (options.resamples <= 0) return d;
  py::Random rng(options.seed);
  std::vector<double> diffs(options.resamples), ratios(options.resamples);
  for (int r = 0; r < options.resamples; ++r) {
    EmSum rx, ry;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const auto& [cx, cy] = pairs[rng.randbelow(pairs.size())];
      rx.add(*cx), ry.add(*cy);
    }
    diffs[r] = rx.value() - ry.value();
    ratios[r] = ratio(rx.value(), ry.value());
  }
  d.ci = interval95(diffs);
  d.ratio_ci = interval95(ratios);
  return d;
}

Report build_report(const std::vector<ConditionResult>& results, const bench::Benchmark& benchmark,
                    const BootstrapOptions& options) {
  Report report;
  report.bootstrap = options;
  report.benchmark_version = benchmark.version;
  report.distractor_unit = benchmark.distractor_unit;
  report.benchmark_samples = benchmark.samples.size();
  for (const bench::Sample& s : benchmark.samples) report.benchmark_probes += s.probes.size();

  for (const ConditionResult& result : results) {
    ConditionScores scores = score_condition(result, benchmark);
    if (options.resamples > 0) {
      scores.overall.ci = bootstrap(scores.overall, options);
      for (Buckets* buckets : {&scores.by_level, &scores.by_category, &scores.by_position,
                               &scores.by_fact_position, &scores.by_distractor_length})
        for (auto& [_, b] : *buckets) b.ci = bootstrap(b, options);
    }
    if (scores.n_samples < benchmark.samples.size())
      report.warnings.push_back("condition " + scores.name + " covers " +
                                std::to_string(scores.n_samples) + " of " +
                                std::to_string(benchmark.samples.size()) + " benchmark samples");
    if (const auto [equal, comparable] = l3_repeating_l1(result, benchmark); equal > 0)
      report.warnings.push_back(
          "condition " + scores.name + ": level-3 predictions equal level 1's in " +
          std::to_string(equal) + " of " + std::to_string(comparable) +
          " samples (no distractor reached this condition, so its L3 numbers repeat L1)");
    report.conditions.push_back(std::move(scores));
  }

  const auto find = [&](std::string_view name) -> const ConditionScores* {
    for (const ConditionScores& c : report.conditions)
      if (c.name == name) return &c;
    return nullptr;
  };
  // B - C and A - B, scroll against C and B (forgetting by the window versus the explicit KV
  // drop), and every ablation against C on the samples both scored (the seed compared its
  // 30-sample ablations with C on all 300: SPEC.md S9.13).
  using protocol::kContext, protocol::kDistracted, protocol::kMemory, protocol::kNoMemory,
      protocol::kScroll;
  std::vector<std::pair<std::string_view, std::string_view>> pairs{
      {kMemory, kNoMemory}, {kContext, kMemory}, {kScroll, kNoMemory}, {kScroll, kMemory}};
  for (const ConditionScores& c : report.conditions)
    if (ablation_scale(c.name)) pairs.emplace_back(c.name, kNoMemory);
  for (const auto& [x, y] : pairs) {
    const ConditionScores *cx = find(x), *cy = find(y);
    if (!cx || !cy) continue;
    if (auto d = paired_difference(*cx, *cy, options)) report.differences.push_back(*d);
  }

  const ConditionScores *a = find(kContext), *b = find(kMemory), *c = find(kNoMemory),
                        *d = find(kDistracted);
  if (a && b) report.efficiency = paired_difference(*b, *a, options);
  if (!a || !b)
    report.warnings.push_back("memory_efficiency_ratio and verdict are null: condition " +
                              std::string(!a ? kContext : kMemory) + " is missing");
  if (!b || !c)
    report.warnings.push_back("lift_over_no_memory is null: condition " +
                              std::string(!b ? kMemory : kNoMemory) + " is missing");
  if (!b || !d)
    report.warnings.push_back("distractor_decay_rate is null: condition " +
                              std::string(!b ? kMemory : kDistracted) + " is missing");
  if (a && b) {
    std::vector<std::size_t> sa, sb;
    for (const Cluster& x : a->overall.clusters) sa.push_back(x.sample_index);
    for (const Cluster& x : b->overall.clusters) sb.push_back(x.sample_index);
    if (sa != sb)
      report.warnings.push_back("conditions " + a->name + " and " + b->name +
                                " scored different samples: memory_efficiency_ratio compares "
                                "different sets (the paired em_" + a->name + "_minus_" + b->name +
                                " uses the common ones)");
  }
  return report;
}

}  // namespace tttmem::eval
