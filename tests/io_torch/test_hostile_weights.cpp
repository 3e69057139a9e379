// Hostile weights (issue 9): BOOL and integer tensors were converted to floats silently when a
// checkpoint was loaded as model weights.
#include <gtest/gtest.h>

#include "test_support.h"
#include "tttmem/tensor_io.h"

namespace tttmem::test {
namespace {

TEST(HostileWeights, IntegerAndBoolTensorsAreNotConvertedToFloat) {
  ScratchDir dir;
  io::save_tensors(dir / "w.safetensors", {{"i8", at::ones({2, 2}, at::kChar)},
                                           {"bool", at::ones({2}, at::kBool)},
                                           {"f16", at::ones({2}, at::kHalf)}});
  const auto file = io::SafetensorsFile::open(dir / "w.safetensors");
  for (const char* name : {"i8", "bool"}) {
    try {
      io::load_tensor(*file->find(name), at::kCPU, at::kFloat);
      ADD_FAILURE() << name << " was converted";
    } catch (const io::IoError& e) {
      EXPECT_NE(std::string(e.what()).find("w.safetensors: tensor '" + std::string(name) +
                                           "' is "),
                std::string::npos);
      EXPECT_NE(std::string(e.what()).find("expected a floating-point tensor"), std::string::npos)
          << e.what();
    }
  }
  // Their own dtype (a TTT state's counters, say) and float -> float still load.
  EXPECT_EQ(io::load_tensor(*file->find("i8"), at::kCPU, at::kChar).sum().item<int>(), 4);
  EXPECT_EQ(io::load_tensor(*file->find("f16"), at::kCPU, at::kFloat).scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace tttmem::test
