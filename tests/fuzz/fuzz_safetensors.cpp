// libFuzzer target: safetensors header parsing on arbitrary bytes laid out as a file (8-byte
// length, header, data). Bad input must end in IoError, never a crash; accepted headers must
// satisfy the invariants the reader relies on (abort() otherwise, which the fuzzer reports).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tttmem/io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tttmem::io;
  if (size < 8) return 0;
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len > size - 8 || header_len > kMaxHeaderBytes) return 0;
  const std::uint64_t data_bytes = size - 8 - header_len;
  try {
    const Header h = parse_header(
        std::string_view(reinterpret_cast<const char*>(data) + 8, header_len), data_bytes, "fuzz");
    std::uint64_t pos = 0;
    for (const auto& e : h.tensors) {
      if (e.begin != pos || e.end < e.begin || e.end > data_bytes) std::abort();
      std::uint64_t n = dtype_size(e.dtype);
      for (auto d : e.shape) n *= static_cast<std::uint64_t>(d);
      if (n != e.end - e.begin) std::abort();
      pos = e.end;
    }
    if (pos != data_bytes) std::abort();
  } catch (const IoError&) {
  }
  return 0;
}
