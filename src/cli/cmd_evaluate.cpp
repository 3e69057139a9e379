// tttmem evaluate: scores the condition result files of a results folder against the benchmark
// and writes report.json, results.md and figures (SPEC.md `## eval`).
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <tuple>

#include "commands.h"
#include "flag_checks.h"
#include "tttmem/eval.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/protocol.h"
#include "tttmem/pycompat.h"

namespace tttmem::cli {

namespace {

struct EvaluateOptions {
  std::string results, out, benchmark;
  std::vector<std::string> also;  // more RULER results folders (other tasks and lengths)
  int resamples = 10000;
  std::string ci_unit = "conversation";
};

// run.json of the results folder (written by `tttmem run`), null when there is none.
nlohmann::ordered_json read_run_info(const std::filesystem::path& results) {
  const auto path = results / "run.json";
  if (!std::filesystem::is_regular_file(path)) return nullptr;
  try {
    return nlohmann::ordered_json::parse(io::read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw eval::EvalError(path.string() + ": invalid JSON: " + e.what());
  }
}

// `given` (--benchmark), else the benchmark run.json names ("benchmark": path or {"path": ...}).
std::string benchmark_path(const std::string& given, const std::string& results,
                           const nlohmann::ordered_json& run) {
  if (!given.empty()) return given;
  if (run.is_object() && run.contains("benchmark")) {
    const auto& b = run["benchmark"];
    if (b.is_string()) return b.get<std::string>();
    if (b.is_object() && b.contains("path") && b["path"].is_string())
      return b["path"].get<std::string>();
  }
  throw eval::EvalError("no --benchmark given and " + (results + "/run.json") +
                        " names none: pass --benchmark FILE (the file the results were run on)");
}

// One results folder: its conditions' files, each read against its benchmark.
struct Folder {
  std::vector<std::string> names;  // condition names, report order
  nlohmann::ordered_json run;      // run.json, null when absent
  std::string benchmark_file;
  bench::Benchmark benchmark;
  std::vector<eval::ConditionResult> loaded;
};

Folder load_folder(const std::string& results, const std::string& given_benchmark) {
  Folder f;
  f.names = eval::discover_conditions(results);
  if (f.names.empty()) {
    std::vector<std::string> stems = eval::main_condition_names();
    for (const protocol::ConditionKind& kind : protocol::condition_kinds())
      if (kind.sweep != protocol::Sweep::none) stems.push_back(std::string(kind.name) + "_<s>");
    std::string expected;
    for (const std::string& stem : stems) expected += (expected.empty() ? "" : ", ") + stem;
    throw eval::EvalError(results +
                          ": no result files (expected condition_<x>.jsonl or condition_<x>.json "
                          "for x in " + expected + ")");
  }
  f.run = read_run_info(results);
  f.benchmark_file = benchmark_path(given_benchmark, results, f.run);
  f.benchmark = bench::load_benchmark(f.benchmark_file);
  for (const std::string& name : f.names) {
    f.loaded.push_back(eval::load_condition(results, name, f.benchmark));
    if (f.run.is_object() && f.run.contains("conditions") && f.run["conditions"].is_array())
      for (const auto& timing : f.run["conditions"])
        if (timing.is_object() && timing.value("condition", "") == name &&
            timing.contains("peak_device_bytes") && timing["peak_device_bytes"].is_number_integer())
          f.loaded.back().peak_device_bytes = timing["peak_device_bytes"].get<std::int64_t>();
    log::info("evaluate: condition ", name, " from ", f.loaded.back().source.string());
  }
  return f;
}

}  // namespace

Action add_evaluate(CLI::App& app, const GlobalOptions& global) {
  auto* sub = app.add_subcommand(
      "evaluate",
      "Score condition results (condition_<x>.jsonl or the seed's .json) against the benchmark: "
      "report.json, results.md and figures. The bootstrap seed is the global --seed.");
  auto o = std::make_shared<EvaluateOptions>();
  sub->add_option("--results,--results-dir", o->results,
                  "Folder with condition_<x>.jsonl / condition_<x>.json files (and run.json)")
      ->required();
  sub->add_option("--out", o->out, "Folder for report.json, results.md and figures/")->required();
  sub->add_option("--benchmark", o->benchmark,
                  "Benchmark JSON the results were run on (default: the one run.json names)");
  sub->add_option("--also", o->also,
                  "RULER only: more results folders (other tasks or lengths), each scored "
                  "against the benchmark its run.json names, into the same report");
  sub->add_option("--bootstrap", o->resamples,
                  "Bootstrap resamples for the 95% intervals (0: no intervals)")
      ->check(whole_number(0, 10'000'000))
      ->capture_default_str();
  sub->add_option("--ci-unit", o->ci_unit,
                  "What the bootstrap resamples: conversation (the samples built from one "
                  "conversation together, as they are not independent) or sample (the seed's)")
      ->check(CLI::IsMember({"conversation", "sample"}))
      ->capture_default_str();

  return [o, &global]() -> int {
    const std::filesystem::path out(o->out);
    const Folder main = load_folder(o->results, o->benchmark);
    const std::vector<std::string>& names = main.names;
    const std::string& benchmark_file = main.benchmark_file;
    const bench::Benchmark& benchmark = main.benchmark;
    if (!o->also.empty() && benchmark.version != "ruler")
      throw eval::EvalError("--also: only RULER results combine into one report; " +
                            benchmark_file + " is a " + benchmark.version + " benchmark");
    eval::BootstrapOptions boot;
    boot.resamples = o->resamples;
    boot.seed = global.seed;
    boot.unit = eval::parse_ci_unit(o->ci_unit);
    std::string command = "tttmem evaluate --results " + o->results + " --out " + o->out +
                          " --benchmark " + benchmark_file;
    for (const std::string& folder : o->also) command += " --also " + folder;
    if (benchmark.version == "ruler") {  // by task, length and condition (SPEC.md `ruler`)
      std::vector<eval::RulerCell> cells;
      // A cell's key names one run: the same key from two folders (an adapter's and a control's
      // ttt_paper) would be two rows no reader could tell apart.
      std::map<std::tuple<std::string, std::int64_t, std::string>, std::string> folder_of;
      auto add = [&](const std::string& folder, std::vector<eval::RulerCell> more) {
        for (eval::RulerCell& cell : more) {
          const auto [it, fresh] =
              folder_of.emplace(std::tuple(cell.task, cell.length, cell.condition), folder);
          if (!fresh)
            throw eval::EvalError(cell.task + " at " + std::to_string(cell.length) +
                                  " tokens under condition " + cell.condition + " is in both " +
                                  it->second + " and " + folder +
                                  ": a report holds one cell each; evaluate them into separate "
                                  "reports");
          cells.push_back(std::move(cell));
        }
      };
      add(o->results, eval::ruler_cells(main.loaded, benchmark, boot));
      for (const std::string& folder : o->also) {
        const Folder more = load_folder(folder, "");
        add(folder, eval::ruler_cells(more.loaded, more.benchmark, boot));
      }
      std::filesystem::create_directories(out);
      std::stable_sort(cells.begin(), cells.end(), [](const auto& a, const auto& b) {
        return std::tie(a.task, a.length) < std::tie(b.task, b.length);
      });
      io::atomic_write_file(out / "report.json",
                            eval::ruler_report_json(cells, boot, command).dump(2) + "\n");
      const std::string markdown = eval::ruler_markdown(cells, command);
      io::atomic_write_file(out / "results.md", markdown);
      eval::write_ruler_figures(cells, out / "figures");
      std::fputs(markdown.c_str(), stdout);
      return 0;
    }
    for (const protocol::ConditionKind& kind : protocol::condition_kinds())
      if (kind.in_all && std::find(names.begin(), names.end(), kind.name) == names.end())
        log::warn("evaluate: condition ", kind.name, " is missing from ", o->results);
    eval::Report report = eval::build_report(main.loaded, benchmark, boot);
    std::filesystem::create_directories(out);
    report.run_info = main.run;
    report.command = command + (boot.unit == eval::CiUnit::sample ? " --ci-unit sample" : "");
    for (const std::string& w : report.warnings) log::warn("evaluate: ", w);

    io::atomic_write_file(out / "report.json", py::dumps(eval::report_json(report), 2));
    io::atomic_write_file(out / "results.md", eval::results_markdown(report));
    eval::write_figures(report, out / "figures");
    std::fputs(eval::summary_text(report).c_str(), stdout);
    return 0;
  };
}

}  // namespace tttmem::cli
