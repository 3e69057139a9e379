// tttmem sanity: the seed experiment's gate checks on a trained TTT checkpoint (exit 0 or 1).
#include "commands.h"

namespace tttmem::cli {

Action add_sanity(CLI::App& app, const GlobalOptions&) {
  auto* sub = app.add_subcommand(
      "sanity", "Run the sanity checks on a TTT checkpoint; exit 0 if all pass [not built yet]");
  struct Flags {
    std::string model, checkpoint;
    int ttt_chunk = 64;
  };
  auto f = std::make_shared<Flags>();
  sub->add_option("--model", f->model, "Model directory (config.json + safetensors)")->required();
  sub->add_option("--checkpoint", f->checkpoint, "TTT checkpoint (safetensors)")->required();
  sub->add_option("--ttt-chunk", f->ttt_chunk, "TTT chunk size C")->capture_default_str();
  return [f]() -> int { throw NotBuiltYet("sanity"); };
}

}  // namespace tttmem::cli
