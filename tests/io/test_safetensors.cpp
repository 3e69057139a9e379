// safetensors reader and writer: round trips, zero copy, atomicity, and every kind of bad file.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <fstream>

#include "io_test_util.h"
#include "test_support.h"
#include "tttmem/io.h"

namespace tttmem::test {
namespace {

using io::DType;

struct Owned {
  io::TensorBytes bytes;
  std::vector<std::byte> data;
};

Owned make(const std::string& name, DType dtype, std::vector<std::int64_t> shape, int salt) {
  std::size_t n = io::dtype_size(dtype);
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  Owned o{{name, dtype, std::move(shape), nullptr, n}, pattern_bytes(n, salt)};
  o.bytes.data = o.data.data();
  return o;
}

std::vector<io::TensorBytes> views(const std::vector<Owned>& owned) {
  std::vector<io::TensorBytes> out;
  for (const auto& o : owned) out.push_back(o.bytes);
  return out;
}

void expect_same(const io::TensorView& v, const Owned& o) {
  EXPECT_EQ(v.name, o.bytes.name);
  EXPECT_EQ(v.dtype, o.bytes.dtype) << v.name;
  EXPECT_EQ(v.shape, o.bytes.shape) << v.name;
  ASSERT_EQ(v.nbytes, o.data.size()) << v.name;
  EXPECT_EQ(std::memcmp(v.data, o.data.data(), v.nbytes), 0) << v.name;
}

std::string read_bytes(const std::filesystem::path& p) { return io::read_file(p); }

TEST(Safetensors, DtypeNamesAndSizes) {
  const std::vector<std::pair<std::string, std::size_t>> expected{
      {"BF16", 2}, {"F16", 2}, {"F32", 4}, {"F64", 8}, {"I64", 8},
      {"I32", 4},  {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}};
  for (const auto& [name, size] : expected) {
    const DType d = io::parse_dtype(name);
    EXPECT_EQ(io::dtype_name(d), name);
    EXPECT_EQ(io::dtype_size(d), size) << name;
  }
  EXPECT_CONTAINS(io_error_of([] { io::parse_dtype("F8_E4M3"); }), "F8_E4M3");
}

TEST(Safetensors, RoundTripAllDtypesAndMetadata) {
  ScratchDir dir;
  std::vector<Owned> owned;
  int salt = 0;
  for (const char* name : {"BF16", "F16", "F32", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"})
    owned.push_back(make(std::string("t.") + name, io::parse_dtype(name), {3, 5}, salt++));
  owned.push_back(make("scalar", DType::F32, {}, salt++));
  owned.push_back(make("empty", DType::BF16, {0, 4}, salt++));
  owned.push_back(make("odd", DType::BF16, {7}, salt++));  // leaves the next tensor unaligned
  owned.push_back(make("after_odd", DType::F32, {2, 2}, salt++));
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"note", "x y"}};
  io::write_safetensors(dir / "a.safetensors", views(owned), meta);

  const auto file = io::SafetensorsFile::open(dir / "a.safetensors");
  EXPECT_EQ(file->metadata(), meta);
  ASSERT_EQ(file->tensors().size(), owned.size());
  // File order is the order given to the writer.
  for (std::size_t i = 0; i < owned.size(); ++i) expect_same(file->tensors()[i], owned[i]);
  ASSERT_NE(file->find("odd"), nullptr);
  EXPECT_EQ(file->find("missing"), nullptr);
  EXPECT_EQ(file->find("scalar")->numel(), 1);
  EXPECT_EQ(file->find("empty")->numel(), 0);
}

TEST(Safetensors, HeaderIsSpacePaddedToEightBytes) {
  ScratchDir dir;
  const std::vector<Owned> owned{make("abc", DType::U8, {3}, 1)};
  io::write_safetensors(dir / "a.safetensors", views(owned));
  const std::string bytes = read_bytes(dir / "a.safetensors");
  std::uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(len % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + len + 3);
  const std::string header = bytes.substr(8, len);
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
}

TEST(Safetensors, ViewsPointIntoTheFileMapping) {
  ScratchDir dir;
  const std::vector<Owned> owned{make("a", DType::F32, {1024}, 1), make("b", DType::BF16, {9}, 2)};
  io::write_safetensors(dir / "z.safetensors", views(owned));
  const auto file = io::SafetensorsFile::open(dir / "z.safetensors");
  const auto addr = reinterpret_cast<std::uintptr_t>(file->find("b")->data);
  // /proc/self/maps is the kernel's own account: the address must lie in a mapping of our file.
  std::ifstream maps("/proc/self/maps");
  std::string line;
  bool found = false;
  const std::string path = std::filesystem::canonical(dir / "z.safetensors").string();
  while (std::getline(maps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2) continue;
    if (addr >= lo && addr < hi) {
      EXPECT_CONTAINS(line, path);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(file->find("b")->data - file->find("a")->data, 4096);
}

TEST(Safetensors, AtomicWriteLeavesNoTempFile) {
  ScratchDir dir;
  const std::vector<Owned> owned{make("a", DType::U8, {10}, 1)};
  io::write_safetensors(dir / "a.safetensors", views(owned));
  io::write_safetensors(dir / "a.safetensors", views(owned));  // overwrite
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"a.safetensors"});
}

TEST(Safetensors, FailedWriteKeepsTheOldFile) {
  ScratchDir dir;
  const std::vector<Owned> old{make("old", DType::U8, {10}, 1)};
  io::write_safetensors(dir / "a.safetensors", views(old));
  const std::string before = read_bytes(dir / "a.safetensors");
  // Unreadable source memory makes write(2) fail with EFAULT half-way through the file.
  const std::size_t page = 4096;
  void* bad = ::mmap(nullptr, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(bad, MAP_FAILED);
  const std::vector<io::TensorBytes> tensors{old[0].bytes, {"bad", DType::U8, {4096}, bad, page}};
  const std::string msg = io_error_of([&] { io::write_safetensors(dir / "a.safetensors", tensors); });
  ::munmap(bad, page);
  EXPECT_CONTAINS(msg, (dir / "a.safetensors").string());
  EXPECT_EQ(read_bytes(dir / "a.safetensors"), before);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(Safetensors, WriterRejectsInconsistentTensors) {
  ScratchDir dir;
  const auto path = dir / "w.safetensors";
  Owned a = make("a", DType::F32, {2, 2}, 1);
  std::vector<io::TensorBytes> dup{a.bytes, a.bytes};
  EXPECT_CONTAINS(io_error_of([&] { io::write_safetensors(path, dup); }), "'a' given twice");
  io::TensorBytes wrong = a.bytes;
  wrong.nbytes = 12;
  const std::string msg = io_error_of([&] { io::write_safetensors(path, std::vector{wrong}); });
  EXPECT_CONTAINS(msg, path.string());
  EXPECT_CONTAINS(msg, "'a'");
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Safetensors, AtomicWriteFileReplacesContent) {
  ScratchDir dir;
  io::atomic_write_file(dir / "f.txt", "one");
  io::atomic_write_file(dir / "f.txt", "two!");
  EXPECT_EQ(io::read_file(dir / "f.txt"), "two!");
  EXPECT_CONTAINS(io_error_of([&] { io::read_file(dir / "nope.txt"); }), "nope.txt");
}

// ---- bad files: each error names the file and, where there is one, the tensor.

class BadFile : public ::testing::Test {
 protected:
  std::string open_error(const std::string& header, const std::string& data = {},
                         std::uint64_t declared = UINT64_MAX) {
    write_raw(path_, header, data, declared);
    return io_error_of([&] { io::SafetensorsFile::open(path_); });
  }
  ScratchDir dir_;
  std::filesystem::path path_ = dir_ / "bad.safetensors";
};

TEST_F(BadFile, ShorterThanTheLengthField) {
  std::ofstream(path_, std::ios::binary) << "abc";
  const std::string msg = io_error_of([&] { io::SafetensorsFile::open(path_); });
  EXPECT_CONTAINS(msg, path_.string());
  EXPECT_CONTAINS(msg, "less than the 8-byte header length");
}

TEST_F(BadFile, TruncatedDataSection) {
  const std::vector<Owned> owned{make("first", DType::F32, {4}, 1), make("last", DType::F32, {4}, 2)};
  io::write_safetensors(path_, views(owned));
  std::filesystem::resize_file(path_, std::filesystem::file_size(path_) - 5);
  const std::string msg = io_error_of([&] { io::SafetensorsFile::open(path_); });
  EXPECT_CONTAINS(msg, path_.string());
  EXPECT_CONTAINS(msg, "tensor 'last'");
  EXPECT_CONTAINS(msg, "out of range");
}

TEST_F(BadFile, HeaderLengthLargerThanTheFile) {
  const std::string msg = open_error("{}", "", 4096);
  EXPECT_CONTAINS(msg, path_.string());
  EXPECT_CONTAINS(msg, "larger than the file");
}

TEST_F(BadFile, HeaderOverTheLimit) {
  const std::string msg = open_error("{}", "", io::kMaxHeaderBytes + 1);
  EXPECT_CONTAINS(msg, path_.string());
  EXPECT_CONTAINS(msg, "exceeds the limit");
}

TEST_F(BadFile, InvalidJson) {
  const std::string msg = open_error(R"({"a": {"dtype": "F32",)");
  EXPECT_CONTAINS(msg, path_.string());
  EXPECT_CONTAINS(msg, "invalid JSON");
}

TEST_F(BadFile, HeaderNotAnObject) {
  const std::string msg = open_error("[1, 2]");
  EXPECT_CONTAINS(msg, path_.string());
  EXPECT_CONTAINS(msg, "must be a JSON object");
}

TEST_F(BadFile, UnknownDtype) {
  const std::string msg =
      open_error(R"({"w": {"dtype": "F12", "shape": [1], "data_offsets": [0, 2]}})", "xx");
  EXPECT_CONTAINS(msg, path_.string() + ": tensor 'w'");
  EXPECT_CONTAINS(msg, "unknown safetensors dtype 'F12'");
}

TEST_F(BadFile, OffsetsOutOfRange) {
  const std::string msg =
      open_error(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", "12345678");
  EXPECT_CONTAINS(msg, path_.string() + ": tensor 'w'");
  EXPECT_CONTAINS(msg, "out of range");
}

TEST_F(BadFile, OffsetsEndBeforeBegin) {
  const std::string msg =
      open_error(R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}})", "1234");
  EXPECT_CONTAINS(msg, "tensor 'w'");
  EXPECT_CONTAINS(msg, "end before begin");
}

TEST_F(BadFile, OverlappingOffsets) {
  const std::string msg = open_error(
      R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
          "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})",
      "123456");
  EXPECT_CONTAINS(msg, path_.string() + ": tensor 'b'");
  EXPECT_CONTAINS(msg, "overlap tensor 'a'");
}

TEST_F(BadFile, GapBetweenTensors) {
  const std::string msg = open_error(
      R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
          "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}})",
      "123456");
  EXPECT_CONTAINS(msg, "tensor 'b'");
  EXPECT_CONTAINS(msg, "gap");
}

TEST_F(BadFile, TrailingBytes) {
  const std::string msg =
      open_error(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}})", "1234");
  EXPECT_CONTAINS(msg, path_.string());
  EXPECT_CONTAINS(msg, "trailing bytes");
}

TEST_F(BadFile, ShapeTimesDtypeSizeIsNotTheByteSpan) {
  const std::string msg =
      open_error(R"({"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 8]}})", "12345678");
  EXPECT_CONTAINS(msg, path_.string() + ": tensor 'w'");
  EXPECT_CONTAINS(msg, "shape [2, 3] x BF16 does not match its byte span of 8 bytes");
}

TEST_F(BadFile, ShapeWhoseElementCountOverflows) {
  const std::string msg = open_error(
      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 0]}})");
  EXPECT_CONTAINS(msg, "tensor 'w'");
  EXPECT_CONTAINS(msg, "does not match");
}

TEST_F(BadFile, NegativeShape) {
  const std::string msg =
      open_error(R"({"w": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}})");
  EXPECT_CONTAINS(msg, "tensor 'w'");
  EXPECT_CONTAINS(msg, "non-negative integers");
}

TEST_F(BadFile, MissingFields) {
  EXPECT_CONTAINS(open_error(R"({"w": {"shape": [0], "data_offsets": [0, 0]}})"), "\"dtype\"");
  EXPECT_CONTAINS(open_error(R"({"w": {"dtype": "U8", "data_offsets": [0, 0]}})"), "\"shape\"");
  EXPECT_CONTAINS(open_error(R"({"w": {"dtype": "U8", "shape": [0]}})"), "\"data_offsets\"");
  EXPECT_CONTAINS(open_error(R"({"w": 3})"), "tensor 'w': entry must be an object");
}

TEST_F(BadFile, DuplicateTensorNames) {
  const std::string msg = open_error(
      R"({"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
          "w": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}})",
      "1234");
  EXPECT_CONTAINS(msg, path_.string());
  EXPECT_CONTAINS(msg, "duplicate key 'w'");
}

TEST_F(BadFile, MetadataMustHoldStrings) {
  const std::string msg = open_error(R"({"__metadata__": {"format": 1}})");
  EXPECT_CONTAINS(msg, "__metadata__ entry 'format' must be a string");
}

TEST_F(BadFile, DeepNestingIsRejected) {
  const std::string deep = "{\"w\": " + std::string(1000, '[') + std::string(1000, ']') + "}";
  EXPECT_CONTAINS(open_error(deep), "nested deeper");
}

TEST(Safetensors, ParseHeaderDirectly) {
  const io::Header h = io::parse_header(
      R"({"__metadata__": {"k": "v"},
          "b": {"dtype": "I32", "shape": [2], "data_offsets": [4, 12]},
          "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}})",
      12, "mem");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "a");  // offset order
  EXPECT_EQ(h.tensors[1].begin, 4u);
  EXPECT_EQ(h.tensors[1].end, 12u);
  EXPECT_EQ(h.metadata.at("k"), "v");
}

TEST(Safetensors, ExpectTensorNamesTensorAndBothShapes) {
  const io::TensorView v{"model.norm.weight", DType::BF16, {4096}, nullptr, 8192, "ckpt/x.safetensors"};
  const std::vector<std::int64_t> ok{4096}, other{2048};
  io::expect_tensor(v, ok);
  io::expect_tensor(v, ok, DType::BF16);
  std::string msg = io_error_of([&] { io::expect_tensor(v, other); });
  EXPECT_CONTAINS(msg, "ckpt/x.safetensors: tensor 'model.norm.weight'");
  EXPECT_CONTAINS(msg, "[4096]");
  EXPECT_CONTAINS(msg, "[2048]");
  msg = io_error_of([&] { io::expect_tensor(v, ok, DType::F32); });
  EXPECT_CONTAINS(msg, "'model.norm.weight' is BF16 [4096], expected F32 [4096]");
}

}  // namespace
}  // namespace tttmem::test
