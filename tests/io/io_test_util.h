// Helpers shared by the io suites: deterministic tensor bytes, hand-made safetensors files.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tttmem/io.h"

namespace tttmem::test {

// Byte k of a tensor with salt s is (31 k + 7 s) mod 251: cheap, deterministic, and every
// tensor differs, so a swapped or shifted tensor cannot pass a byte comparison.
inline std::vector<std::byte> pattern_bytes(std::size_t n, int salt) {
  std::vector<std::byte> out(n);
  for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<std::byte>((31 * k + 7 * salt) % 251);
  return out;
}

// A file with the given header text and data section; `declared` overrides the length field.
inline void write_raw(const std::filesystem::path& path, const std::string& header,
                      const std::string& data = {}, std::uint64_t declared = UINT64_MAX) {
  const std::uint64_t len = declared == UINT64_MAX ? header.size() : declared;
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(len >> (8 * i)));
  out << header << data;
}

// The IoError message of `f`, failing the test when it throws nothing (or something else).
template <class F>
std::string io_error_of(F&& f) {
  try {
    f();
  } catch (const io::IoError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an IoError";
  return {};
}

inline ::testing::AssertionResult contains_format(const char* text_expr, const char*,
                                                  const std::string& text,
                                                  const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << text_expr << " is \"" << text
                                       << "\"\nwhich does not contain \"" << part << "\"";
}
#define EXPECT_CONTAINS(text, part) \
  EXPECT_PRED_FORMAT2(::tttmem::test::contains_format, text, part)

}  // namespace tttmem::test
