// safetensors: header parsing and validation, the memory-mapped reader, the atomic writer.
// Format: 8-byte little-endian header length N, N bytes of JSON header, then the data section;
// every tensor's data_offsets are relative to the start of the data section.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "atomic_file.h"
#include "json_strict.h"
#include "tttmem/io.h"

namespace tttmem::io {

namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};
constexpr std::array<DTypeInfo, 10> kDTypes{{{DType::BF16, "BF16", 2}, {DType::F16, "F16", 2},
                                             {DType::F32, "F32", 4}, {DType::F64, "F64", 8},
                                             {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
                                             {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
                                             {DType::U8, "U8", 1}, {DType::BOOL, "BOOL", 1}}};

const DTypeInfo& info(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d;
  throw IoError("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

std::string shape_str(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Element count of `shape`, or nullopt when it overflows 64 bits.
std::optional<std::uint64_t> checked_numel(std::span<const std::int64_t> shape) {
  std::uint64_t n = 1;
  for (const std::int64_t d : shape) {
    const auto u = static_cast<std::uint64_t>(d);
    if (u != 0 && n > std::numeric_limits<std::uint64_t>::max() / u) return std::nullopt;
    n *= u;
  }
  return n;
}

std::uint64_t read_le64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::string_view dtype_name(DType dtype) { return info(dtype).name; }
std::size_t dtype_size(DType dtype) { return info(dtype).size; }

DType parse_dtype(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return d.dtype;
  throw IoError("unknown safetensors dtype '" + std::string(name) +
                "' (expected BF16, F16, F32, F64, I64, I32, I16, I8, U8 or BOOL)");
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

Header parse_header(std::string_view header_json, std::uint64_t data_bytes,
                    const std::string& source) {
  // Deeper than tensor -> field -> list is never valid; the limit bounds hostile input.
  const nlohmann::json root = parse_json_strict(header_json, source, 4);
  if (!root.is_object())
    throw IoError(source + ": safetensors header must be a JSON object, got " +
                  std::string(root.type_name()));
  Header header;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      if (!value.is_object())
        throw IoError(source + ": __metadata__ must be an object of strings");
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string())
          throw IoError(source + ": __metadata__ entry '" + key + "' must be a string, got " +
                        v.type_name());
        header.metadata[key] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = source + ": tensor '" + name + "'";
    if (name.empty()) throw IoError(source + ": tensor with an empty name");
    if (!value.is_object()) throw IoError(where + ": entry must be an object");
    Header::Entry e;
    e.name = name;
    const auto dtype = value.find("dtype");
    if (dtype == value.end() || !dtype->is_string())
      throw IoError(where + ": missing or non-string \"dtype\"");
    try {
      e.dtype = parse_dtype(dtype->get<std::string>());
    } catch (const IoError& err) {
      throw IoError(where + ": " + err.what());
    }
    const auto shape = value.find("shape");
    if (shape == value.end() || !shape->is_array())
      throw IoError(where + ": missing or non-array \"shape\"");
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned() ||
          d.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw IoError(where + ": \"shape\" entries must be non-negative integers, got " + d.dump());
      e.shape.push_back(static_cast<std::int64_t>(d.get<std::uint64_t>()));
    }
    const auto offsets = value.find("data_offsets");
    if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
      throw IoError(where + ": \"data_offsets\" must be [begin, end] with non-negative integers");
    e.begin = (*offsets)[0].get<std::uint64_t>();
    e.end = (*offsets)[1].get<std::uint64_t>();
    if (e.end < e.begin)
      throw IoError(where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                    std::to_string(e.end) + "] end before begin");
    if (e.end > data_bytes)
      throw IoError(where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                    std::to_string(e.end) + "] out of range: the data section has " +
                    std::to_string(data_bytes) + " bytes");
    const auto numel = checked_numel(e.shape);
    const std::uint64_t span = e.end - e.begin;
    if (!numel || *numel > span || *numel * dtype_size(e.dtype) != span)
      throw IoError(where + ": shape " + shape_str(e.shape) + " x " +
                    std::string(dtype_name(e.dtype)) + " does not match its byte span of " +
                    std::to_string(span) + " bytes");
    header.tensors.push_back(std::move(e));
  }
  // Data must be exactly tiled by the tensors in offset order: no overlap, no gap, no tail.
  std::stable_sort(header.tensors.begin(), header.tensors.end(),
                   [](const Header::Entry& a, const Header::Entry& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  std::uint64_t pos = 0;
  const Header::Entry* prev = nullptr;
  for (const auto& e : header.tensors) {
    if (e.begin < pos)
      throw IoError(source + ": tensor '" + e.name + "' data_offsets [" + std::to_string(e.begin) +
                    ", " + std::to_string(e.end) + "] overlap tensor '" + prev->name + "' [" +
                    std::to_string(prev->begin) + ", " + std::to_string(prev->end) + "]");
    if (e.begin > pos)
      throw IoError(source + ": tensor '" + e.name + "' starts at byte " +
                    std::to_string(e.begin) + " but the previous tensor ends at " +
                    std::to_string(pos) + " (gap in the data section)");
    pos = e.end;
    prev = &e;
  }
  if (pos != data_bytes)
    throw IoError(source + ": tensors cover " + std::to_string(pos) +
                  " bytes but the data section has " + std::to_string(data_bytes) +
                  " (trailing bytes)");
  return header;
}

nlohmann::json SafetensorsFile::metadata_object(const std::string& key) const {
  const auto found = metadata_.find(key);
  if (found == metadata_.end()) return nullptr;
  const std::string source = path_.string() + " (metadata " + key + ")";
  nlohmann::json raw;
  try {
    raw = nlohmann::json::parse(found->second);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(source + ": not JSON: " + e.what());
  }
  if (!raw.is_object()) throw IoError(source + ": expected a JSON object, got " + raw.dump());
  return raw;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string source = path.string();
  const int fd = open_regular_file(path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw IoError(source + ": cannot stat: " + std::strerror(err));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw IoError(source + ": not a safetensors file: " + std::to_string(size) +
                  " bytes, less than the 8-byte header length");
  }
  // The mapping keeps the pages alive after close(fd). MAP_PRIVATE + PROT_READ: nothing we do
  // can write back into the checkpoint.
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (map == MAP_FAILED) throw IoError(source + ": mmap failed: " + std::strerror(map_err));
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_ = map;
  file->size_ = size;

  const auto* base = static_cast<const unsigned char*>(map);
  const std::uint64_t header_len = read_le64(base);
  if (header_len > kMaxHeaderBytes)
    throw IoError(source + ": header length " + std::to_string(header_len) +
                  " exceeds the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  if (header_len > size - 8)
    throw IoError(source + ": header length " + std::to_string(header_len) +
                  " is larger than the file (" + std::to_string(size) +
                  " bytes): truncated or not a safetensors file");
  const Header header = parse_header(
      std::string_view(reinterpret_cast<const char*>(base) + 8, header_len), size - 8 - header_len,
      source);
  const auto* data = reinterpret_cast<const std::byte*>(base + 8 + header_len);
  file->tensors_.reserve(header.tensors.size());
  for (const auto& e : header.tensors)
    file->tensors_.push_back(
        TensorView{e.name, e.dtype, e.shape, data + e.begin, e.end - e.begin, path});
  for (std::size_t i = 0; i < file->tensors_.size(); ++i)
    file->by_name_.emplace(file->tensors_[i].name, i);
  file->metadata_ = header.metadata;
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

void expect_tensor(const TensorView& view, std::span<const std::int64_t> shape) {
  if (!std::ranges::equal(view.shape, shape))
    throw IoError(view.file.string() + ": tensor '" + view.name + "' has shape " +
                  shape_str(view.shape) + ", expected " + shape_str(shape));
}

void expect_tensor(const TensorView& view, std::span<const std::int64_t> shape, DType dtype) {
  if (!std::ranges::equal(view.shape, shape) || view.dtype != dtype)
    throw IoError(view.file.string() + ": tensor '" + view.name + "' is " +
                  std::string(dtype_name(view.dtype)) + " " + shape_str(view.shape) +
                  ", expected " + std::string(dtype_name(dtype)) + " " + shape_str(shape));
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorBytes> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string source = path.string();
  // ordered_json keeps __metadata__ first and the tensors in the order given, as written.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> seen;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      throw IoError(source + ": invalid tensor name '" + t.name + "'");
    if (!seen.insert(t.name).second)
      throw IoError(source + ": tensor '" + t.name + "' given twice");
    for (const auto d : t.shape)
      if (d < 0) throw IoError(source + ": tensor '" + t.name + "' has negative shape " + shape_str(t.shape));
    const auto numel = checked_numel(t.shape);
    if (!numel || *numel * dtype_size(t.dtype) != t.nbytes)
      throw IoError(source + ": tensor '" + t.name + "' shape " + shape_str(t.shape) + " x " +
                    std::string(dtype_name(t.dtype)) + " does not match its " +
                    std::to_string(t.nbytes) + " bytes");
    if (t.nbytes > 0 && t.data == nullptr)
      throw IoError(source + ": tensor '" + t.name + "' has no data");
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string json = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  json.append((8 - json.size() % 8) % 8, ' ');
  std::array<unsigned char, 8> len{};
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(json.size() >> (8 * i));

  AtomicFile out(path);
  out.write(len.data(), len.size());
  out.write(json.data(), json.size());
  for (const auto& t : tensors) out.write(t.data, t.nbytes);
  out.commit();
}

}  // namespace tttmem::io
