// Whole-file reads and atomic file writes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "atomic_file.h"
#include "tttmem/io.h"

namespace tttmem::io {

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISREG(mode)) return "a regular file";
  return "a special file";
}

}  // namespace

int open_regular_file(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise block until a writer appears; the
  // type check below then refuses it. It does not change reads from a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw IoError(path.string() + ": cannot open for reading: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw IoError(path.string() + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError(path.string() + " is " + kind_of(st.st_mode) + ", expected a regular file");
  }
  return fd;
}

std::string read_file(const std::filesystem::path& path) {
  const int fd = open_regular_file(path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw IoError(path.string() + ": read failed: " + std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

void check_output_path(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (path.empty()) throw IoError("the output path is empty, expected a file name");
  if (!path.has_filename() || path.filename() == "." || path.filename() == "..")
    throw IoError(path.string() + ": expected a file name, got a folder path");
  // A special file (/dev/null, a FIFO) or a folder must never be replaced by the rename.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw IoError(path.string() + " is " + kind_of(st.st_mode) +
                  ", expected a regular file to create or replace (tttmem writes files "
                  "atomically and never replaces anything else)");
  // The nearest folder that exists must be one we can create the file (and folders) in.
  fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  while (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT)
      throw IoError(path.string() + ": cannot use folder " + dir.string() + ": " + std::strerror(errno));
    if (!dir.has_parent_path() || dir.parent_path() == dir) {
      dir = ".";
      if (::stat(dir.c_str(), &st) != 0)
        throw IoError(path.string() + ": cannot use the working folder: " + std::strerror(errno));
      break;
    }
    dir = dir.parent_path();
  }
  if (!S_ISDIR(st.st_mode))
    throw IoError(path.string() + ": " + dir.string() + " is " + kind_of(st.st_mode) +
                  ", expected a folder");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw IoError(path.string() + ": cannot write into folder " + dir.string() + ": " +
                  std::strerror(errno));
}

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  check_output_path(target_);
  // Same folder as the target so the rename is atomic (never crosses a file system).
  const auto dir = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError(target_.string() + ": cannot create folder " + dir.string() + ": " + ec.message());
  std::random_device rd;
  tmp_ = dir / ("." + target_.filename().string() + ".tmp" + std::to_string(rd()));
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    tmp_.clear();
    throw IoError(target_.string() + ": cannot create temp file: " + std::strerror(err));
  }
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
  // The target may have turned into a special file or folder since the constructor looked.
  check_output_path(target_);
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
