#include "test_support.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <sys/wait.h>

namespace tttmem::test {

namespace {

// The build's paths, unless the environment names others: scripts/gpu_check.sh runs test
// binaries built on another machine, next to a checkout and fixtures at other paths.
std::string configured(const char* variable, const char* built_in) {
  const char* value = std::getenv(variable);
  return value && *value ? value : built_in;
}

}  // namespace

std::filesystem::path source_dir() { return configured("TTTMEM_TEST_SOURCE_DIR", TTTMEM_SOURCE_DIR); }
std::filesystem::path qwen3_tokenizer(const std::string& name) {
  return source_dir() / "configs" / "tokenizers" / "qwen3" / name;
}
std::filesystem::path committed_fixture(const std::string& name) {
  return source_dir() / "tests" / "fixtures" / name;
}
std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(configured("TTTMEM_TEST_FIXTURE_DIR", TTTMEM_FIXTURE_DIR)) / name;
}
std::filesystem::path published_benchmark() { return fixture("benchmark_v1.json"); }

ScratchDir::ScratchDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("tttmem-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}
ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
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
  std::string command = "'";
  command += configured("TTTMEM_TEST_BINARY", TTTMEM_BINARY);
  command += "' ";
  command += args;
  return run_command(command);
}

}  // namespace tttmem::test
