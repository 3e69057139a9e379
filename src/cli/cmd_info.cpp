// tttmem info: Summarise a model checkpoint: config, tensors, bytes, dtypes, shards.
#include "commands.h"

namespace tttmem::cli {

Action add_info(CLI::App& app, const GlobalOptions&) {
  app.add_subcommand("info", "Summarise a model checkpoint: config, tensors, bytes, dtypes, shards [not built yet]");
  return [] () -> int { throw NotBuiltYet("info"); };
}

}  // namespace tttmem::cli
