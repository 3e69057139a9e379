// experiment: a run over several ranks (SPEC.md "Scale-out"): which samples a rank answers, where
// it keeps its records, and how rank 0 merges them into what a single process writes.
#include <regex>
#include <stdexcept>

#include "tttmem/experiment.h"
#include "tttmem/io.h"

namespace tttmem::experiment {

namespace fs = std::filesystem;

std::vector<const bench::Sample*> shard(const std::vector<const bench::Sample*>& samples, int rank,
                                        int size) {
  std::vector<const bench::Sample*> out;
  for (std::size_t i = static_cast<std::size_t>(rank); i < samples.size(); i += static_cast<std::size_t>(size))
    out.push_back(samples[i]);
  return out;
}

fs::path rank_dir(const fs::path& out, int rank, int size) {
  return out / "ranks" / ("rank" + std::to_string(rank) + "-of-" + std::to_string(size));
}

void check_world(const fs::path& out, int size) {
  const fs::path ranks = out / "ranks";
  if (fs::is_directory(ranks)) {
    static const std::regex name("rank([0-9]+)-of-([0-9]+)");
    for (const auto& entry : fs::directory_iterator(ranks)) {
      std::smatch m;
      const std::string file = entry.path().filename().string();
      if (!std::regex_match(file, m, name) || std::stoi(m[2]) == size) continue;
      throw std::runtime_error(
          entry.path().string() + " holds records of a run over " + m[2].str() + " ranks, and " +
          (size == 1 ? std::string("this is one process") : "this launch has " + std::to_string(size)) +
          ": resume it with " + m[2].str() + " ranks (each rank continues its own samples), or "
          "choose another --out");
    }
    return;
  }
  if (size == 1 || !fs::is_directory(out)) return;
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("condition_", 0) == 0 && entry.path().extension() == ".jsonl")
      throw std::runtime_error(entry.path().string() + " was written by a single-process run: "
                               "resume it as one process, or choose another --out");
  }
}

namespace {

// One condition's records from every rank into OUT's files, as a single process writes them.
void write_merged(const fs::path& out, const std::string& condition,
                  const std::vector<const bench::Sample*>& samples,
                  const std::vector<std::string>& rank_jsonl) {
  std::vector<Record> records;
  for (std::size_t rank = 0; rank < rank_jsonl.size(); ++rank) {
    std::vector<Record> mine = parse_records(
        rank_jsonl[rank], rank_dir(out, static_cast<int>(rank), static_cast<int>(rank_jsonl.size()))
                                  .append("condition_" + condition + ".jsonl")
                                  .string());
    records.insert(records.end(), std::make_move_iterator(mine.begin()),
                   std::make_move_iterator(mine.end()));
  }
  write_condition_files(out, condition, samples, records);
}

// One condition's ConditionStats::to_json() over every rank: counts add up, seconds and the
// device peak are the slowest and largest rank's.
nlohmann::ordered_json merged_stats(const std::vector<nlohmann::ordered_json>& ranks) {
  nlohmann::ordered_json out = ranks.at(0);
  double seconds = 0;
  nlohmann::ordered_json peak = nullptr;
  for (const char* count : {"probes", "resumed_probes", "generated_tokens", "samples_ingested",
                            "kv_compactions"}) {
    std::int64_t sum = 0;
    for (const auto& rank : ranks) sum += rank.at(count).get<std::int64_t>();
    out[count] = sum;
  }
  for (const auto& rank : ranks) {
    seconds = std::max(seconds, rank.at("seconds").get<double>());
    if (const auto& p = rank.at("peak_device_bytes"); !p.is_null() && (peak.is_null() || p > peak))
      peak = p;
  }
  out["seconds"] = seconds;
  out["probes_per_second"] =
      seconds > 0 ? static_cast<double>(out["probes"].get<std::int64_t>()) / seconds : 0.0;
  out["peak_device_bytes"] = peak;
  return out;
}

}  // namespace

std::string rank_report(int rank, const fs::path& records_dir,
                        const std::vector<std::string>& conditions,
                        const nlohmann::ordered_json& stats,
                        const nlohmann::ordered_json& device_peak) {
  nlohmann::ordered_json report = {{"rank", rank},
                                   {"conditions", stats},
                                   {"device_peak_allocated_bytes", device_peak},
                                   {"records", nlohmann::ordered_json::object()}};
  for (const std::string& condition : conditions)
    report["records"][condition] = io::read_file(records_dir / ("condition_" + condition + ".jsonl"));
  return report.dump();
}

nlohmann::ordered_json merge_reports(const fs::path& out, const std::vector<std::string>& conditions,
                                     const std::vector<std::vector<const bench::Sample*>>& samples,
                                     const nlohmann::ordered_json& identity,
                                     const std::vector<std::string>& reports,
                                     nlohmann::ordered_json& ranks) {
  std::vector<nlohmann::ordered_json> parsed;
  for (const std::string& text : reports) parsed.push_back(nlohmann::ordered_json::parse(text));
  nlohmann::ordered_json merged = nlohmann::ordered_json::array();
  for (std::size_t c = 0; c < conditions.size(); ++c) {
    std::vector<std::string> jsonl;
    std::vector<nlohmann::ordered_json> stats;
    for (const auto& report : parsed) {
      jsonl.push_back(report["records"][conditions[c]].get<std::string>());
      stats.push_back(report["conditions"][c]);
    }
    write_merged(out, conditions[c], samples[c], jsonl);
    io::atomic_write_file(out / ("identity_" + conditions[c] + ".json"), identity.dump(2) + "\n");
    merged.push_back(merged_stats(stats));
  }
  ranks = nlohmann::ordered_json::array();
  for (auto& report : parsed) {
    report.erase("records");
    ranks.push_back(std::move(report));
  }
  return merged;
}

}  // namespace tttmem::experiment
