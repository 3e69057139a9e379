// Counts and length statistics for the generator's summary and `build-benchmark --validate`.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "tttmem/bench.h"

namespace tttmem::bench {

namespace {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Categories by descending count; ties keep first-seen order (like Counter.most_common).
std::string category_line(const Benchmark& b, int level) {
  std::vector<std::pair<std::string, int>> order;
  for (const Sample& s : b.samples) {
    if (s.level != level) continue;
    for (const Fact& f : s.facts) {
      auto it = std::find_if(order.begin(), order.end(),
                             [&](const auto& p) { return p.first == f.category; });
      if (it == order.end())
        order.emplace_back(f.category, 1);
      else
        ++it->second;
    }
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [category, count] : order)
    out += (out.empty() ? "" : ", ") + category + " " + std::to_string(count);
  return out;
}

}  // namespace

Stats compute_stats(const Benchmark& b) {
  Stats st;
  for (const Sample& s : b.samples) {
    LevelStats& l = st.by_level[s.level];
    ++l.samples;
    l.probes += static_cast<int>(s.probes.size());
    l.facts += static_cast<int>(s.facts.size());
    for (const Fact& f : s.facts) ++l.facts_by_category[f.category];
    if (s.distractor)
      l.distractor_chars += static_cast<std::int64_t>(count_code_points(*s.distractor));
    ++st.samples;
    st.probes += static_cast<int>(s.probes.size());
    st.facts += static_cast<int>(s.facts.size());
  }
  return st;
}

std::map<std::string, LengthSummary> length_stats(
    const Benchmark& b, const std::function<std::size_t(std::string_view)>& length) {
  std::map<std::string, LengthSummary> out;
  const auto add = [&](const std::string& key, std::string_view text) {
    LengthSummary& s = out[key];
    const std::size_t n = length(text);
    if (s.count == 0 || n < s.min) s.min = n;
    if (s.count == 0 || n > s.max) s.max = n;
    s.mean += (static_cast<double>(n) - s.mean) / static_cast<double>(++s.count);
  };
  for (const Sample& s : b.samples) {
    if (s.level == 1) add("conversation", s.conversation);  // L2/L3 repeat the L1 conversations
    for (const Probe& p : s.probes) {
      add("question L" + std::to_string(s.level), p.question);
      add("gold L" + std::to_string(s.level), p.gold_answer);
    }
    if (s.distractor) add("distractor", *s.distractor);
  }
  return out;
}

std::string summary_text(const Benchmark& b, const std::string& path) {
  const Stats st = compute_stats(b);
  std::ostringstream out;
  out << "Wrote " << path << " with " << st.samples << " samples\n";
  for (const auto& [level, l] : st.by_level) {
    out << "  L" << level << ": " << l.samples << " samples, "
        << fixed(static_cast<double>(l.probes) / l.samples, 1) << " probes/sample";
    if (level == 3)
      out << ", distractor avg " << fixed(static_cast<double>(l.distractor_chars) / l.samples, 0)
          << " chars";
    out << "\n";
  }
  if (st.by_level.count(1)) out << "  L1 fact categories: " << category_line(b, 1) << "\n";
  return out.str();
}

std::string validation_report(const Benchmark& b,
                              const std::map<std::string, LengthSummary>& token_lengths) {
  const Stats st = compute_stats(b);
  std::ostringstream out;
  out << "version " << b.version << ", seed " << b.seed << ": " << st.samples << " samples, "
      << st.probes << " probes, " << st.facts << " facts\n";
  for (const auto& [level, l] : st.by_level) {
    out << "  L" << level << ": " << l.samples << " samples, " << l.probes << " probes, " << l.facts
        << " facts (" << category_line(b, level) << ")\n";
  }
  if (!token_lengths.empty()) {
    out << "token lengths (mean / min / max):\n";
    for (const auto& [what, s] : token_lengths)
      out << "  " << what << ": " << fixed(s.mean, 1) << " / " << s.min << " / " << s.max
          << " over " << s.count << "\n";
  }
  return out.str();
}

}  // namespace tttmem::bench
