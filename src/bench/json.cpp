// Benchmark <-> JSON: the writer reproduces build_benchmark.py's key order (SPEC.md S1.8); the
// loader validates every field and names the sample and field it rejects.
#include <map>
#include <set>

#include "tttmem/bench.h"
#include "tttmem/io.h"
#include "tttmem/pycompat.h"
#include "tttmem/ruler.h"

namespace tttmem::bench {

namespace {

using OJ = nlohmann::ordered_json;
using J = nlohmann::json;

OJ sample_json(const Sample& s, bool v2) {
  OJ out = OJ::object();
  out["sample_id"] = s.sample_id;
  out["level"] = s.level;
  out["skeleton_id"] = s.skeleton_id;
  out["conversation"] = s.conversation;
  OJ facts = OJ::array();
  for (const Fact& f : s.facts) {
    OJ fj = {{"fact_id", f.fact_id},
             {"fact_text", f.fact_text},
             {"category", f.category},
             {"slot", f.slot}};
    if (v2) fj["offset"] = f.offset ? OJ(*f.offset) : OJ(nullptr);
    facts.push_back(std::move(fj));
  }
  out["facts"] = std::move(facts);
  OJ probes = OJ::array();
  for (const Probe& p : s.probes)
    probes.push_back({{"probe_id", p.probe_id},
                      {"question", p.question},
                      {"gold_answer", p.gold_answer},
                      {"required_facts", p.required_facts}});
  out["probes"] = std::move(probes);
  out["distractor"] = s.distractor ? OJ(*s.distractor) : OJ(nullptr);
  if (v2 && s.level == 3) {
    out["distractor_target"] = s.distractor_target ? OJ(*s.distractor_target) : OJ(nullptr);
    out["distractor_length"] = s.distractor_length ? OJ(*s.distractor_length) : OJ(nullptr);
  }
  return out;
}

// Reads fields of one JSON object, naming `where` ("file: sample L1-0003 probe P2") in errors.
class Fields {
 public:
  Fields(const J& obj, std::string where) : obj_(obj), where_(std::move(where)) {
    if (!obj.is_object())
      throw BenchError(where_ + ": expected a JSON object, got " + obj.type_name());
  }
  const J& get(const char* key, J::value_t type, const char* type_name) const {
    const auto it = obj_.find(key);
    if (it == obj_.end()) throw BenchError(where_ + ": missing field '" + key + "'");
    const bool ok =
        it->type() == type || (type == J::value_t::number_integer && it->is_number_unsigned());
    if (!ok)
      throw BenchError(where_ + ": field '" + key + "' must be " + type_name + ", got " +
                       it->type_name());
    return *it;
  }
  std::string str(const char* key) const {
    return get(key, J::value_t::string, "a string").get<std::string>();
  }
  std::int64_t integer(const char* key) const {
    return get(key, J::value_t::number_integer, "an integer").get<std::int64_t>();
  }
  const J& array(const char* key) const { return get(key, J::value_t::array, "an array"); }
  bool is_null(const char* key) const {
    const auto it = obj_.find(key);
    if (it == obj_.end()) throw BenchError(where_ + ": missing field '" + key + "'");
    return it->is_null();
  }
  const std::string& where() const { return where_; }

 private:
  const J& obj_;
  std::string where_;
};

std::optional<std::int64_t> optional_int(const Fields& f, const char* key) {
  if (f.is_null(key)) return std::nullopt;
  return f.integer(key);
}

Sample parse_sample(const J& js, std::size_t index, const std::string& source, bool v2) {
  const Fields top(js, source + ": samples[" + std::to_string(index) + "]");
  Sample s;
  s.sample_id = top.str("sample_id");
  const std::string where = source + ": sample " + s.sample_id;
  const Fields f(js, where);
  s.level = static_cast<int>(f.integer("level"));
  if (s.level < 1 || s.level > 3)
    throw BenchError(where + ": field 'level' must be 1, 2 or 3, got " + std::to_string(s.level));
  s.skeleton_id = f.str("skeleton_id");
  s.conversation = f.str("conversation");

  std::set<std::string> fact_ids;
  const J& facts = f.array("facts");
  if (facts.empty()) throw BenchError(where + ": field 'facts' is empty");
  for (std::size_t k = 0; k < facts.size(); ++k) {
    const Fields ff(facts[k], where + " facts[" + std::to_string(k) + "]");
    Fact fact;
    fact.fact_id = ff.str("fact_id");
    const Fields fn(facts[k], where + " fact " + fact.fact_id);
    fact.fact_text = fn.str("fact_text");
    fact.category = fn.str("category");
    if (std::find(kFactCategories.begin(), kFactCategories.end(), fact.category) ==
        kFactCategories.end())
      throw BenchError(fn.where() + ": field 'category' is not a known category: '" +
                       fact.category + "'");
    fact.slot = fn.str("slot");
    if (v2) fact.offset = optional_int(fn, "offset");
    if (!fact_ids.insert(fact.fact_id).second)
      throw BenchError(where + ": duplicate fact_id '" + fact.fact_id + "'");
    s.facts.push_back(std::move(fact));
  }

  std::set<std::string> probe_ids, probed_facts;
  const J& probes = f.array("probes");
  if (probes.empty()) throw BenchError(where + ": field 'probes' is empty");
  for (std::size_t k = 0; k < probes.size(); ++k) {
    const Fields pf(probes[k], where + " probes[" + std::to_string(k) + "]");
    Probe p;
    p.probe_id = pf.str("probe_id");
    const Fields pn(probes[k], where + " probe " + p.probe_id);
    if (!probe_ids.insert(p.probe_id).second)
      throw BenchError(where + ": duplicate probe_id '" + p.probe_id + "'");
    p.question = pn.str("question");
    p.gold_answer = pn.str("gold_answer");
    if (p.gold_answer.empty()) throw BenchError(pn.where() + ": field 'gold_answer' is empty");
    const J& req = pn.array("required_facts");
    if (req.empty()) throw BenchError(pn.where() + ": field 'required_facts' is empty");
    for (const J& r : req) {
      if (!r.is_string())
        throw BenchError(pn.where() + ": field 'required_facts' must hold strings, got " +
                         r.type_name());
      const std::string id = r.get<std::string>();
      if (!fact_ids.count(id))
        throw BenchError(pn.where() + ": field 'required_facts' names unknown fact '" + id + "'");
      probed_facts.insert(id);
      p.required_facts.push_back(id);
    }
    s.probes.push_back(std::move(p));
  }
  // L2 carries the whole L1 fact list as context, so only L1/L3 must probe every fact.
  if (s.level != 2)
    for (const Fact& fact : s.facts)
      if (!probed_facts.count(fact.fact_id))
        throw BenchError(where + ": fact '" + fact.fact_id + "' is required by no probe");

  if (f.is_null("distractor")) {
    if (s.level == 3)
      throw BenchError(where + ": field 'distractor' must be a string on level 3, got null");
  } else {
    s.distractor = f.str("distractor");
    if (s.level != 3) throw BenchError(where + ": field 'distractor' must be null below level 3");
  }
  if (v2 && s.level == 3) {
    s.distractor_target = optional_int(f, "distractor_target");
    s.distractor_length = optional_int(f, "distractor_length");
  }
  return s;
}

// A RULER file as the runner's samples: the document where a conversation stands, one probe.
Benchmark from_ruler(std::string_view json_text, const std::string& source) {
  ruler::Benchmark r;
  try {
    r = ruler::parse_benchmark(json_text, source);
  } catch (const ruler::RulerError& e) {
    throw BenchError(e.what());
  }
  Benchmark b;
  b.version = "ruler";
  b.seed = r.seed;
  b.tokens_to_generate = r.tokens_to_generate;
  b.n_samples_per_level = static_cast<int>(r.samples.size());
  for (ruler::Sample& s : r.samples) {
    Sample sample;
    sample.sample_id = s.id;
    sample.conversation = std::move(s.document);
    sample.task = s.task;
    sample.context_length = s.context_length_target;
    sample.probes.push_back({"Q", std::move(s.question), s.answer, {}, std::move(s.answer_aliases)});
    b.samples.push_back(std::move(sample));
  }
  return b;
}

}  // namespace

std::string to_json(const Benchmark& b) {
  const bool v2 = b.version == "v2";
  OJ root = OJ::object();
  root["version"] = b.version;
  root["seed"] = b.seed;
  root["n_samples_per_level"] = b.n_samples_per_level;
  if (v2) {
    root["distractor_unit"] = b.distractor_unit;
    root["split"] = b.split;
    root["independent_levels"] = b.independent_levels;
  }
  root["n_total"] = b.samples.size();
  OJ samples = OJ::array();
  for (const Sample& s : b.samples) samples.push_back(sample_json(s, v2));
  root["samples"] = std::move(samples);
  return py::dumps(root, 2);
}

Benchmark parse_benchmark(std::string_view json_text, const std::string& source) {
  J root;
  try {
    root = J::parse(json_text);
  } catch (const J::parse_error& e) {
    throw BenchError(source + ": not valid JSON: " + e.what());
  }
  if (root.is_object() && root.contains("format") && root["format"] == "ruler")
    return from_ruler(json_text, source);
  const Fields f(root, source);
  Benchmark b;
  b.version = f.str("version");
  if (b.version != "v1" && b.version != "v2")
    throw BenchError(source + ": field 'version' must be \"v1\" or \"v2\", got \"" + b.version +
                     "\"");
  const bool v2 = b.version == "v2";
  const std::int64_t seed = f.integer("seed");
  if (seed < 0) throw BenchError(source + ": field 'seed' must be >= 0");
  b.seed = static_cast<std::uint64_t>(seed);
  const std::int64_t per_level = f.integer("n_samples_per_level");
  if (per_level < 1 || per_level > kMaxSamplesPerLevel)
    throw BenchError(source + ": field 'n_samples_per_level' must be from 1 to " +
                     std::to_string(kMaxSamplesPerLevel) + ", got " + std::to_string(per_level));
  b.n_samples_per_level = static_cast<int>(per_level);
  if (v2) {
    b.distractor_unit = f.str("distractor_unit");
    if (b.distractor_unit != "tokens" && b.distractor_unit != "chars")
      throw BenchError(source +
                       ": field 'distractor_unit' must be \"tokens\" or \"chars\", got \"" +
                       b.distractor_unit + "\"");
    b.split = root.contains("split") ? f.str("split") : "all";
    if (b.split != "train" && b.split != "test" && b.split != "all")
      throw BenchError(source + ": field 'split' must be \"train\", \"test\" or \"all\", got \"" +
                       b.split + "\"");
    if (root.contains("independent_levels")) {
      if (!root["independent_levels"].is_boolean())
        throw BenchError(source + ": field 'independent_levels' must be true or false");
      b.independent_levels = root["independent_levels"].get<bool>();
    }
  }
  const std::int64_t n_total = f.integer("n_total");
  const J& samples = f.array("samples");
  if (n_total != static_cast<std::int64_t>(samples.size()))
    throw BenchError(source + ": field 'n_total' is " + std::to_string(n_total) +
                     " but 'samples' holds " + std::to_string(samples.size()));
  std::set<std::string> ids;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    Sample s = parse_sample(samples[i], i, source, v2);
    if (!ids.insert(s.sample_id).second)
      throw BenchError(source + ": sample " + s.sample_id + ": duplicate sample_id");
    b.samples.push_back(std::move(s));
  }
  // Each level holds n_samples_per_level samples (level 3 of v2: that many per distractor length).
  std::map<int, std::int64_t> per_level_count;
  for (const Sample& s : b.samples) ++per_level_count[s.level];
  for (const auto& [level, count] : per_level_count)
    if (count % per_level != 0)
      throw BenchError(source + ": level " + std::to_string(level) + " holds " +
                       std::to_string(count) + " samples, not a multiple of field "
                       "'n_samples_per_level' (" + std::to_string(per_level) + ")");
  // The file's claim of independent levels holds: no conversation appears at two levels.
  if (b.independent_levels) {
    std::map<std::string_view, const Sample*> first;
    for (const Sample& s : b.samples) {
      const auto [it, inserted] = first.emplace(s.conversation, &s);
      if (!inserted && it->second->level != s.level)
        throw BenchError(source + ": sample " + s.sample_id + ": field 'independent_levels' is "
                         "true but its conversation is also that of level-" +
                         std::to_string(it->second->level) + " sample " +
                         it->second->sample_id);
    }
  }
  return b;
}

Benchmark load_benchmark(const std::filesystem::path& path) {
  return parse_benchmark(io::read_file(path), path.string());
}

}  // namespace tttmem::bench
