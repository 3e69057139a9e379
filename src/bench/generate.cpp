// The benchmark generator. v1 replays build_benchmark.py's exact sequence of CPython `random`
// calls (SPEC.md S1.2-S1.7); v2 keeps the structure and fixes the flaws named in DECISIONS.md.
#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <type_traits>

#include "skeletons.h"
#include "tttmem/bench.h"
#include "tttmem/pycompat.h"
#include "tttmem/tokenizer.h"

namespace tttmem::bench {

namespace {

using data::Pool;
using data::SkeletonDef;
using Values = std::map<std::string, std::string, std::less<>>;

std::string fill(std::string_view tmpl, const Values& values) {
  std::string out;
  std::size_t pos = 0;
  while (pos < tmpl.size()) {
    const std::size_t open = tmpl.find('{', pos);
    if (open == std::string_view::npos) break;
    const std::size_t close = tmpl.find('}', open);
    out.append(tmpl.substr(pos, open - pos));
    const auto it = values.find(tmpl.substr(open + 1, close - open - 1));
    if (it == values.end())
      throw BenchError("bench: template '" + std::string(tmpl) + "' names slot '" +
                       std::string(tmpl.substr(open + 1, close - open - 1)) + "' with no value");
    out += it->second;
    pos = close + 1;
  }
  out.append(tmpl.substr(pos));
  return out;
}

template <class Seq>
std::string pick(py::Random& rng, const Seq& items) {
  return std::string(rng.choice(items));
}

// v1: the pool is rebuilt for every slot (consuming its draws) and one value drawn from it.
// A numeric slot builds all three numeric pools and then draws which one to use.
std::string draw_v1(py::Random& rng, Pool pool) {
  switch (pool) {
    case Pool::Person:
      return pick(rng, data::kNames);
    case Pool::Role:
      return pick(rng, data::kRoles);
    case Pool::Department:
      return pick(rng, data::kDepartments);
    case Pool::Project:
      return pick(rng, data::kProjects);
    case Pool::Spatial:
      return pick(rng, data::kLocations);
    case Pool::Preference:
      return pick(rng, data::kPreferences);
    case Pool::Numeric: {
      std::vector<std::vector<std::string>> pools(3);
      for (int k = 0; k < 200; ++k) pools[0].push_back(std::to_string(rng.randint(1000, 9999)));
      for (int k = 0; k < 200; ++k)
        pools[1].push_back(std::to_string(50 + 5 * rng.randbelow(190)) + "万");
      for (int k = 0; k < 50; ++k)
        pools[2].push_back(std::to_string(rng.choice(data::kHeadcounts)));
      const auto& chosen = rng.choice(pools);
      return rng.choice(chosen);
    }
    case Pool::Date: {
      std::vector<std::string> dates;
      for (int k = 0; k < 200; ++k) {
        const auto month = 1 + rng.randbelow(12);
        const auto day = 1 + rng.randbelow(28);
        dates.push_back(std::to_string(month) + "月" + std::to_string(day) + "号");
      }
      return rng.choice(dates);
    }
    case Pool::Temporal: {
      std::vector<std::string> times;
      for (int k = 0; k < 200; ++k) {
        std::string t = pick(rng, data::kWeekdays);
        t += pick(rng, data::kDayparts);
        t += pick(rng, data::kHours);
        times.push_back(std::move(t));
      }
      return rng.choice(times);
    }
    case Pool::Pronoun:
      break;
  }
  throw BenchError("bench: pronoun slots are never drawn");
}

// v2's value pools for one split: "train" keeps the even-indexed entries of every list (and the
// lower IDs, the budgets on even steps of 5万), "test" the odd ones (the upper IDs, the odd
// steps), "all" everything. Dates and times are shared: no question names them alone.
// Whether entry i of a list split by parity belongs to `split` (train: even, test: odd).
bool in_split(std::size_t i, const std::string& split) {
  return split == "all" || static_cast<int>(i % 2) == (split == "train" ? 0 : 1);
}

struct Pools {
  std::vector<std::string_view> names, roles, departments, projects, locations, preferences;
  std::vector<int> headcounts;
  std::int64_t empid_lo = 1000, empid_hi = 9999;
  int budget_first = 0, budget_step = 1;  // budget = 50 + 5 k, k = first, first + step, ... < 190

  explicit Pools(const std::string& split) {
    const auto half = [&](const auto& items) {
      std::decay_t<decltype(items)> out;
      for (std::size_t i = 0; i < items.size(); ++i)
        if (in_split(i, split)) out.push_back(items[i]);
      return out;
    };
    names = half(data::kNames);
    roles = half(data::kRoles);
    departments = half(data::kDepartments);
    projects = half(data::kProjects);
    locations = half(data::kLocations);
    preferences = half(data::kPreferences);
    headcounts = half(data::kHeadcounts);
    if (split == "train") empid_hi = 5499;
    if (split == "test") empid_lo = 5500;
    if (split != "all") {
      budget_first = split == "train" ? 0 : 1;
      budget_step = 2;
    }
  }
};

// v2: each slot draws directly from the pool its meaning calls for (budget -> budget pool,
// empid -> ID pool, headcount -> headcount pool); no throwaway pools.
std::string draw_v2(py::Random& rng, const data::SlotDef& slot, const Pools& pools) {
  switch (slot.pool) {
    case Pool::Numeric:
      if (slot.name == "empid") return std::to_string(rng.randint(pools.empid_lo, pools.empid_hi));
      if (slot.name == "budget") {
        const int steps = (190 - pools.budget_first + pools.budget_step - 1) / pools.budget_step;
        const int k = pools.budget_first + pools.budget_step * static_cast<int>(rng.randbelow(steps));
        return std::to_string(50 + 5 * k) + "万";
      }
      if (slot.name == "headcount") return std::to_string(rng.choice(pools.headcounts));
      throw BenchError("bench: numeric slot '" + std::string(slot.name) + "' has no typed pool");
    case Pool::Date:
      return std::to_string(1 + rng.randbelow(12)) + "月" + std::to_string(1 + rng.randbelow(28)) +
             "号";
    case Pool::Temporal:
      return pick(rng, data::kWeekdays) + pick(rng, data::kDayparts) + pick(rng, data::kHours);
    case Pool::Person:
      return pick(rng, pools.names);
    case Pool::Role:
      return pick(rng, pools.roles);
    case Pool::Department:
      return pick(rng, pools.departments);
    case Pool::Project:
      return pick(rng, pools.projects);
    case Pool::Spatial:
      return pick(rng, pools.locations);
    case Pool::Preference:
      return pick(rng, pools.preferences);
    case Pool::Pronoun:
      break;
  }
  throw BenchError("bench: pronoun slots are never drawn");
}

bool used(const Values& values, const std::string& v) {
  return std::any_of(values.begin(), values.end(), [&](const auto& kv) { return kv.second == v; });
}

// The v2 skeletons of a split: SK-1..SK-5 (train) with SK-3 registering its project and the
// composed probes that repeated an L1 question or had a two-part gold ("X；Y", never verbatim in
// the conversation) made true two-hop questions with a single gold; SK-6..SK-8 (test).
std::vector<SkeletonDef> v2_skeletons(const std::string& split) {
  if (split == "test") return data::kTestSkeletons;
  std::vector<SkeletonDef> sks = data::kSkeletons;
  auto by_id = [&](std::string_view id) -> SkeletonDef& {
    return *std::find_if(sks.begin(), sks.end(), [&](const SkeletonDef& s) { return s.id == id; });
  };
  by_id("SK-3").rows.push_back(
      {"project", "project", "供应商对接的项目是 {project}", "供应商对接的是哪个项目？"});
  by_id("SK-1").composed[3] = {"name_b", "name_c", "项目参与者向谁汇报？", "{name_c}"};
  by_id("SK-1").composed[4] = {"name_c", "role_c", "项目参与者的上级是什么职位？", "{role_c}"};
  by_id("SK-4").composed[4] = {"project", "empid", "本次重点项目的客户编号是多少？", "{empid}"};
  by_id("SK-5").composed[2] = {"name_b", "role_c", "复盘会的另一位参加者是什么职位？", "{role_c}"};
  by_id("SK-5").composed[3] = {"name_b", "empid", "复盘会的另一位参加者工号是多少？", "{empid}"};
  by_id("SK-5").composed[4] = {"name_a", "location", "复盘会主持人主持的会在哪个会议室？",
                               "{location}"};
  if (split == "all") sks.insert(sks.end(), data::kTestSkeletons.begin(), data::kTestSkeletons.end());
  return sks;
}

// A "dietary preference" question only for dietary values; others ask for the habit/preference.
// (The test templates' preference questions fit either kind.)
std::string v2_question(const data::RowDef& row, const Values& values) {
  const std::string_view q = row.question;
  const std::size_t cut = q.find("的饮食偏好是什么？");
  if (row.category == "preference" && cut != std::string_view::npos &&
      !data::is_dietary(values.at("pref")))
    return fill(q.substr(0, cut), values) + "有什么习惯或偏好？";
  return fill(row.question, values);
}

std::string sample_id(int level, int i, std::optional<std::int64_t> length = {}) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d", i);
  return "L" + std::to_string(level) + "-" + (length ? std::to_string(*length) + "-" : "") + buf;
}

struct Draft {
  const SkeletonDef* skeleton;
  Values values;
  Sample sample;  // the L1 sample
};

Draft make_l1(py::Random& rng, const std::vector<SkeletonDef>& skeletons, int i,
              const Pools* v2) {
  Draft d;
  d.skeleton = &rng.choice(skeletons);
  const auto& pair = rng.choice(data::kPronounPairs);
  d.values["p1"] = pair.first;
  d.values["p2"] = pair.second;
  for (const data::SlotDef& slot : d.skeleton->slots) {
    if (slot.pool == Pool::Pronoun) continue;
    std::string value;
    if (v2) {
      // Unambiguous golds: no value may repeat any other slot's value in the sample.
      for (int attempt = 0;; ++attempt) {
        if (attempt == 1000)
          throw BenchError("bench v2: cannot draw a unique value for slot '" +
                           std::string(slot.name) + "' of " + sample_id(1, i));
        value = draw_v2(rng, slot, *v2);
        if (!used(d.values, value)) break;
      }
    } else if (slot.pool == Pool::Person) {
      bool accepted = false;
      for (int attempt = 0; attempt < 50 && !accepted; ++attempt) {
        value = pick(rng, data::kNames);
        accepted = !used(d.values, value);
      }
      if (!accepted) value = pick(rng, data::kNames);
    } else {
      value = draw_v1(rng, slot.pool);
    }
    d.values[std::string(slot.name)] = value;
  }

  Sample& s = d.sample;
  s.sample_id = sample_id(1, i);
  s.level = 1;
  s.skeleton_id = d.skeleton->id;
  for (std::size_t l = 0; l < d.skeleton->lines.size(); ++l) {
    if (l) s.conversation += '\n';
    s.conversation += fill(d.skeleton->lines[l], d.values);
  }
  for (std::size_t k = 0; k < d.skeleton->rows.size(); ++k) {
    const data::RowDef& row = d.skeleton->rows[k];
    const std::string id = std::to_string(k + 1);
    Fact fact{
        "F" + id, fill(row.fact, d.values), std::string(row.category), std::string(row.slot), {}};
    const std::string& gold = d.values.at(std::string(row.slot));
    if (v2) {
      const std::size_t at = s.conversation.find(gold);
      if (at == std::string::npos)
        throw BenchError("bench v2: gold '" + gold + "' of " + s.sample_id + " P" + id +
                         " is not in the conversation");
      fact.offset = static_cast<std::int64_t>(
          count_code_points(std::string_view(s.conversation).substr(0, at)));
    }
    s.facts.push_back(std::move(fact));
    s.probes.push_back({"P" + id,
                        v2 ? v2_question(row, d.values) : fill(row.question, d.values),
                        gold,
                        {"F" + id},
                        {}});
  }
  return d;
}

// L2 from L1 (no draws): slot values of the registered rows only, plus the pronouns (the
// original re-reads those from the speakers; they are the same strings).
Sample make_l2(const Draft& d, int i) {
  Sample s = d.sample;
  s.sample_id = sample_id(2, i);
  s.level = 2;
  s.probes.clear();
  Values known;
  std::map<std::string, std::string, std::less<>> fact_of_slot;
  for (const Fact& f : d.sample.facts) {
    known[f.slot] = d.values.at(f.slot);
    fact_of_slot[f.slot] = f.fact_id;
  }
  known["p1"] = d.values.at("p1");
  known["p2"] = d.values.at("p2");
  for (std::size_t j = 0; j < d.skeleton->composed.size(); ++j) {
    const data::ComposedDef& c = d.skeleton->composed[j];
    const auto a = fact_of_slot.find(c.slot_a), b = fact_of_slot.find(c.slot_b);
    if (a == fact_of_slot.end() || b == fact_of_slot.end()) continue;
    s.probes.push_back({"C" + std::to_string(j + 1),
                        fill(c.question, known),
                        fill(c.gold, known),
                        {a->second, b->second},
                        {}});
  }
  return s;
}

// Byte offset of each code point boundary (size = code points + 1).
std::vector<std::size_t> code_point_offsets(std::string_view utf8) {
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < utf8.size(); ++i)
    if ((static_cast<unsigned char>(utf8[i]) & 0xC0) != 0x80) offsets.push_back(i);
  offsets.push_back(utf8.size());
  return offsets;
}

// v1 (SPEC.md S1.6): target characters drawn per sample, passages appended until long enough, cut.
std::string distractor_v1(py::Random& rng, std::int64_t target) {
  const auto& seeds = distractor_seed_passages();
  std::vector<std::string_view> shuffled(seeds.begin(), seeds.end());
  rng.shuffle(shuffled);
  std::string text;
  std::int64_t length = 0;
  while (length < target) {
    const std::string_view piece = rng.choice(shuffled);
    text.append(piece).append("\n\n");
    length += static_cast<std::int64_t>(count_code_points(piece)) + 2;
  }
  return text.substr(0, code_point_offsets(text)[static_cast<std::size_t>(target)]);
}

// v2's distractor passages: kDistractorPassages of the generated prose, the even ones for the
// train split, the odd ones for test.
std::vector<std::string> distractor_pool(const std::string& split) {
  std::vector<std::string> pool;
  for (std::uint64_t i = 0; i < kDistractorPassages; ++i)
    if (in_split(i, split)) pool.push_back(data::distractor_passage(i));
  return pool;
}

// v2: the pool's passages in random order, none twice before all were used (with replacement,
// about half the 2.5k-token distractors repeated one); the requested length in the measure's
// unit; the longest prefix (in code points) whose measured length does not exceed the target.
std::string distractor_v2(py::Random& rng, std::int64_t target, const LengthMeasure& m,
                          const std::vector<std::string>& passages) {
  std::vector<std::size_t> order(passages.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::size_t next = 0;  // order[0, next) are used; the rest is drawn from lazily
  std::string text;
  const auto want = static_cast<std::size_t>(target);
  std::size_t measured = 0;
  while (measured < want) {
    // Append by estimate (each piece measured alone), then measure the whole text once.
    for (std::size_t estimate = measured; estimate < want;) {
      if (next == order.size()) next = 0;
      std::swap(order[next], order[next + rng.randbelow(order.size() - next)]);
      const std::string chunk = passages[order[next++]] + "\n\n";
      estimate += m.length(chunk);
      text += chunk;
    }
    measured = m.length(text);
  }
  const std::vector<std::size_t> offsets = code_point_offsets(text);
  std::size_t lo = 0, hi = offsets.size() - 1;  // invariant: prefix(lo) fits
  while (lo < hi) {
    const std::size_t mid = (lo + hi + 1) / 2;
    if (m.length(std::string_view(text).substr(0, offsets[mid])) <= want)
      lo = mid;
    else
      hi = mid - 1;
  }
  return text.substr(0, offsets[lo]);
}

}  // namespace

std::size_t count_code_points(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

LengthMeasure code_point_measure() { return {"chars", count_code_points}; }

LengthMeasure token_measure(const tokenizer::Tokenizer& tok) {
  return {"tokens", [&tok](std::string_view text) { return tok.encode(text, false).size(); }};
}

Benchmark generate(const GenerateOptions& options) {
  const bool v2 = options.format == "v2";
  if (!v2 && options.format != "v1")
    throw BenchError("bench: --format must be v1 or v2, got '" + options.format + "'");
  if (options.samples_per_level < 1 || options.samples_per_level > kMaxSamplesPerLevel)
    throw BenchError("bench: --samples-per-level must be from 1 to " +
                     std::to_string(kMaxSamplesPerLevel) + ", got " +
                     std::to_string(options.samples_per_level));
  std::set<int> levels{1, 2, 3};
  if (v2) {
    if (options.split != "train" && options.split != "test" && options.split != "all")
      throw BenchError("bench: --split must be train, test or all, got '" + options.split + "'");
    levels = std::set<int>(options.levels.begin(), options.levels.end());
    if (levels.empty()) throw BenchError("bench: --levels must name at least one level");
    for (int l : levels)
      if (l < 1 || l > 3) throw BenchError("bench: --levels: unknown level " + std::to_string(l));
    if (levels.count(3) && options.distractor_lengths.empty())
      throw BenchError("bench: level 3 needs at least one --distractor-tokens length");
    for (std::int64_t len : options.distractor_lengths)
      if (len < 0)
        throw BenchError("bench: --distractor-tokens: negative length " + std::to_string(len));
    if (!options.measure.length) throw BenchError("bench: no length function for distractors");
  }

  Benchmark b;
  b.version = options.format;
  b.seed = options.seed;
  b.n_samples_per_level = options.samples_per_level;
  std::optional<Pools> pools;
  if (v2) {
    b.distractor_unit = options.measure.unit;
    b.split = options.split;
    b.independent_levels = options.independent_levels;
    pools.emplace(options.split);
  }

  py::Random rng(options.seed);
  const std::vector<SkeletonDef> skeletons = v2 ? v2_skeletons(options.split) : data::kSkeletons;
  const int n = options.samples_per_level;
  // Level 1's drafts; with independent levels, levels 2 and 3 draw their own (both always, so a
  // level's samples do not depend on --levels; level 3's shared by its distractor lengths, so the
  // length curve pairs the same conversations).
  const auto make_drafts = [&] {
    std::vector<Draft> drafts;
    for (int i = 0; i < n; ++i)
      drafts.push_back(make_l1(rng, skeletons, i, pools ? &*pools : nullptr));
    return drafts;
  };
  const std::vector<Draft> drafts = make_drafts();
  const bool independent = v2 && options.independent_levels;
  const std::vector<Draft> own2 = independent ? make_drafts() : std::vector<Draft>();
  const std::vector<Draft> own3 = independent ? make_drafts() : std::vector<Draft>();
  if (levels.count(1))
    for (const Draft& d : drafts) b.samples.push_back(d.sample);
  if (levels.count(2))
    for (int i = 0; i < n; ++i) b.samples.push_back(make_l2((independent ? own2 : drafts)[i], i));
  if (!levels.count(3)) return b;
  if (!v2) {
    for (int i = 0; i < n; ++i) {
      Sample s = drafts[i].sample;
      s.sample_id = sample_id(3, i);
      s.level = 3;
      s.distractor = distractor_v1(rng, rng.randint(2000, 4000));
      b.samples.push_back(std::move(s));
    }
    return b;
  }
  const std::vector<std::string> passages = distractor_pool(options.split);
  for (std::int64_t target : options.distractor_lengths) {
    for (int i = 0; i < n; ++i) {
      Sample s = (independent ? own3 : drafts)[i].sample;
      s.sample_id = sample_id(3, i, target);
      s.level = 3;
      s.distractor = distractor_v2(rng, target, options.measure, passages);
      s.distractor_target = target;
      s.distractor_length = static_cast<std::int64_t>(options.measure.length(*s.distractor));
      b.samples.push_back(std::move(s));
    }
  }
  return b;
}

}  // namespace tttmem::bench
