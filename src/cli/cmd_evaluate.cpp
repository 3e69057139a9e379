// tttmem evaluate: scores condition results against the benchmark and writes report.json.
#include "commands.h"

namespace tttmem::cli {

Action add_evaluate(CLI::App& app, const GlobalOptions&) {
  auto* sub = app.add_subcommand(
      "evaluate", "Score condition results and write report.json and figures [not built yet]");
  struct Flags {
    std::string benchmark, results_dir = "results", out = "results/report.json";
  };
  auto f = std::make_shared<Flags>();
  sub->add_option("--benchmark", f->benchmark, "Benchmark JSON the results were run on")->required();
  sub->add_option("--results-dir", f->results_dir, "Folder with condition_<X> files")->capture_default_str();
  sub->add_option("--out", f->out, "report.json to write")->capture_default_str();
  return [f]() -> int { throw NotBuiltYet("evaluate"); };
}

}  // namespace tttmem::cli
