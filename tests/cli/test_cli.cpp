// The tttmem command surface, exercised through the binary: help, usage errors, exit codes.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "test_support.h"

namespace tttmem::test {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Subcommand names (and whether they are marked "[not built yet]") from `tttmem --help`.
std::vector<std::pair<std::string, bool>> subcommands() {
  const CommandResult r = run_tttmem("--help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::pair<std::string, bool>> out;
  std::istringstream in(r.output);
  std::string line;
  bool in_section = false;
  const std::regex entry(R"(^  ([a-z][a-z-]*)\s{2,}.*)");
  while (std::getline(in, line)) {
    if (line.rfind("Subcommands:", 0) == 0) in_section = true;
    std::smatch m;
    if (in_section && std::regex_match(line, m, entry))
      out.emplace_back(m[1], contains(line, "[not built yet]"));
  }
  return out;
}

struct Flag {
  std::string name, spec;
  bool documented = false;
};
// Options of `tttmem SUB --help`. CLI11 prints the flag and its type from column 2 and the
// description from column 30, on the same line when the flag fits, else on the next line.
constexpr std::size_t kDescriptionColumn = 30;
std::vector<Flag> flags_of(const std::string& help) {
  std::vector<Flag> flags;
  std::istringstream in(help);
  std::string line;
  const std::regex option(R"(^  (-[^ ]*)(.*)$)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, option)) {
      const bool same_line = line.size() > kDescriptionColumn &&
                             line[kDescriptionColumn - 1] == ' ' &&
                             line[kDescriptionColumn] != ' ';
      flags.push_back({m[1], m[2], same_line});
    } else if (!flags.empty() && line.size() > kDescriptionColumn &&
               line.find_first_not_of(' ') == kDescriptionColumn) {
      flags.back().documented = true;
    }
  }
  return flags;
}

TEST(Cli, TopLevelHelpListsTheWholeSurface) {
  std::vector<std::string> names;
  for (const auto& [name, _] : subcommands()) names.push_back(name);
  for (const char* expected : {"build-benchmark", "train-minimal", "sanity", "run", "evaluate",
                               "init-model", "forward", "tokenize", "info"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  const CommandResult r = run_tttmem("--help");
  for (const char* global : {"--device", "--dtype", "--seed", "--log-level", "--log-file"})
    EXPECT_TRUE(contains(r.output, global)) << global;
}

TEST(Cli, EverySubcommandHelpDocumentsEveryFlag) {
  for (const auto& [name, _] : subcommands()) {
    const CommandResult r = run_tttmem(name + " --help");
    EXPECT_EQ(r.exit_code, 0) << name << "\n" << r.output;
    const auto flags = flags_of(r.output);
    EXPECT_FALSE(flags.empty()) << name;
    for (const auto& f : flags) EXPECT_TRUE(f.documented) << name << " " << f.name << " has no description";
  }
}

TEST(Cli, UnknownSubcommandIsNamed) {
  const CommandResult r = run_tttmem("bogus");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "unknown subcommand 'bogus'")) << r.output;
}

TEST(Cli, NoSubcommandIsAUsageError) {
  const CommandResult r = run_tttmem("");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "subcommand")) << r.output;
}

TEST(Cli, UnknownFlagIsNamedForEverySubcommand) {
  for (const auto& [name, _] : subcommands()) {
    const CommandResult r = run_tttmem(name + " --no-such-flag");
    EXPECT_EQ(r.exit_code, 2) << name << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, "'--no-such-flag'")) << name << "\n" << r.output;
  }
}

TEST(Cli, MissingRequiredFlag) {
  const CommandResult r = run_tttmem("info");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "--model is required")) << r.output;
  for (const auto& [name, _] : subcommands()) {
    const CommandResult help = run_tttmem(name + " --help");
    for (const auto& f : flags_of(help.output)) {
      if (!contains(f.spec, "REQUIRED")) continue;
      const CommandResult missing = run_tttmem(name);
      EXPECT_EQ(missing.exit_code, 2) << name << "\n" << missing.output;
      EXPECT_TRUE(contains(missing.output, "is required")) << name << "\n" << missing.output;
      break;
    }
  }
}

// Required flags with a plausible value: the first listed choice, else a placeholder.
std::string required_args(const std::string& help) {
  std::string args;
  const std::regex choices(R"(\{([^,}]+))");
  for (const auto& f : flags_of(help)) {
    if (!contains(f.spec, "REQUIRED")) continue;
    std::smatch m;
    args += " " + f.name + " " + (std::regex_search(f.spec, m, choices) ? std::string(m[1]) : "placeholder");
  }
  return args;
}

TEST(Cli, EveryPipelineSubcommandIsListedAndBuilt) {
  std::set<std::string> listed;
  for (const auto& [name, not_built] : subcommands()) {
    EXPECT_FALSE(not_built) << name << " is still marked [not built yet]";
    listed.insert(name);
  }
  for (const char* name : {"build-benchmark", "train-minimal", "sanity", "run", "evaluate",
                           "init-model", "forward", "tokenize", "info"})
    EXPECT_TRUE(listed.count(name)) << name << " is missing from `tttmem --help`";
}

TEST(Cli, BadGlobalValues) {
  CommandResult r = run_tttmem("--device gpu info --model x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "--device")) << r.output;
  EXPECT_TRUE(contains(r.output, "'gpu'")) << r.output;
  r = run_tttmem("info --model x --device cuda:x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "'cuda:x'")) << r.output;
  r = run_tttmem("--dtype int8 info --model x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "--dtype")) << r.output;
  r = run_tttmem("--seed -3 info --model x");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(Cli, VersionFlag) {
  const CommandResult r = run_tttmem("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "tttmem ")) << r.output;
}

}  // namespace
}  // namespace tttmem::test
