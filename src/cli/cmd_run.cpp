// tttmem run: runs one experimental condition (or all) over the benchmark, one JSONL record
// per probe, resumable.
#include "commands.h"

namespace tttmem::cli {

Action add_run(CLI::App& app, const GlobalOptions&) {
  auto* sub = app.add_subcommand(
      "run", "Run condition A, B, C, D (or all) over the benchmark [not built yet]");
  struct Flags {
    std::string condition, model, benchmark, checkpoint, out_dir = "results", protocol = "seed";
    int limit = 0, ttt_chunk = 64, max_new_tokens = 32;
  };
  auto f = std::make_shared<Flags>();
  sub->add_option("--condition", f->condition,
                  "A (conversation in context), B (TTT memory), C (no memory), "
                  "D (TTT memory after a distractor) or all")
      ->required()
      ->check(CLI::IsMember({"A", "B", "C", "D", "all"}, CLI::ignore_case));
  sub->add_option("--model", f->model, "Model directory (config.json + safetensors)")->required();
  sub->add_option("--benchmark", f->benchmark, "Benchmark JSON (build-benchmark output)")->required();
  sub->add_option("--checkpoint", f->checkpoint, "TTT checkpoint (safetensors)");
  sub->add_option("--out-dir", f->out_dir, "Where condition_<X>.jsonl goes")->capture_default_str();
  sub->add_option("--protocol", f->protocol, "seed: reproduce the seed experiment exactly")
      ->check(CLI::IsMember({"seed"}))
      ->capture_default_str();
  sub->add_option("--limit", f->limit, "Only the first N samples (0 = all)")->capture_default_str();
  sub->add_option("--ttt-chunk", f->ttt_chunk, "TTT chunk size C")->capture_default_str();
  sub->add_option("--max-new-tokens", f->max_new_tokens, "Greedy tokens per probe")->capture_default_str();
  return [f]() -> int { throw NotBuiltYet("run"); };
}

}  // namespace tttmem::cli
