// tttmem forward: Run the model on token ids or text and write fp32 logits.
#include "commands.h"

namespace tttmem::cli {

Action add_forward(CLI::App& app, const GlobalOptions&) {
  app.add_subcommand("forward", "Run the model on token ids or text and write fp32 logits [not built yet]");
  return [] () -> int { throw NotBuiltYet("forward"); };
}

}  // namespace tttmem::cli
