// tttmem train-minimal: trains only the TTT parameters (ttt_proj, ttt_conv) on a frozen base.
#include "commands.h"

namespace tttmem::cli {

Action add_train_minimal(CLI::App& app, const GlobalOptions&) {
  auto* sub = app.add_subcommand(
      "train-minimal", "Train the TTT parameters on a frozen base model [not built yet]");
  struct Flags {
    std::string model, dataset, out = "checkpoints/ttt_minimal.safetensors";
    int steps = 400, batch_size = 1, grad_accum = 4, seq_len = 512, ttt_chunk = 64;
    double lr = 5e-6;
  };
  auto f = std::make_shared<Flags>();
  sub->add_option("--model", f->model, "Model directory (config.json + safetensors)")->required();
  sub->add_option("--dataset", f->dataset, "JSONL of chat `messages` to train on")->required();
  sub->add_option("--out", f->out, "Final TTT checkpoint (safetensors)")->capture_default_str();
  sub->add_option("--steps", f->steps, "Micro-steps")->capture_default_str();
  sub->add_option("--batch-size", f->batch_size, "Sequences per micro-step")->capture_default_str();
  sub->add_option("--grad-accum", f->grad_accum, "Micro-steps per optimizer update")->capture_default_str();
  sub->add_option("--lr", f->lr, "AdamW learning rate")->capture_default_str();
  sub->add_option("--seq-len", f->seq_len, "Tokens per training sequence")->capture_default_str();
  sub->add_option("--ttt-chunk", f->ttt_chunk, "TTT chunk size C")->capture_default_str();
  return [f]() -> int { throw NotBuiltYet("train-minimal"); };
}

}  // namespace tttmem::cli
