#include "test_support.h"

#include <array>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <ftw.h>
#include <sys/wait.h>

namespace tttmem::test {

std::filesystem::path shared_data(const std::string& name) {
  return std::filesystem::path(TTTMEM_SHARED_DATA_DIR) / name;
}
std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(TTTMEM_FIXTURE_DIR) / name;
}
std::filesystem::path source_dir() { return TTTMEM_SOURCE_DIR; }

ScratchDir::ScratchDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("tttmem-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}
// Not std::filesystem::remove_all: libtorch.so exports its own copy of that symbol, which the
// dynamic linker binds in torch test executables and which crashes (null call) there.
ScratchDir::~ScratchDir() {
  nftw(path_.c_str(),
       [](const char* file, const struct stat*, int, struct FTW*) { return ::remove(file); },
       16, FTW_DEPTH | FTW_PHYS);
}

CommandResult run_command(const std::string& command_line) {
  CommandResult result;
  FILE* pipe = popen((command_line + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed for: " + command_line);
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

CommandResult run_tttmem(const std::string& args) {
  return run_command(std::string("'") + TTTMEM_BINARY + "' " + args);
}

}  // namespace tttmem::test
