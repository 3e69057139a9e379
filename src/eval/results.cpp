// Reading condition result files: our JSONL (SPEC.md "run", Results; records in completion order)
// and the seed's condition_<x>.json. Both end up in benchmark order, checked against the
// benchmark so that results of another benchmark, a missing or repeated probe, or a broken line
// are errors naming the file and place.
#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "../io/json_strict.h"
#include "tttmem/eval.h"
#include "tttmem/io.h"
#include "tttmem/protocol.h"

namespace tttmem::eval {

namespace {

using J = nlohmann::json;

// The name prefix of each sweep's conditions (a_prime_, b_scaled_), in table order.
std::vector<std::string> ablation_prefixes() {
  std::vector<std::string> out;
  for (const protocol::ConditionKind& kind : protocol::condition_kinds())
    if (kind.sweep != protocol::Sweep::none) out.push_back(std::string(kind.name) + "_");
  return out;
}

// Benchmark lookups by sample id and, per sample, by probe id.
class Index {
 public:
  explicit Index(const bench::Benchmark& b) : benchmark_(b) {
    for (std::size_t i = 0; i < b.samples.size(); ++i) {
      samples_.emplace(b.samples[i].sample_id, i);
      auto& probes = probes_.emplace_back();
      for (std::size_t k = 0; k < b.samples[i].probes.size(); ++k)
        probes.emplace(b.samples[i].probes[k].probe_id, k);
    }
  }
  std::optional<std::size_t> sample(const std::string& id) const {
    const auto it = samples_.find(id);
    return it == samples_.end() ? std::nullopt : std::optional(it->second);
  }
  std::optional<std::size_t> probe(std::size_t sample, const std::string& id) const {
    const auto it = probes_[sample].find(id);
    return it == probes_[sample].end() ? std::nullopt : std::optional(it->second);
  }
  const bench::Benchmark& benchmark() const { return benchmark_; }

 private:
  const bench::Benchmark& benchmark_;
  std::map<std::string, std::size_t> samples_;
  std::vector<std::map<std::string, std::size_t>> probes_;
};

// Reads typed fields of one record, naming `where` in errors.
class Record {
 public:
  Record(const J& obj, std::string where) : obj_(obj), where_(std::move(where)) {
    if (!obj.is_object())
      throw EvalError(where_ + ": expected a JSON object, got " + obj.type_name());
  }
  const J& get(const char* key) const {
    const auto it = obj_.find(key);
    if (it == obj_.end()) throw EvalError(where_ + ": missing field '" + key + "'");
    return *it;
  }
  std::string str(const char* key) const {
    const J& v = get(key);
    if (!v.is_string())
      throw EvalError(where_ + ": field '" + key + "' must be a string, got " + v.type_name());
    return v.get<std::string>();
  }
  double number(const char* key) const {
    const J& v = get(key);
    if (!v.is_number())
      throw EvalError(where_ + ": field '" + key + "' must be a number, got " + v.type_name());
    return v.get<double>();
  }
  std::int64_t integer(const char* key) const {
    const J& v = get(key);
    if (!v.is_number_integer())
      throw EvalError(where_ + ": field '" + key + "' must be an integer, got " + v.type_name());
    return v.get<std::int64_t>();
  }
  const J& array(const char* key) const {
    const J& v = get(key);
    if (!v.is_array())
      throw EvalError(where_ + ": field '" + key + "' must be an array, got " + v.type_name());
    return v;
  }
  bool has(const char* key) const { return obj_.contains(key); }
  const std::string& where() const { return where_; }

 private:
  const J& obj_;
  std::string where_;
};

// Collects predictions into benchmark slots and checks each against the benchmark.
class Collector {
 public:
  Collector(const Index& index, std::string source) : index_(index), source_(std::move(source)) {
    slots_.resize(index.benchmark().samples.size());
  }

  // `where` names the record's place in the file ("line 12", "[3].predictions[4]").
  void add(const std::string& where, const std::string& sample_id, std::int64_t level,
           Prediction p) {
    const std::string at = source_ + ": " + where;
    const auto s = index_.sample(sample_id);
    if (!s)
      throw EvalError(at + ": sample '" + sample_id +
                      "' is not in the benchmark (results of another benchmark?)");
    const bench::Sample& sample = index_.benchmark().samples[*s];
    if (level != sample.level)
      throw EvalError(at + ": sample " + sample_id + " has level " + std::to_string(level) +
                      " but the benchmark says " + std::to_string(sample.level));
    const auto k = index_.probe(*s, p.probe_id);
    if (!k)
      throw EvalError(at + ": sample " + sample_id + " has no probe '" + p.probe_id +
                      "' in the benchmark (results of another benchmark?)");
    const bench::Probe& probe = sample.probes[*k];
    for (const auto& [field, mine, theirs] : {std::tuple{"question", &p.question, &probe.question},
                                              std::tuple{"gold", &p.gold, &probe.gold_answer}})
      if (*mine != *theirs)
        throw EvalError(at + ": sample " + sample_id + " probe " + p.probe_id + ": " + field +
                        " '" + *mine + "' differs from the benchmark's '" + *theirs +
                        "' (results of another benchmark?)");
    auto& slots = slots_[*s];
    if (slots.empty()) slots.resize(sample.probes.size());
    auto& slot = slots[*k];
    if (slot)
      throw EvalError(at + ": sample " + sample_id + " probe " + p.probe_id +
                      " appears twice (first at " + slot->first + ")");
    slot.emplace(where, std::move(p));
  }

  ConditionResult finish() && {
    ConditionResult out;
    out.source = source_;
    for (std::size_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].empty()) continue;
      const bench::Sample& sample = index_.benchmark().samples[s];
      SampleResult r;
      r.sample_index = s;
      for (std::size_t k = 0; k < slots_[s].size(); ++k) {
        if (!slots_[s][k])
          throw EvalError(source_ + ": sample " + sample.sample_id + " probe " +
                          sample.probes[k].probe_id +
                          " is missing (the file has other probes of this sample; an "
                          "interrupted run? continue it with `tttmem run --resume`)");
        r.predictions.push_back(std::move(slots_[s][k]->second));
      }
      out.samples.push_back(std::move(r));
    }
    if (out.samples.empty()) throw EvalError(source_ + ": holds no predictions");
    return out;
  }

 private:
  const Index& index_;
  std::string source_;
  // Per benchmark sample, per probe: the record and where it was read.
  std::vector<std::vector<std::optional<std::pair<std::string, Prediction>>>> slots_;
};

Prediction prediction_of(const Record& r) {
  Prediction p;
  p.probe_id = r.str("probe_id");
  p.question = r.str("question");
  p.gold = r.str("gold");
  p.predicted = r.str("predicted");
  return p;
}

bool is_file(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace

std::vector<std::string> main_condition_names() {
  std::vector<std::string> out;
  for (const protocol::ConditionKind& kind : protocol::condition_kinds())
    if (kind.sweep == protocol::Sweep::none) out.emplace_back(kind.name);
  return out;
}

std::optional<double> ablation_scale(const std::string& name) {
  for (const std::string& prefix : ablation_prefixes()) {
    if (name.rfind(prefix, 0) != 0) continue;
    std::string number = name.substr(prefix.size());
    std::replace(number.begin(), number.end(), 'p', '.');
    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec == std::errc() && end == number.data() + number.size() && !number.empty()) return value;
  }
  return std::nullopt;
}

std::vector<std::string> discover_conditions(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw EvalError(dir.string() +
                    ": not a folder (--results must name the folder holding "
                    "condition_<x>.jsonl or condition_<x>.json files)");
  const std::vector<std::string> main_names = main_condition_names();
  std::set<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string file = entry.path().filename().string();
    for (const std::string ext : {".jsonl", ".json"}) {
      if (file.rfind("condition_", 0) != 0 || file.size() <= ext.size() ||
          file.compare(file.size() - ext.size(), ext.size(), ext) != 0)
        continue;
      const std::string name = file.substr(10, file.size() - 10 - ext.size());
      if (std::find(main_names.begin(), main_names.end(), name) != main_names.end() ||
          ablation_scale(name))
        found.insert(name);
    }
  }
  std::vector<std::string> out;
  for (const std::string& name : main_names)
    if (found.count(name)) out.push_back(name);
  for (const std::string& prefix : ablation_prefixes()) {
    std::vector<std::pair<double, std::string>> ablations;
    for (const std::string& name : found)
      if (name.rfind(prefix, 0) == 0) ablations.emplace_back(*ablation_scale(name), name);
    std::sort(ablations.begin(), ablations.end());
    for (auto& [_, name] : ablations) out.push_back(std::move(name));
  }
  return out;
}

ConditionResult parse_jsonl(std::string_view text, const std::string& source,
                            const bench::Benchmark& benchmark) {
  const Index index(benchmark);
  Collector collector(index, source);
  std::size_t line_no = 0;
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = "line " + std::to_string(line_no);
    J record;
    try {
      record = io::parse_json_strict(line, source + ": " + where);
    } catch (const io::IoError& e) {
      throw EvalError(std::string(e.what()) +
                      " (a run killed mid-write leaves a broken last line; `tttmem run "
                      "--resume` rewrites it)");
    }
    const Record r(record, source + ": " + where);
    Prediction p = prediction_of(r);
    if (r.has("stop_reason")) p.stop_reason = r.str("stop_reason");
    if (r.has("generated_tokens")) p.generated_tokens = r.integer("generated_tokens");
    if (r.has("seconds")) p.seconds = r.number("seconds");
    if (r.has("ingest_seconds")) p.ingest_seconds = r.number("ingest_seconds");
    collector.add(where, r.str("sample_id"), r.integer("level"), std::move(p));
  }
  return std::move(collector).finish();
}

ConditionResult parse_seed_json(std::string_view text, const std::string& source,
                                const bench::Benchmark& benchmark) {
  J root;
  try {
    root = io::parse_json_strict(text, source);
  } catch (const io::IoError& e) {
    throw EvalError(e.what());
  }
  if (!root.is_array())
    throw EvalError(source + ": expected a JSON list of samples, got " + root.type_name());
  const Index index(benchmark);
  Collector collector(index, source);
  for (std::size_t i = 0; i < root.size(); ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    const Record s(root[i], source + ": " + at);
    const std::string sample_id = s.str("sample_id");
    const std::int64_t level = s.integer("level");
    const J& predictions = s.array("predictions");
    for (std::size_t k = 0; k < predictions.size(); ++k) {
      const std::string where = at + ".predictions[" + std::to_string(k) + "]";
      collector.add(where, sample_id, level,
                    prediction_of(Record(predictions[k], source + ": " + where)));
    }
  }
  return std::move(collector).finish();
}

ConditionResult load_condition(const std::filesystem::path& dir, const std::string& name,
                               const bench::Benchmark& benchmark) {
  const auto jsonl = dir / ("condition_" + name + ".jsonl");
  const auto json = dir / ("condition_" + name + ".json");
  std::optional<ConditionResult> from_jsonl, from_json;
  if (is_file(jsonl)) from_jsonl = parse_jsonl(io::read_file(jsonl), jsonl.string(), benchmark);
  if (is_file(json)) from_json = parse_seed_json(io::read_file(json), json.string(), benchmark);
  if (!from_jsonl && !from_json)
    throw EvalError(dir.string() + ": no condition_" + name + ".jsonl or .json");
  ConditionResult out = from_jsonl ? std::move(*from_jsonl) : std::move(*from_json);
  if (from_jsonl && from_json) {
    // The run writes the .json from the .jsonl at its end; a mismatch means one is stale.
    bool same = from_json->samples.size() == out.samples.size();
    for (std::size_t s = 0; same && s < out.samples.size(); ++s) {
      const auto& a = out.samples[s].predictions;
      const auto& b = from_json->samples[s].predictions;
      same = out.samples[s].sample_index == from_json->samples[s].sample_index &&
             std::equal(a.begin(), a.end(), b.begin(), b.end(),
                        [](const Prediction& x, const Prediction& y) {
                          return x.probe_id == y.probe_id && x.predicted == y.predicted;
                        });
    }
    if (!same)
      throw EvalError(jsonl.string() + " and " + json.string() +
                      " disagree (one is stale; remove it or rerun)");
  }
  out.name = name;
  return out;
}

}  // namespace tttmem::eval
