// The subcommands of the tttmem binary. Each lives in its own cmd_<name>.cpp, registers its
// flags on a CLI11 subcommand and returns the action main() runs once parsing succeeded.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace tttmem::dist {
class World;
}

namespace tttmem::cli {

// Flags accepted by every subcommand (given before or after the subcommand name).
struct GlobalOptions {
  std::string device = "cpu";   // cpu | cuda | cuda:N
  std::string dtype = "auto";   // auto (bf16 on cuda, fp32 on cpu) | bf16 | fp16 | fp32
  std::uint64_t seed = 42;
  std::string log_level = "info";
  std::string log_file;
  std::int64_t dist_timeout = 1800;  // seconds
  // The ranks of a distributed launch (run, train-minimal): set by main before the action runs;
  // a world of one without a launcher.
  dist::World* world = nullptr;
};

using Action = std::function<int()>;

Action add_build_benchmark(CLI::App& app, const GlobalOptions& global);
Action add_train_minimal(CLI::App& app, const GlobalOptions& global);
Action add_sanity(CLI::App& app, const GlobalOptions& global);
Action add_run(CLI::App& app, const GlobalOptions& global);
Action add_evaluate(CLI::App& app, const GlobalOptions& global);
Action add_init_model(CLI::App& app, const GlobalOptions& global);
Action add_forward(CLI::App& app, const GlobalOptions& global);
Action add_tokenize(CLI::App& app, const GlobalOptions& global);
Action add_info(CLI::App& app, const GlobalOptions& global);

}  // namespace tttmem::cli
