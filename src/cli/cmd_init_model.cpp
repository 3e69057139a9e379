// tttmem init-model: Write a random-initialised checkpoint in the real Hugging Face layout.
#include "commands.h"

namespace tttmem::cli {

Action add_init_model(CLI::App& app, const GlobalOptions&) {
  app.add_subcommand("init-model", "Write a random-initialised checkpoint in the real Hugging Face layout [not built yet]");
  return [] () -> int { throw NotBuiltYet("init-model"); };
}

}  // namespace tttmem::cli
