// report.json (the seed's schema and key order, extras after), the console summary and the
// Markdown block for RESULTS.md.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "tttmem/eval.h"
#include "tttmem/protocol.h"

namespace tttmem::eval {

namespace {

using OJ = nlohmann::ordered_json;

const ConditionScores* find_condition(const Report& r, std::string_view name) {
  for (const ConditionScores& c : r.conditions)
    if (c.name == name) return &c;
  return nullptr;
}

// The seed's headline (SPEC.md S6.5), with null where a condition it needs is missing.
struct Headline {
  std::optional<double> em_a, em_b, em_c, ratio, lift, em_b_level3, em_d, decay;
  std::optional<std::string> verdict;
};

Headline headline_of(const Report& r) {
  Headline h;
  const ConditionScores *a = find_condition(r, protocol::kContext),
                        *b = find_condition(r, protocol::kMemory),
                        *c = find_condition(r, protocol::kNoMemory),
                        *d = find_condition(r, protocol::kDistracted);
  if (a) h.em_a = a->overall.em();
  if (b) h.em_b = b->overall.em();
  if (c) h.em_c = c->overall.em();
  if (a && b) {
    h.ratio = *h.em_b / std::max(*h.em_a, 1e-6);
    h.verdict = *h.ratio > 0.7   ? "POSITIVE — TTT fast weights substantially substitute for "
                                   "context window"
                : *h.ratio > 0.3 ? "PARTIAL — mechanism works but at significantly reduced "
                                   "fidelity"
                                 : "NEGATIVE — fast weights do not substitute for context under "
                                   "this setup";
  }
  if (b && c) h.lift = *h.em_b - *h.em_c;
  if (b)
    if (const Bucket* l3 = find_bucket(b->by_level, "3")) h.em_b_level3 = l3->em();
  if (d) h.em_d = d->overall.em();
  // Undefined (null) when B scores 0 on level 3: the seed's max(., 1e-6) would print 0.0 or a
  // huge number there.
  if (h.em_b_level3 && h.em_d && *h.em_b_level3 > 0)
    h.decay = (*h.em_d - *h.em_b_level3) / *h.em_b_level3;
  return h;
}

OJ number(const std::optional<double>& v) { return v ? OJ(*v) : OJ(nullptr); }
OJ interval(const Interval& i) { return OJ::array({i.lo, i.hi}); }

OJ bucket_json(const Bucket& b) {
  OJ out = {{"n", b.n}, {"em", b.em()}, {"f1", b.f1()}, {"strict_em", b.strict_em()}};
  if (b.ci) {
    out["em_ci95"] = interval(b.ci->em);
    out["f1_ci95"] = interval(b.ci->f1);
    out["strict_em_ci95"] = interval(b.ci->strict_em);
  }
  return out;
}

OJ buckets_json(const Buckets& buckets) {
  OJ out = OJ::object();
  for (const auto& [key, b] : buckets) out[key] = bucket_json(b);
  return out;
}

OJ degeneracy_json(const Degeneracy& d) {
  OJ out = {{"n", d.n},
            {"exact_em", d.exact_em},
            {"gold_in_pred", d.gold_in_pred},
            {"degenerate", d.degenerate},
            {"mean_chars", d.mean_chars},
            {"median_chars", d.median_chars}};
  if (!d.stop_reasons.empty()) {
    OJ reasons = OJ::object();
    for (const auto& [reason, count] : d.stop_reasons) reasons[reason] = count;
    out["stop_reasons"] = std::move(reasons);
  }
  OJ examples = OJ::array();
  for (const auto& e : d.examples)
    examples.push_back({{"sample_id", e.sample_id},
                        {"probe_id", e.probe_id},
                        {"gold", e.gold},
                        {"predicted", e.predicted}});
  out["examples"] = std::move(examples);
  return out;
}

OJ condition_json(const ConditionScores& c, const BootstrapOptions& bootstrap) {
  OJ out = {{"overall", bucket_json(c.overall)},
            {"by_level", buckets_json(c.by_level)},
            {"by_category", buckets_json(c.by_category)},
            {"by_position", buckets_json(c.by_position)}};
  if (!c.by_fact_position.empty()) out["by_fact_position"] = buckets_json(c.by_fact_position);
  if (!c.by_distractor_length.empty())
    out["by_distractor_length"] = buckets_json(c.by_distractor_length);
  out["n_samples"] = c.n_samples;
  out["n_conversations"] = c.n_conversations;
  if (bootstrap.resamples > 0) out["ci_unit"] = to_string(bootstrap.unit);
  out["degeneracy"] = degeneracy_json(c.degeneracy);
  return out;
}

OJ difference_json(const PairedDifference& d, bool with_ci) {
  OJ out = {{"n_samples", d.n_samples},
            {"n_conversations", d.n_conversations},
            {"em_" + d.x, d.em_x},
            {"em_" + d.y, d.em_y},
            {"diff", d.diff}};
  if (with_ci) out["ci95"] = interval(d.ci);
  return out;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
std::string fixed(const std::optional<double>& v, int digits) {
  return v ? fixed(*v, digits) : "n/a";
}
std::string with_ci(double v, const std::optional<Interval>& ci) {
  if (!ci) return fixed(v, 4);
  return fixed(v, 4) + " [" + fixed(ci->lo, 4) + ", " + fixed(ci->hi, 4) + "]";
}

std::optional<Interval> paired_ci(const Report& r, const PairedDifference& d) {
  return r.bootstrap.resamples > 0 ? std::optional(d.ci) : std::nullopt;
}

// memory_efficiency_ratio with the interval of B / A over the same drawn units, when there is one.
std::string ratio_with_ci(const Report& r, const std::optional<double>& ratio) {
  if (!ratio || !r.efficiency || r.bootstrap.resamples <= 0) return fixed(ratio, 4);
  return with_ci(*ratio, r.efficiency->ratio_ci);
}

std::string upper_name(const std::string& name) {
  return name.size() == 1 ? std::string(1, static_cast<char>(name[0] - 'a' + 'A')) : name;
}

}  // namespace

OJ report_json(const Report& r) {
  const Headline h = headline_of(r);
  OJ headline = {{"em_a_context_baseline", number(h.em_a)},
                 {"em_b_ttt_memory", number(h.em_b)},
                 {"em_c_no_memory", number(h.em_c)},
                 {"memory_efficiency_ratio", number(h.ratio)},
                 {"lift_over_no_memory", number(h.lift)},
                 {"verdict", h.verdict ? OJ(*h.verdict) : OJ(nullptr)},
                 {"em_b_level3", number(h.em_b_level3)},
                 {"em_d_with_distractor", number(h.em_d)},
                 {"distractor_decay_rate", number(h.decay)}};
  if (r.efficiency && r.bootstrap.resamples > 0)
    headline["memory_efficiency_ratio_ci95"] = interval(r.efficiency->ratio_ci);
  for (const PairedDifference& d : r.differences)
    headline["em_" + d.x + "_minus_" + d.y] = difference_json(d, r.bootstrap.resamples > 0);

  OJ by_condition = OJ::object();
  for (const ConditionScores& c : r.conditions) by_condition[c.name] = condition_json(c, r.bootstrap);

  OJ root = {{"headline", std::move(headline)}, {"by_condition", std::move(by_condition)}};
  root["benchmark"] = {{"version", r.benchmark_version},
                       {"n_samples", r.benchmark_samples},
                       {"n_probes", r.benchmark_probes}};
  root["bootstrap"] = {{"unit", to_string(r.bootstrap.unit)},
                       {"resamples", r.bootstrap.resamples},
                       {"seed", r.bootstrap.seed},
                       {"interval", "percentile, 95%"}};
  if (r.run_info.is_object() && r.run_info.contains("held_out"))
    root["held_out"] = r.run_info["held_out"];
  root["warnings"] = r.warnings;
  if (!r.run_info.is_null()) root["run"] = r.run_info;
  return root;
}

std::string summary_text(const Report& r) {
  std::ostringstream out;
  for (const ConditionScores& c : r.conditions) {
    out << "cond " << c.name << ": EM=" << fixed(c.overall.em(), 4);
    if (c.overall.ci)
      out << " [" << fixed(c.overall.ci->em.lo, 4) << ", " << fixed(c.overall.ci->em.hi, 4) << "]";
    out << " strict=" << fixed(c.overall.strict_em(), 4) << " F1=" << fixed(c.overall.f1(), 4)
        << " n=" << c.overall.n << " (" << c.n_samples << " samples, " << c.n_conversations
        << " conversations)"
        << " degenerate=" << fixed(100 * c.degeneracy.degenerate, 1) << "%\n";
  }
  const Headline h = headline_of(r);
  out << "=== HEADLINE ===\n"
      << "memory_efficiency_ratio (EM B / EM A): " << ratio_with_ci(r, h.ratio) << "\n"
      << "lift_over_no_memory (EM B - EM C):     " << fixed(h.lift, 4) << "\n";
  for (const PairedDifference& d : r.differences)
    out << "paired EM " << d.x << " - " << d.y << " over " << d.n_samples << " samples ("
        << d.n_conversations << " conversations): " << with_ci(d.diff, paired_ci(r, d)) << "\n";
  out << "distractor_decay_rate:                 " << fixed(h.decay, 4) << "\n"
      << "verdict: " << (h.verdict ? *h.verdict : "n/a (needs conditions a and b)") << "\n";
  return out.str();
}

std::string results_markdown(const Report& r) {
  std::ostringstream out;
  if (!r.command.empty()) out << "Made by `" << r.command << "`";
  out << " (benchmark " << r.benchmark_version << ", " << r.benchmark_samples << " samples, "
      << r.benchmark_probes << " probes; ";
  if (r.bootstrap.resamples > 0)
    out << "95% CIs: percentile bootstrap over " << to_string(r.bootstrap.unit) << "s"
        << (r.bootstrap.unit == CiUnit::conversation
                ? " (the samples built from one conversation are resampled together)"
                : "")
        << ", " << r.bootstrap.resamples << " resamples, seed " << r.bootstrap.seed << ").\n\n";
  else
    out << "no confidence intervals: --bootstrap 0).\n\n";
  out << "| condition | conversations | samples | probes | EM (containment) [95% CI] "
         "| strict EM [95% CI] | F1 [95% CI] | EM L1 | EM L2 | EM L3 | degenerate |\n"
      << "|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|\n";
  for (const ConditionScores& c : r.conditions) {
    const std::optional<BucketIntervals>& ci = c.overall.ci;  // none without the bootstrap
    out << "| " << upper_name(c.name) << " | " << c.n_conversations << " | " << c.n_samples
        << " | " << c.overall.n << " | "
        << with_ci(c.overall.em(), ci ? std::optional(ci->em) : std::nullopt) << " | "
        << with_ci(c.overall.strict_em(), ci ? std::optional(ci->strict_em) : std::nullopt) << " | "
        << with_ci(c.overall.f1(), ci ? std::optional(ci->f1) : std::nullopt);
    for (const char* level : {"1", "2", "3"}) {
      const Bucket* b = find_bucket(c.by_level, level);
      out << " | " << (b ? fixed(b->em(), 4) : "—");
    }
    out << " | " << fixed(100 * c.degeneracy.degenerate, 1) << " % |\n";
  }
  const Headline h = headline_of(r);
  out << "\n- memory_efficiency_ratio = EM(B) / EM(A) = " << ratio_with_ci(r, h.ratio)
      << "; verdict: " << (h.verdict ? *h.verdict : "n/a") << "\n"
      << "- lift_over_no_memory = EM(B) − EM(C) = " << fixed(h.lift, 4) << "\n";
  for (const PairedDifference& d : r.differences)
    out << "- paired EM(" << upper_name(d.x) << ") − EM(" << upper_name(d.y) << ") over "
        << d.n_samples << " common samples (" << d.n_conversations
        << " conversations): " << with_ci(d.diff, paired_ci(r, d)) << "\n";
  for (const ConditionScores& c : r.conditions) {
    if (c.by_distractor_length.empty()) continue;
    out << "- EM(" << upper_name(c.name) << ") by distractor length ("
        << (r.distractor_unit.empty() ? "chars" : r.distractor_unit) << "):";
    for (const auto& [length, b] : c.by_distractor_length)
      out << " " << length << ": " << with_ci(b.em(), b.ci ? std::optional(b.ci->em) : std::nullopt)
          << ";";
    out << "\n";
  }
  out << "- distractor: EM(B, L3) = " << fixed(h.em_b_level3, 4) << ", EM(D) = " << fixed(h.em_d, 4)
      << ", decay rate = " << fixed(h.decay, 4) << "\n";
  for (const std::string& w : r.warnings) out << "- warning: " << w << "\n";
  return out.str();
}

}  // namespace tttmem::eval
