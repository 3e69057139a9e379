// io: safetensors read/write (mmap, sharded checkpoints), atomic file writes.
// Torch-free on purpose: everything here compiles without libtorch; tensor_io.h bridges to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tttmem::io {

// Thrown for every bad input: the message names the file (and tensor/field) and what was expected.
struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class DType : std::uint8_t { BF16, F16, F32, F64, I64, I32, I16, I8, U8, BOOL };
std::string_view dtype_name(DType dtype);          // the safetensors spelling: "BF16", ...
DType parse_dtype(std::string_view name);          // throws IoError on an unknown name
std::size_t dtype_size(DType dtype);               // bytes per element

// A tensor inside a mapped file: zero-copy, valid while its SafetensorsFile/Checkpoint lives.
struct TensorView {
  std::string name;
  DType dtype{};
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;
  std::size_t nbytes = 0;
  std::filesystem::path file;  // the shard it lives in (for error messages)

  std::int64_t numel() const;
};

// The header of one safetensors file, validated against the size of the data section.
// Exposed separately so the fuzzer can drive it without a file.
struct Header {
  struct Entry {
    std::string name;
    DType dtype{};
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;  // byte offsets into the data section
  };
  std::vector<Entry> tensors;  // in file order
  std::map<std::string, std::string> metadata;
};
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
// `source` names the file in error messages. Checks: valid JSON object, known dtypes, shape x
// dtype size == end - begin, offsets in range, no overlap, no duplicates, no gaps.
Header parse_header(std::string_view header_json, std::uint64_t data_bytes,
                    const std::string& source);

// One memory-mapped .safetensors file.
class SafetensorsFile {
 public:
  static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(std::string_view name) const;  // nullptr if absent; O(log n)
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The JSON object a metadata field holds (a recorded config); null when the field is absent.
  // Throws IoError naming the file and the field when it is not a JSON object.
  nlohmann::json metadata_object(const std::string& key) const;
  std::uint64_t file_bytes() const { return size_; }

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::uint64_t size_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string_view, std::size_t, std::less<>> by_name_;  // name -> index in tensors_
  std::map<std::string, std::string> metadata_;
};

// A checkpoint: a directory with model.safetensors, or model.safetensors.index.json and its
// shards, or a single .safetensors file. Every shard is mapped once.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& dir_or_file);

  const std::filesystem::path& location() const { return location_; }
  std::vector<std::string> names() const;                 // sorted
  const TensorView* find(std::string_view name) const;    // nullptr if absent
  const TensorView& get(std::string_view name) const;     // throws IoError naming the tensor
  std::size_t size() const { return index_.size(); }
  std::uint64_t total_bytes() const;                      // sum of tensor bytes
  const std::vector<std::shared_ptr<const SafetensorsFile>>& shards() const { return shards_; }

 private:
  std::filesystem::path location_;
  std::vector<std::shared_ptr<const SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*, std::less<>> index_;
};

// Throws IoError naming tensor, file and both shapes/dtypes when `view` is not as expected.
void expect_tensor(const TensorView& view, std::span<const std::int64_t> shape);
void expect_tensor(const TensorView& view, std::span<const std::int64_t> shape, DType dtype);

// What the writers take: raw bytes of one tensor.
struct TensorBytes {
  std::string name;
  DType dtype{};
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t nbytes = 0;
};

// Writes one safetensors file atomically (temp file in the same folder, fsync, rename).
void write_safetensors(const std::filesystem::path& path, std::span<const TensorBytes> tensors,
                       const std::map<std::string, std::string>& metadata = {});

// How a checkpoint's tensors, kept in order, are split into shard files.
struct ShardSplit {
  int count = 1;               // this many shards of roughly equal bytes
  std::uint64_t max_bytes = 0; // when > 0, instead: Hugging Face's save_pretrained rule (below)
  ShardSplit(int shard_count = 1) : count(shard_count) {}  // NOLINT: an int means a count
  static ShardSplit by_max_bytes(std::uint64_t max_shard_bytes);
};
// The index of each shard's first tensor. With max_bytes (save_pretrained's max_shard_size): a
// new shard starts whenever the next tensor would push the current one past the limit, and a
// tensor larger than the limit gets a shard of its own. "4GB" (4e9 bytes) on Qwen3-8B's tensors
// gives the real checkpoint's 5 shards with lm_head alone in the last. Throws IoError when
// `count` is out of range for the number of tensors.
std::vector<std::size_t> plan_shards(std::span<const std::uint64_t> tensor_bytes,
                                     const ShardSplit& split);
// Parses a size like 4000000000, 4GB (10^9) or 4GiB (2^30); throws IoError naming `flag`.
std::uint64_t parse_byte_size(const std::string& text, const std::string& flag);

// Writes a Hugging Face style checkpoint into `dir`: model.safetensors when the split gives one
// shard, otherwise model-0000i-of-0000N.safetensors plus model.safetensors.index.json.
void write_checkpoint(const std::filesystem::path& dir, std::span<const TensorBytes> tensors,
                      const ShardSplit& split, const std::map<std::string, std::string>& metadata = {});

// Atomic whole-file write: the file either keeps its old content or gets all of `bytes`.
void atomic_write_file(const std::filesystem::path& path, std::string_view bytes);
std::string read_file(const std::filesystem::path& path);  // throws IoError naming the file
// Opens a regular file for reading without blocking on a FIFO; a folder, FIFO, device or socket
// is an IoError naming the path and what it is. Returns the file descriptor.
int open_regular_file(const std::filesystem::path& path);
// Throws IoError unless `path` can be written as a regular file: non-empty, not a folder or
// special file (/dev/null, a FIFO), and its nearest existing folder is a writable folder. The
// atomic writers check this first; commands call it for every output before writing any.
void check_output_path(const std::filesystem::path& path);

}  // namespace tttmem::io
