// Device-to-host reads in the inference path go through include/tttmem/host_read.h, where they
// are counted (tests/ttt PerRowStatesMatchEachRowAlone: a padded TTT prefill and decode steps
// make none). This keeps a read from slipping past the count: in model/, ttt/ and the
// experiment engine, a scalar or host copy of a tensor is made by the helper, or the line says
// that the tensor was built on the host ("host tensor").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "test_support.h"

namespace tttmem::model {
namespace {

TEST(HostReads, OnlyThroughTheCountingHelper) {
  const std::regex read(R"(\.item<|\.item\(\)|\.to\(at::kCPU|\.cpu\(\))");
  std::vector<std::filesystem::path> files{test::source_dir() / "src/experiment/engine.cpp"};
  for (const char* folder : {"src/model", "src/ttt"})
    for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() / folder))
      if (entry.path().extension() == ".cpp" && entry.path().filename() != "host_read.cpp")
        files.push_back(entry.path());
  int scanned = 0;
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number, ++scanned)
      if (std::regex_search(line, read) && line.find("host tensor") == std::string::npos)
        ADD_FAILURE() << file.string() << ":" << number
                      << ": a device-to-host read outside model::to_host / host_scalar: " << line;
  }
  EXPECT_GT(scanned, 1000);  // the files were found and read
}

}  // namespace
}  // namespace tttmem::model
