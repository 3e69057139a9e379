// Shared helpers for the GoogleTest suites: paths to reference data and fixtures, scratch
// folders, and running the tttmem binary.
#pragma once

#include <filesystem>
#include <string>

namespace tttmem::test {

std::filesystem::path shared_data(const std::string& name);  // ../shared/data/<name>
std::filesystem::path fixture(const std::string& name);      // <build>/fixtures/<name>
std::filesystem::path source_dir();                           // the repository root

// A fresh folder under the system temp dir, removed when the object dies.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `tttmem <args>` through the shell (args are passed as written).
CommandResult run_tttmem(const std::string& args);
CommandResult run_command(const std::string& command_line);

}  // namespace tttmem::test
