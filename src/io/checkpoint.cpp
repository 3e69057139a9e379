// Checkpoints: a single .safetensors file or a Hugging Face folder (model.safetensors, or
// model.safetensors.index.json whose weight_map names the shard of every tensor).
#include <algorithm>
#include <cctype>
#include <limits>
#include <regex>
#include <set>

#include "json_strict.h"
#include "tttmem/io.h"
#include "tttmem/log.h"

namespace tttmem::io {

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string shard_name(int i, int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i, n);
  return buf;
}

bool is_shard_name(const std::string& name) {
  static const std::regex pattern(R"(model-\d{5}-of-\d{5}\.safetensors)");
  return std::regex_match(name, pattern);
}

// Both canonical (absolute, no "." or ".." or links).
bool is_inside(const std::filesystem::path& path, const std::filesystem::path& folder) {
  return path.string().starts_with(folder.string() + "/");
}

// A shard the index names must resolve inside the model folder: a symlink to elsewhere would let
// a downloaded index read any file. Hugging Face's hub cache is the one layout allowed to point
// out: snapshots/<revision>/<file> links to the same repository's blobs/ folder.
void check_shard_location(const std::filesystem::path& dir, const std::filesystem::path& shard,
                          const std::string& source) {
  namespace fs = std::filesystem;
  const fs::path folder = fs::canonical(dir), target = fs::canonical(shard);
  if (is_inside(target, folder)) return;
  if (folder.parent_path().filename() == "snapshots" &&
      is_inside(target, folder.parent_path().parent_path() / "blobs"))
    return;
  throw IoError(source + ": shard '" + shard.filename().string() + "' resolves to " +
                target.string() + ", outside the model folder " + folder.string() +
                " (expected a file in the folder, or a Hugging Face cache blob)");
}

}  // namespace

Checkpoint Checkpoint::open(const std::filesystem::path& dir_or_file) {
  namespace fs = std::filesystem;
  Checkpoint ckpt;
  ckpt.location_ = dir_or_file;
  std::error_code ec;
  if (!fs::exists(dir_or_file, ec))
    throw IoError(dir_or_file.string() + ": checkpoint not found");

  const auto add_all = [&](std::shared_ptr<const SafetensorsFile> file) {
    for (const auto& t : file->tensors()) ckpt.index_.emplace(t.name, &t);
    ckpt.shards_.push_back(std::move(file));
  };
  if (!fs::is_directory(dir_or_file)) {
    add_all(SafetensorsFile::open(dir_or_file));
    return ckpt;
  }
  // transformers prefers the single file when both exist; write_checkpoint never leaves both.
  if (fs::exists(dir_or_file / kSingleFile)) {
    check_shard_location(dir_or_file, dir_or_file / kSingleFile, dir_or_file.string());
    add_all(SafetensorsFile::open(dir_or_file / kSingleFile));
    return ckpt;
  }
  const fs::path index_path = dir_or_file / kIndexFile;
  if (!fs::exists(index_path))
    throw IoError(dir_or_file.string() + ": no " + kSingleFile + " or " + kIndexFile +
                  " in this folder");
  const std::string source = index_path.string();
  const nlohmann::json index = parse_json_strict(read_file(index_path), source);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw IoError(source + ": expected an object with a \"weight_map\" object");
  const auto& weight_map = index["weight_map"];
  if (weight_map.empty()) throw IoError(source + ": \"weight_map\" is empty");

  std::map<std::string, std::shared_ptr<const SafetensorsFile>> shards;
  for (const auto& [name, shard] : weight_map.items()) {
    if (!shard.is_string())
      throw IoError(source + ": weight_map entry for tensor '" + name + "' must be a file name");
    const std::string file = shard.get<std::string>();
    // A plain file name in this folder: the index must not point anywhere else.
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      throw IoError(source + ": tensor '" + name + "' maps to invalid shard name '" + file + "'");
    auto& opened = shards[file];
    if (!opened) {
      const fs::path shard_path = dir_or_file / file;
      if (!fs::exists(shard_path))
        throw IoError(source + ": shard '" + file + "' (for tensor '" + name +
                      "') does not exist: " + shard_path.string());
      check_shard_location(dir_or_file, shard_path, source);
      opened = SafetensorsFile::open(shard_path);
    }
    const TensorView* view = opened->find(name);
    if (!view)
      throw IoError(source + ": tensor '" + name + "' is not in its shard " +
                    opened->path().string());
    ckpt.index_.emplace(name, view);
  }
  for (auto& [file, shard] : shards) {
    const std::size_t extra = std::ranges::count_if(shard->tensors(), [&](const TensorView& t) {
      return !ckpt.index_.contains(t.name) || ckpt.index_.at(t.name) != &t;
    });
    if (extra > 0)
      log::warn(shard->path().string(), ": ", extra,
                " tensor(s) not listed for this shard in the index are ignored");
    ckpt.shards_.push_back(std::move(shard));
  }
  return ckpt;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, _] : index_) out.push_back(name);
  return out;
}

const TensorView* Checkpoint::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::get(std::string_view name) const {
  if (const TensorView* view = find(name)) return *view;
  throw IoError(location_.string() + ": tensor '" + std::string(name) +
                "' not found in the checkpoint");
}

std::uint64_t Checkpoint::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& [_, view] : index_) total += view->nbytes;
  return total;
}

ShardSplit ShardSplit::by_max_bytes(std::uint64_t max_shard_bytes) {
  if (max_shard_bytes == 0) throw IoError("the maximum shard size must be > 0 bytes");
  ShardSplit split;
  split.max_bytes = max_shard_bytes;
  return split;
}

std::vector<std::size_t> plan_shards(std::span<const std::uint64_t> tensor_bytes,
                                     const ShardSplit& split) {
  const std::size_t n = tensor_bytes.size();
  std::vector<std::size_t> first(1, 0);
  if (split.max_bytes > 0) {
    std::uint64_t current = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t size = tensor_bytes[i];
      const bool oversized = size > split.max_bytes;
      if (i > first.back() && (oversized || current + size > split.max_bytes)) {
        first.push_back(i);
        current = 0;
      }
      current += size;
      if (oversized && i + 1 < n) {  // nothing joins an oversized tensor's shard
        first.push_back(i + 1);
        current = 0;
      }
    }
    return first;
  }
  const int count = split.count;
  if (count < 1 || count > 99999 || static_cast<std::size_t>(count) > std::max<std::size_t>(n, 1))
    throw IoError("cannot split " + std::to_string(n) + " tensors into " +
                  std::to_string(count) + " shards");
  // Consecutive runs of roughly total/count bytes; every shard gets at least one tensor.
  std::uint64_t total = 0;
  for (const std::uint64_t size : tensor_bytes) total += size;
  const auto N = static_cast<std::size_t>(count);
  std::uint64_t before = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t s = first.size() - 1;
    const bool nonempty = i > first.back();
    const bool must = nonempty && n - i == N - 1 - s;
    const bool may = nonempty && s + 1 < N &&
                     static_cast<long double>(before) >= static_cast<long double>(total) * (s + 1) / N;
    if (must || may) first.push_back(i);
    before += tensor_bytes[i];
  }
  return first;
}

std::uint64_t parse_byte_size(const std::string& text, const std::string& flag) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  static const std::map<std::string, std::uint64_t> kUnits{
      {"", 1},           {"B", 1},           {"KB", 1'000},      {"MB", 1'000'000},
      {"GB", 1'000'000'000}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}};
  const auto it = kUnits.find(unit);
  if (digits == 0 || digits > 12 || it == kUnits.end())
    throw IoError(flag + ": expected a byte size like 4000000000, 4GB or 4GiB, got '" + text + "'");
  const std::uint64_t count = std::stoull(text.substr(0, digits));
  if (count > std::numeric_limits<std::uint64_t>::max() / it->second)
    throw IoError(flag + ": '" + text + "' is more than 2^64 bytes");
  return count * it->second;
}

void write_checkpoint(const std::filesystem::path& dir, std::span<const TensorBytes> tensors,
                      const ShardSplit& split, const std::map<std::string, std::string>& metadata) {
  namespace fs = std::filesystem;
  const std::size_t n = tensors.size();
  std::vector<std::uint64_t> sizes;
  for (const auto& t : tensors) sizes.push_back(t.nbytes);
  std::vector<std::size_t> first;
  try {
    first = plan_shards(sizes, split);
  } catch (const IoError& e) {
    throw IoError(dir.string() + ": " + e.what());
  }
  const std::size_t N = first.size();
  fs::create_directories(dir);
  std::vector<std::string> written;
  if (N == 1) {
    write_safetensors(dir / kSingleFile, tensors, metadata);
    written.push_back(kSingleFile);
  } else {
    std::uint64_t total = 0;
    for (const std::uint64_t size : sizes) total += size;
    first.push_back(n);
    nlohmann::json weight_map = nlohmann::json::object();
    for (std::size_t s = 0; s < N; ++s) {
      const std::string name = shard_name(static_cast<int>(s + 1), static_cast<int>(N));
      const auto part = tensors.subspan(first[s], first[s + 1] - first[s]);
      write_safetensors(dir / name, part, metadata);
      for (const auto& t : part) weight_map[t.name] = name;
      written.push_back(name);
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total}}},
                                  {"weight_map", weight_map}};
    atomic_write_file(dir / kIndexFile, index.dump(2) + "\n");
    written.push_back(kIndexFile);
  }
  // Remove the other layout's leftovers so the folder reads back as exactly what was written.
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name == kSingleFile || name == kIndexFile || is_shard_name(name);
    if (ours && std::ranges::find(written, name) == written.end()) fs::remove(entry.path());
  }
}

}  // namespace tttmem::io
