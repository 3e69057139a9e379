// The torch side of io: zero-copy views, owned copies, dtype conversion, save/load round trips.
#include <gtest/gtest.h>

#include "test_support.h"
#include "tttmem/tensor_io.h"

namespace tttmem::test {
namespace {

io::NamedTensors sample_tensors() {
  at::manual_seed(7);
  return {{"bf16", at::randn({5, 7}).to(at::kBFloat16)},
          {"f16", at::randn({3}).to(at::kHalf)},
          {"f32", at::randn({2, 3, 4})},
          {"f64", at::randn({4}, at::kDouble)},
          {"i64", at::randint(-1000, 1000, {6}, at::kLong)},
          {"i32", at::randint(-1000, 1000, {2, 2}, at::kInt)},
          {"i16", at::randint(-1000, 1000, {3}, at::kShort)},
          {"i8", at::randint(-100, 100, {3}, at::kChar)},
          {"u8", at::randint(0, 255, {9}, at::kByte)},
          {"bool", at::randint(0, 2, {4}).to(at::kBool)},
          {"scalar", at::scalar_tensor(3.5)},
          {"transposed", at::randn({4, 6}).t()}};  // non-contiguous: written contiguous
}

TEST(TensorIo, SaveLoadRoundTripEveryDtype) {
  ScratchDir dir;
  const auto tensors = sample_tensors();
  io::save_tensors(dir / "t.safetensors", tensors, {{"step", "3"}});
  const auto file = io::SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->metadata().at("step"), "3");
  const auto loaded = io::load_tensors(dir / "t.safetensors", at::kCPU);
  ASSERT_EQ(loaded.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(loaded[i].first, tensors[i].first);
    EXPECT_EQ(loaded[i].second.scalar_type(), tensors[i].second.scalar_type()) << tensors[i].first;
    EXPECT_EQ(loaded[i].second.sizes(), tensors[i].second.sizes()) << tensors[i].first;
    EXPECT_TRUE(at::equal(loaded[i].second, tensors[i].second)) << tensors[i].first;
  }
}

TEST(TensorIo, AsTensorIsZeroCopyAndLoadTensorOwnsItsData) {
  ScratchDir dir;
  const auto tensors = sample_tensors();
  io::save_tensors(dir / "t.safetensors", tensors);
  const auto file = io::SafetensorsFile::open(dir / "t.safetensors");
  const io::TensorView& view = *file->find("f32");
  const at::Tensor zero_copy = io::as_tensor(view);
  EXPECT_EQ(zero_copy.data_ptr(), static_cast<const void*>(view.data));
  EXPECT_TRUE(at::equal(zero_copy, tensors[2].second));
  const at::Tensor owned = io::load_tensor(view, at::kCPU, at::kFloat);
  EXPECT_NE(owned.data_ptr(), static_cast<const void*>(view.data));
  EXPECT_TRUE(at::equal(owned, zero_copy));
}

TEST(TensorIo, LoadTensorConvertsDtype) {
  ScratchDir dir;
  const auto tensors = sample_tensors();
  io::save_tensors(dir / "t.safetensors", tensors);
  const auto file = io::SafetensorsFile::open(dir / "t.safetensors");
  const at::Tensor f32 = io::load_tensor(*file->find("bf16"), at::kCPU, at::kFloat);
  EXPECT_EQ(f32.scalar_type(), at::kFloat);
  // bf16 -> f32 is exact, so the values must be identical.
  EXPECT_TRUE(at::equal(f32, tensors[0].second.to(at::kFloat)));
}

TEST(TensorIo, ShardedCheckpointRoundTrip) {
  ScratchDir dir;
  const auto tensors = sample_tensors();
  io::save_checkpoint(dir.path(), tensors, 4);
  const auto ckpt = io::Checkpoint::open(dir.path());
  EXPECT_EQ(ckpt.shards().size(), 4u);
  for (const auto& [name, t] : tensors)
    EXPECT_TRUE(at::equal(io::as_tensor(ckpt.get(name)), t)) << name;
}

TEST(TensorIo, UnsupportedDeviceAndDtypeAreNamed) {
  ScratchDir dir;
  io::save_tensors(dir / "t.safetensors", {{"w", at::ones({2})}});
  const auto file = io::SafetensorsFile::open(dir / "t.safetensors");
  try {
    io::load_tensor(*file->find("w"), at::Device(at::kMeta), at::kFloat);
    ADD_FAILURE() << "expected an IoError";
  } catch (const io::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w'"), std::string::npos) << e.what();
  }
  try {
    io::save_tensors(dir / "c.safetensors", {{"c", at::ones({2}, at::kComplexFloat)}});
    ADD_FAILURE() << "expected an IoError";
  } catch (const io::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("no safetensors equivalent"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tttmem::test
