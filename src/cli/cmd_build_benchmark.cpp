// tttmem build-benchmark: Generate the conversation-memory benchmark (or validate one).
#include "commands.h"

namespace tttmem::cli {

Action add_build_benchmark(CLI::App& app, const GlobalOptions&) {
  app.add_subcommand("build-benchmark", "Generate the conversation-memory benchmark (or validate one) [not built yet]");
  return [] () -> int { throw NotBuiltYet("build-benchmark"); };
}

}  // namespace tttmem::cli
