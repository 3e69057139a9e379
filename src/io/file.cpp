// Whole-file reads and atomic file writes.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "atomic_file.h"
#include "tttmem/io.h"

namespace tttmem::io {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string() + ": cannot open for reading: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError(path.string() + ": read failed");
  return std::move(ss).str();
}

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  // Same folder as the target so the rename is atomic (never crosses a file system).
  const auto dir = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(dir);
  std::random_device rd;
  tmp_ = dir / ("." + target_.filename().string() + ".tmp" + std::to_string(rd()));
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(tmp_.string() + ": cannot create: " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) {
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void AtomicFile::write(const void* data, std::size_t nbytes) {
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    const ssize_t n = ::write(fd_, p, nbytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IoError(target_.string() + ": write failed: " + std::strerror(errno));
    p += n;
    nbytes -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  // fsync before rename: after a crash the target holds either the old or the whole new content.
  if (::fsync(fd_) != 0)
    throw IoError(target_.string() + ": fsync failed: " + std::strerror(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw IoError(target_.string() + ": close failed: " + std::strerror(errno));
  std::error_code ec;
  std::filesystem::rename(tmp_, target_, ec);
  if (ec) throw IoError(target_.string() + ": rename from temp file failed: " + ec.message());
  tmp_.clear();
}

void atomic_write_file(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace tttmem::io
