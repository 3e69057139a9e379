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
#include <string>
#include <vector>

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
  try {
    code = actions.at(sub)();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tttmem %s: error: %s\n", name.c_str(), e.what());
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
