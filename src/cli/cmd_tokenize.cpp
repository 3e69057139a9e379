// tttmem tokenize: Encode text to token ids (or decode ids to text).
#include "commands.h"

namespace tttmem::cli {

Action add_tokenize(CLI::App& app, const GlobalOptions&) {
  app.add_subcommand("tokenize", "Encode text to token ids (or decode ids to text) [not built yet]");
  return [] () -> int { throw NotBuiltYet("tokenize"); };
}

}  // namespace tttmem::cli
