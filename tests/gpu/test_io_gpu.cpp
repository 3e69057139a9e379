// io on CUDA: load_tensor through pinned staging, including tensors larger than one chunk.
#include <gtest/gtest.h>

#include "test_support.h"
#include "tttmem/tensor_io.h"

namespace tttmem::test {
namespace {

TEST(IoGpu, LoadTensorToCudaMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  ScratchDir dir;
  at::manual_seed(11);
  // 48M bf16 elements = 96 MiB: more than one 64 MiB staging chunk, with a partial last chunk.
  const io::NamedTensors tensors{{"big", at::randn({48 * 1024 * 1024 + 3}).to(at::kBFloat16)},
                                 {"small", at::randn({5, 3})}};
  io::save_tensors(dir / "t.safetensors", tensors);
  const auto file = io::SafetensorsFile::open(dir / "t.safetensors");
  for (const auto& [name, t] : tensors) {
    const at::Tensor gpu = io::load_tensor(*file->find(name), at::Device("cuda:0"), t.scalar_type());
    EXPECT_TRUE(gpu.is_cuda());
    EXPECT_TRUE(at::equal(gpu.cpu(), t)) << name;
  }
  const at::Tensor f32 = io::load_tensor(*file->find("big"), at::Device("cuda"), at::kFloat);
  EXPECT_EQ(f32.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(f32.cpu(), tensors[0].second.to(at::kFloat)));
}

}  // namespace
}  // namespace tttmem::test
