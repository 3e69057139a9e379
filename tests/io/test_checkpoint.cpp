// Checkpoints: single file, HF folder, sharded with index (the real Qwen3-8B naming), and the
// index errors.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io_test_util.h"
#include "test_support.h"
#include "tttmem/io.h"

namespace tttmem::test {
namespace {

using io::DType;

// Tiny tensors under the Qwen3-8B names: 36 layers x 11 + embed, norm, lm_head = 399.
struct TinyQwen {
  std::vector<io::TensorBytes> tensors;
  std::vector<std::vector<std::byte>> data;

  TinyQwen() {
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> spec{{"model.embed_tokens.weight", {16, 8}}};
    for (int l = 0; l < 36; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      for (const char* n : {"input_layernorm", "post_attention_layernorm"}) spec.push_back({p + n + ".weight", {8}});
      for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) spec.push_back({p + "self_attn." + n + ".weight", {8, 8}});
      for (const char* n : {"q_norm", "k_norm"}) spec.push_back({p + "self_attn." + n + ".weight", {4}});
      for (const char* n : {"gate_proj", "up_proj"}) spec.push_back({p + "mlp." + n + ".weight", {12, 8}});
      spec.push_back({p + "mlp.down_proj.weight", {8, 12}});
    }
    spec.push_back({"model.norm.weight", {8}});
    spec.push_back({"lm_head.weight", {16, 8}});
    data.reserve(spec.size());
    int salt = 0;
    for (auto& [name, shape] : spec) {
      std::size_t n = 2;
      for (auto d : shape) n *= static_cast<std::size_t>(d);
      const auto& bytes = data.emplace_back(pattern_bytes(n, salt++));
      tensors.push_back({name, DType::BF16, shape, bytes.data(), n});
    }
  }
  std::uint64_t total() const {
    std::uint64_t t = 0;
    for (const auto& x : tensors) t += x.nbytes;
    return t;
  }
};

void expect_matches(const io::Checkpoint& ckpt, const TinyQwen& model) {
  ASSERT_EQ(ckpt.size(), model.tensors.size());
  EXPECT_EQ(ckpt.total_bytes(), model.total());
  for (const auto& t : model.tensors) {
    const io::TensorView& v = ckpt.get(t.name);
    EXPECT_EQ(v.shape, t.shape) << t.name;
    ASSERT_EQ(v.nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(v.data, t.data, t.nbytes), 0) << t.name;
  }
}

nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(io::read_file(p)); }

TEST(Checkpoint, ShardedLikeQwen3_8B) {
  ScratchDir dir;
  const TinyQwen model;
  ASSERT_EQ(model.tensors.size(), 399u);
  io::write_checkpoint(dir.path(), model.tensors, 5, {{"format", "pt"}});
  for (int i = 1; i <= 5; ++i)
    EXPECT_TRUE(std::filesystem::exists(dir / ("model-0000" + std::to_string(i) + "-of-00005.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors"));

  const auto index = read_json(dir / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), model.total());
  EXPECT_EQ(index["weight_map"].size(), 399u);
  // Split in the given order: some layer has tensors in two shards, like the real checkpoint.
  bool split_layer = false;
  for (int l = 0; l < 36; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    split_layer |= index["weight_map"][p + "input_layernorm.weight"] != index["weight_map"][p + "mlp.down_proj.weight"];
  }
  EXPECT_TRUE(split_layer);

  const auto ckpt = io::Checkpoint::open(dir.path());
  EXPECT_EQ(ckpt.shards().size(), 5u);
  expect_matches(ckpt, model);
  // Roughly equal shards: none holds more than twice the average.
  for (const auto& shard : ckpt.shards()) {
    EXPECT_GT(shard->tensors().size(), 0u);
    EXPECT_LT(shard->file_bytes(), 2 * model.total() / 5 + 4096) << shard->path();
    EXPECT_EQ(shard->metadata().at("format"), "pt");
  }
  const auto names = ckpt.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(ckpt.get("lm_head.weight").file.filename(), "model-00005-of-00005.safetensors");
}

TEST(Checkpoint, SingleFileFolderAndPlainFile) {
  ScratchDir dir;
  const TinyQwen model;
  io::write_checkpoint(dir.path(), model.tensors, 1);
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors.index.json"));
  expect_matches(io::Checkpoint::open(dir.path()), model);
  expect_matches(io::Checkpoint::open(dir / "model.safetensors"), model);
}

TEST(Checkpoint, RewritingSwitchesLayoutCleanly) {
  ScratchDir dir;
  const TinyQwen model;
  io::write_checkpoint(dir.path(), model.tensors, 5);
  io::write_checkpoint(dir.path(), model.tensors, 1);
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files.push_back(e.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{"model.safetensors"});
  io::write_checkpoint(dir.path(), model.tensors, 3);
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors"));
  expect_matches(io::Checkpoint::open(dir.path()), model);
}

TEST(Checkpoint, EveryShardGetsATensorEvenWhenOneIsHuge) {
  ScratchDir dir;
  std::vector<std::byte> big(1 << 16), small(2);
  const std::vector<io::TensorBytes> tensors{{"big", DType::U8, {1 << 16}, big.data(), big.size()},
                                             {"a", DType::U8, {2}, small.data(), 2},
                                             {"b", DType::U8, {2}, small.data(), 2}};
  io::write_checkpoint(dir.path(), tensors, 3);
  const auto ckpt = io::Checkpoint::open(dir.path());
  ASSERT_EQ(ckpt.shards().size(), 3u);
  for (const auto& s : ckpt.shards()) EXPECT_EQ(s->tensors().size(), 1u) << s->path();
  EXPECT_CONTAINS(io_error_of([&] { io::write_checkpoint(dir.path(), tensors, 4); }),
                  "cannot split 3 tensors into 4 shards");
}

TEST(ShardPlan, MaxBytesFollowsSavePretrainedRule) {
  using V = std::vector<std::size_t>;
  const std::vector<std::uint64_t> sizes{4, 3, 3, 10, 2, 5};
  // limit 6: [4] (4+3 > 6), [3,3] (exactly 6 stays), [10] (oversized: alone), [2], [5] (2+5 > 6)
  EXPECT_EQ(io::plan_shards(sizes, io::ShardSplit::by_max_bytes(6)), (V{0, 1, 3, 4, 5}));
  EXPECT_EQ(io::plan_shards(sizes, io::ShardSplit::by_max_bytes(100)), (V{0}));
  EXPECT_EQ(io::plan_shards(sizes, io::ShardSplit::by_max_bytes(1)), (V{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(io::plan_shards(sizes, 3), (V{0, 3, 4}));  // roughly equal bytes: 10 | 10 | 7
  EXPECT_CONTAINS(io_error_of([] { io::ShardSplit::by_max_bytes(0); }), "must be > 0");
}

TEST(ShardPlan, ByteSizesParseLikeHuggingFace) {
  EXPECT_EQ(io::parse_byte_size("4GB", "--max-shard-size"), 4'000'000'000u);
  EXPECT_EQ(io::parse_byte_size("4GiB", "--max-shard-size"), 4ull << 30);
  EXPECT_EQ(io::parse_byte_size("300MB", "--max-shard-size"), 300'000'000u);
  EXPECT_EQ(io::parse_byte_size("1234", "--max-shard-size"), 1234u);
  for (const char* bad : {"", "GB", "4 GB", "4gb", "4.5GB", "-4GB", "99999999999999GB"})
    EXPECT_CONTAINS(io_error_of([&] { io::parse_byte_size(bad, "--max-shard-size"); }),
                    "--max-shard-size: expected a byte size")
        << bad;
}

TEST(ShardPlan, SizeLimitedCheckpointReadsBack) {
  ScratchDir dir;
  const TinyQwen model;
  std::uint64_t total = 0;
  for (const auto& t : model.tensors) total += t.nbytes;
  const auto split = io::ShardSplit::by_max_bytes(total / 3 + 1);
  io::write_checkpoint(dir.path(), model.tensors, split);
  std::vector<std::uint64_t> sizes;
  for (const auto& t : model.tensors) sizes.push_back(t.nbytes);
  const auto first = io::plan_shards(sizes, split);
  const auto ckpt = io::Checkpoint::open(dir.path());
  ASSERT_GE(first.size(), 3u);
  ASSERT_EQ(ckpt.shards().size(), first.size());
  EXPECT_EQ(ckpt.size(), model.tensors.size());
  for (std::size_t s = 0; s < first.size(); ++s)  // shards hold the planned runs, in order
    EXPECT_EQ(ckpt.shards()[s]->tensors().front().name, model.tensors[first[s]].name);
  for (const auto& s : ckpt.shards()) {
    std::uint64_t data = 0;
    for (const auto& t : s->tensors()) data += t.nbytes;
    EXPECT_LE(data, total / 3 + 1) << s->path();
  }
}

TEST(Checkpoint, MissingTensorIsNamed) {
  ScratchDir dir;
  const TinyQwen model;
  io::write_checkpoint(dir.path(), model.tensors, 1);
  const auto ckpt = io::Checkpoint::open(dir.path());
  EXPECT_EQ(ckpt.find("model.layers.99.mlp.up_proj.weight"), nullptr);
  const std::string msg = io_error_of([&] { ckpt.get("model.layers.99.mlp.up_proj.weight"); });
  EXPECT_CONTAINS(msg, dir.path().string());
  EXPECT_CONTAINS(msg, "'model.layers.99.mlp.up_proj.weight' not found");
}

class BadIndex : public ::testing::Test {
 protected:
  void SetUp() override { io::write_checkpoint(dir_.path(), model_.tensors, 5); }
  std::string open_error() { return io_error_of([&] { io::Checkpoint::open(dir_.path()); }); }
  void write_index(const std::string& text) {
    std::ofstream(dir_ / "model.safetensors.index.json") << text;
  }
  nlohmann::json index() { return read_json(dir_ / "model.safetensors.index.json"); }
  ScratchDir dir_;
  TinyQwen model_;
};

TEST_F(BadIndex, TensorMissingFromItsShard) {
  auto j = index();
  j["weight_map"]["model.layers.0.mlp.ghost.weight"] = "model-00001-of-00005.safetensors";
  write_index(j.dump());
  const std::string msg = open_error();
  EXPECT_CONTAINS(msg, "model.safetensors.index.json: tensor 'model.layers.0.mlp.ghost.weight'");
  EXPECT_CONTAINS(msg, "model-00001-of-00005.safetensors");
}

TEST_F(BadIndex, TensorAttributedToTheWrongShard) {
  auto j = index();
  j["weight_map"]["lm_head.weight"] = "model-00001-of-00005.safetensors";
  write_index(j.dump());
  const std::string msg = open_error();
  EXPECT_CONTAINS(msg, "tensor 'lm_head.weight' is not in its shard");
}

TEST_F(BadIndex, ShardFileMissing) {
  std::filesystem::remove(dir_ / "model-00003-of-00005.safetensors");
  const std::string msg = open_error();
  EXPECT_CONTAINS(msg, "model.safetensors.index.json: shard 'model-00003-of-00005.safetensors'");
  EXPECT_CONTAINS(msg, "does not exist");
}

TEST_F(BadIndex, ShardOutsideTheFolder) {
  auto j = index();
  j["weight_map"]["lm_head.weight"] = "../elsewhere.safetensors";
  write_index(j.dump());
  EXPECT_CONTAINS(open_error(), "tensor 'lm_head.weight' maps to invalid shard name '../elsewhere.safetensors'");
}

TEST_F(BadIndex, DuplicateTensorInIndex) {
  write_index(R"({"weight_map": {"lm_head.weight": "model-00005-of-00005.safetensors",
                                 "lm_head.weight": "model-00005-of-00005.safetensors"}})");
  EXPECT_CONTAINS(open_error(), "duplicate key 'lm_head.weight'");
}

TEST_F(BadIndex, NoWeightMap) {
  write_index(R"({"metadata": {}})");
  EXPECT_CONTAINS(open_error(), "model.safetensors.index.json: expected an object with a \"weight_map\"");
}

TEST_F(BadIndex, CorruptShardNamesTheShard) {
  std::filesystem::resize_file(dir_ / "model-00002-of-00005.safetensors", 100);
  EXPECT_CONTAINS(open_error(), "model-00002-of-00005.safetensors");
}

TEST(Checkpoint, EmptyFolderAndMissingPath) {
  ScratchDir dir;
  EXPECT_CONTAINS(io_error_of([&] { io::Checkpoint::open(dir.path()); }),
                  "no model.safetensors or model.safetensors.index.json");
  EXPECT_CONTAINS(io_error_of([&] { io::Checkpoint::open(dir / "nothing"); }), "checkpoint not found");
}

}  // namespace
}  // namespace tttmem::test
