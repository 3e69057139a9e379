// Streaming atomic file writes (internal to io): bytes go to a temp file in the target's folder,
// commit() fsyncs and renames it over the target; destruction without commit() removes it, so a
// failed write leaves the old file untouched and no temp file behind.
#pragma once

#include <cstddef>
#include <filesystem>

namespace tttmem::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t nbytes);
  void commit();

 private:
  std::filesystem::path target_, tmp_;
  int fd_ = -1;
};

}  // namespace tttmem::io
