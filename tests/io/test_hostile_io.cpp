// Hostile files for the io module (issue 9): headers Python's safetensors rejects, headers that
// took quadratic time, shards that resolve outside the model folder, special files, sizes that
// wrapped, configs that would exhaust memory.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "io_test_util.h"
#include "test_support.h"
#include "tttmem/config.h"
#include "tttmem/io.h"

namespace tttmem::test {
namespace {

const std::string kOneTensor = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";

// Accepted but wrong: nlohmann's lexer stopped at a NUL byte, so padding or garbage after it
// passed. Python's safetensors (serde_json) rejects both and allows trailing whitespace only.
TEST(HostileSafetensors, HeaderWithNulPaddingOrGarbageIsRejected) {
  for (const std::string& tail : {std::string(4, '\0'), std::string("\0xyz", 4), std::string("xyz")}) {
    EXPECT_CONTAINS(io_error_of([&] { io::parse_header(kOneTensor + tail, 4, "f.safetensors"); }),
                    "f.safetensors: invalid JSON");
  }
  for (const char* tail : {"   ", "\t\r\n "})
    EXPECT_EQ(io::parse_header(kOneTensor + tail, 4, "f").tensors.size(), 1u) << "whitespace is valid";
}

// Hangs: 20k tensors took 4.4 s and 40k 17 s (nlohmann's callback parser rescans the parent
// object at each object's end); 200k would take minutes.
TEST(HostileSafetensors, ManyTensorsParseInLinearTime) {
  constexpr int kTensors = 200'000;
  std::string header = "{";
  for (int i = 0; i < kTensors; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string(i) +
              R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  header += "}";
  ScratchDir dir;
  write_raw(dir / "many.safetensors", header);
  const auto start = std::chrono::steady_clock::now();
  const auto file = io::SafetensorsFile::open(dir / "many.safetensors");
  ASSERT_EQ(file->tensors().size(), static_cast<std::size_t>(kTensors));
  for (int i = 0; i < kTensors; i += 997) ASSERT_NE(file->find("t" + std::to_string(i)), nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0) << "parsing " << kTensors << " tensors is not linear";
}

TEST(HostileSafetensors, SpecialFilesAreRefusedWithoutBlocking) {
  ScratchDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo.safetensors").c_str(), 0644), 0);
  EXPECT_CONTAINS(io_error_of([&] { io::SafetensorsFile::open(dir / "fifo.safetensors"); }),
                  "fifo.safetensors is a FIFO, expected a regular file");
  EXPECT_CONTAINS(io_error_of([&] { io::read_file(dir / "fifo.safetensors"); }), "is a FIFO");
  EXPECT_CONTAINS(io_error_of([&] { io::read_file(dir.path()); }), "is a folder, expected a regular file");
}

// A checkpoint whose index names a shard that is a symlink to a file outside the folder.
class SymlinkedShard : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::byte> bytes(16);
    const std::vector<io::TensorBytes> tensors{{"a", io::DType::F32, {2}, bytes.data(), 8},
                                               {"b", io::DType::F32, {2}, bytes.data(), 8}};
    io::write_checkpoint(model_, tensors, 2);
  }
  void move_shard_to(const std::filesystem::path& place) {
    std::filesystem::create_directories(place.parent_path());
    std::filesystem::rename(model_ / kShard, place);
    std::filesystem::create_symlink(place, model_ / kShard);
  }
  static constexpr const char* kShard = "model-00002-of-00002.safetensors";
  ScratchDir dir_;
  std::filesystem::path model_ = dir_ / "snapshots" / "rev" ;
};

TEST_F(SymlinkedShard, OutsideTheModelFolderIsRefused) {
  move_shard_to(dir_ / "elsewhere" / "secret.safetensors");
  const std::string msg = io_error_of([&] { io::Checkpoint::open(model_); });
  EXPECT_CONTAINS(msg, "model.safetensors.index.json: shard 'model-00002-of-00002.safetensors' resolves to");
  EXPECT_CONTAINS(msg, "outside the model folder");
}

TEST_F(SymlinkedShard, HuggingFaceCacheBlobIsAccepted) {
  move_shard_to(dir_ / "blobs" / "0123abcd");
  EXPECT_EQ(io::Checkpoint::open(model_).size(), 2u);
}

// Accepted but wrong: 999999999999GiB wrapped around 2^64.
TEST(HostileSizes, ByteSizeBeyond64BitsIsRefused) {
  EXPECT_CONTAINS(io_error_of([] { io::parse_byte_size("999999999999GiB", "--max-shard-size"); }),
                  "--max-shard-size: '999999999999GiB' is more than 2^64 bytes");
  EXPECT_EQ(io::parse_byte_size("999999999999MB", "f"), 999999999999ull * 1'000'000);
}

// Resource blow-ups: num_hidden_layers 1e9 grew past 11 GB before any tensor was compared.
TEST(HostileSizes, ConfigSizesBeyondTheLimitsNameTheField) {
  const nlohmann::json base = {{"model_type", "qwen3"}, {"vocab_size", 64}, {"hidden_size", 16},
                               {"intermediate_size", 32}, {"num_hidden_layers", 2},
                               {"num_attention_heads", 2}, {"head_dim", 8}};
  EXPECT_NO_THROW(ModelConfig::from_json(base, "c.json"));
  for (const auto& [field, value] : std::vector<std::pair<std::string, std::int64_t>>{
           {"num_hidden_layers", 1'000'000'000}, {"vocab_size", 1ll << 40},
           {"hidden_size", 1 << 20}, {"intermediate_size", 1 << 30}, {"head_dim", 1 << 20},
           {"num_attention_heads", 1 << 20}, {"max_position_embeddings", 1ll << 32}}) {
    nlohmann::json j = base;
    j[field] = value;
    EXPECT_CONTAINS(io_error_of([&] { ModelConfig::from_json(j, "c.json"); }),
                    "c.json: field '" + field + "': " + std::to_string(value) +
                        " is beyond the supported maximum");
  }
}

TEST(HostileSizes, AtomicWriterNeedsAFileNameInAWritableFolder) {
  ScratchDir dir;
  std::ofstream(dir / "file") << "x";
  EXPECT_CONTAINS(io_error_of([] { io::atomic_write_file("", "x"); }), "the output path is empty");
  EXPECT_CONTAINS(io_error_of([&] { io::atomic_write_file(dir / "file" / "out", "x"); }),
                  (dir / "file").string() + " is a regular file, expected a folder");
  EXPECT_EQ(io::read_file(dir / "file"), "x");
}

}  // namespace
}  // namespace tttmem::test
