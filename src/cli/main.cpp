// tttmem: one binary, one subcommand per pipeline step. Parsing and error reporting live here;
// each subcommand's flags and action live in its own cmd_*.cpp.
#include "commands.h"
#include "flag_checks.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tttmem/dist.h"
#include "tttmem/log.h"

namespace {

using namespace tttmem::cli;

void add_global_flags(CLI::App& app, GlobalOptions& g) {
  app.add_option("--device", g.device, "Compute device: cpu, cuda or cuda:N")
      ->check([](const std::string& v) -> std::string {
        if (v == "cpu" || v == "cuda") return {};
        if (v.rfind("cuda:", 0) == 0 && v.size() > 5 &&
            v.find_first_not_of("0123456789", 5) == std::string::npos)
          return {};
        return "expected cpu, cuda or cuda:N, got '" + v + "'";
      })
      ->capture_default_str();
  app.add_option("--dtype", g.dtype, "Compute dtype: auto (bf16 on cuda, fp32 on cpu), bf16, fp16, fp32")
      ->check(CLI::IsMember({"auto", "bf16", "fp16", "fp32"}))
      ->capture_default_str();
  // Checked on the text: CLI11 would otherwise wrap "-3" or 2^64 around into another seed.
  app.add_option("--seed", g.seed, "Seed for every random draw")
      ->check(whole_number(0, UINT64_MAX))
      ->capture_default_str();
  app.add_option("--log-level", g.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--log-file", g.log_file, "Also append the log to this file");
  app.add_option("--dist-timeout", g.dist_timeout,
                 "Under a distributed launch: seconds to wait for the other ranks (rendezvous, "
                 "collectives, a rank's signs of life) before naming the missing ones and stopping")
      ->check(whole_number(1, 7 * 24 * 3600))
      ->capture_default_str();
}

// Subcommands that run as a distributed program (SPEC.md "Scale-out"); any other refuses a launch
// of several ranks, which would run it several times over.
bool runs_distributed(const std::string& name) { return name == "run" || name == "train-minimal"; }

// The world of this process, from the launch environment; binds a rank to its local GPU.
std::unique_ptr<tttmem::dist::World> join_world(const std::string& name, GlobalOptions& global) {
  const tttmem::dist::Launch launch = tttmem::dist::Launch::from_environment();
  if (!runs_distributed(name)) {
    if (launch.size > 1)
      throw std::invalid_argument("`tttmem " + name + "` runs as one process, but the launch (" +
                                  launch.launcher + ") started " + std::to_string(launch.size) +
                                  " ranks: only run and train-minimal run distributed");
    return std::make_unique<tttmem::dist::World>();
  }
  const bool cuda = global.device.rfind("cuda", 0) == 0;
  if (launch.size > 1 && global.device == "cuda") {
    global.device = "cuda:" + std::to_string(launch.local_rank);
  } else if (launch.size > 1 && cuda) {
    throw std::invalid_argument("--device " + global.device + " puts all " +
                                std::to_string(launch.size) + " ranks on one GPU: give --device "
                                "cuda (each rank takes cuda:LOCAL_RANK)");
  }
  auto world = tttmem::dist::World::connect(launch, cuda, std::chrono::seconds(global.dist_timeout));
  if (world->distributed())
    tttmem::log::set_prefix("rank " + std::to_string(world->rank()) + "/" +
                            std::to_string(world->size()) + " ");
  return world;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tttmem: In-Place Test-Time-Training fast weights as conversation memory"};
  app.name("tttmem");
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the subcommand name
  app.set_version_flag("--version", "tttmem 0.1.0");
  GlobalOptions global;
  add_global_flags(app, global);

  using Adder = Action (*)(CLI::App&, const GlobalOptions&);
  const std::vector<Adder> adders{add_build_benchmark, add_train_minimal, add_sanity, add_run,
                                  add_evaluate, add_init_model, add_forward, add_tokenize,
                                  add_info};
  std::map<const CLI::App*, Action> actions;
  for (Adder add : adders) {
    Action action = add(app, global);
    actions[app.get_subcommands({}).back()] = std::move(action);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 checks required flags before leftovers, so `info --bogus` would only say "--model is
    // required" and `tttmem bogus` "A subcommand is required"; name the unknown word instead.
    const std::vector<std::string> unknown = app.remaining(true);
    std::string what = e.what();
    if (!unknown.empty()) {
      const bool no_subcommand = app.get_subcommands().empty();
      if (no_subcommand && unknown.front().rfind('-', 0) != 0) {
        what = "unknown subcommand '" + unknown.front() + "'";
      } else {
        what = "unknown argument(s):";
        for (const auto& u : unknown) what += " '" + u + "'";
        if (!no_subcommand) what += " for `tttmem " + app.get_subcommands().front()->get_name() + "`";
      }
    }
    std::fprintf(stderr, "tttmem: %s\nRun `tttmem --help` (or `tttmem SUBCOMMAND --help`).\n",
                 what.c_str());
    return 2;
  }

  try {
    tttmem::log::configure(global.log_level, global.log_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tttmem: %s\n", e.what());
    return 1;
  }
  const CLI::App* sub = app.get_subcommands().front();
  const std::string name = sub->get_name();
  int code = 1;
  std::unique_ptr<tttmem::dist::World> world;
  try {
    world = join_world(name, global);
    global.world = world.get();
    code = actions.at(sub)();
  } catch (const std::exception& e) {
    const std::string rank =
        world && world->distributed() ? " (rank " + std::to_string(world->rank()) + ")" : "";
    std::fprintf(stderr, "tttmem %s%s: error: %s\n", name.c_str(), rank.c_str(), e.what());
    if (world && !dynamic_cast<const tttmem::dist::PeerFailure*>(&e)) world->fail(e.what());
    code = 1;
  }
  // Output cut short by a full disk (or /dev/full) must not exit 0.
  std::cout.flush();
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout) {
    std::fprintf(stderr, "tttmem %s: error: writing to standard output failed: %s\n", name.c_str(),
                 errno ? std::strerror(errno) : "write error");
    code = code ? code : 1;
  }
  if (const std::string lost = tttmem::log::flush(); !lost.empty()) {
    std::fprintf(stderr, "tttmem %s: error: --log-file %s: writing the log failed: %s\n",
                 name.c_str(), global.log_file.c_str(), lost.c_str());
    code = code ? code : 1;
  }
  return code;
}
