// Cross-check with the reference implementation (the `safetensors` Python package): it reads
// what we write and we read what it writes. See tests/python/safetensors_interop.py.
#include <gtest/gtest.h>

#include <cstring>

#include "io_test_util.h"
#include "test_support.h"
#include "tttmem/io.h"

namespace tttmem::test {
namespace {

struct Spec {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
};
// The same table as SPEC in safetensors_interop.py; the salt is the position.
const std::vector<Spec> kSpec{{"a.bf16", "BF16", {3, 5}}, {"b.f32", "F32", {4}},
                              {"c.i64", "I64", {2, 3}},   {"d.u8", "U8", {7}},
                              {"e.f16", "F16", {2, 2}},   {"f.i32", "I32", {3}},
                              {"g.scalar", "F32", {}},    {"h.empty", "BF16", {0, 3}}};

std::size_t nbytes(const Spec& s) {
  std::size_t n = io::dtype_size(io::parse_dtype(s.dtype));
  for (auto d : s.shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::string python(const std::string& args) {
  return std::string("'") + TTTMEM_PYTHON + "' '" +
         (source_dir() / "tests/python/safetensors_interop.py").string() + "' " + args;
}

TEST(Interop, ReferencePackageReadsOurFile) {
  ScratchDir dir;
  std::vector<std::vector<std::byte>> data;
  std::vector<io::TensorBytes> tensors;
  data.reserve(kSpec.size());
  for (std::size_t i = 0; i < kSpec.size(); ++i) {
    const auto& bytes = data.emplace_back(pattern_bytes(nbytes(kSpec[i]), static_cast<int>(i)));
    tensors.push_back({kSpec[i].name, io::parse_dtype(kSpec[i].dtype), kSpec[i].shape, bytes.data(), bytes.size()});
  }
  io::write_safetensors(dir / "ours.safetensors", tensors, {{"format", "pt"}, {"writer", "tttmem"}});
  const CommandResult r = run_command(python("check '" + (dir / "ours.safetensors").string() + "' tttmem"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "OK");
}

TEST(Interop, WeReadTheReferencePackagesFile) {
  ScratchDir dir;
  const auto path = dir / "theirs.safetensors";
  const CommandResult r = run_command(python("write '" + path.string() + "'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto file = io::SafetensorsFile::open(path);
  EXPECT_EQ(file->metadata().at("writer"), "python");
  ASSERT_EQ(file->tensors().size(), kSpec.size());
  for (std::size_t i = 0; i < kSpec.size(); ++i) {
    const io::TensorView* v = file->find(kSpec[i].name);
    ASSERT_NE(v, nullptr) << kSpec[i].name;
    EXPECT_EQ(io::dtype_name(v->dtype), kSpec[i].dtype);
    EXPECT_EQ(v->shape, kSpec[i].shape);
    const auto expected = pattern_bytes(nbytes(kSpec[i]), static_cast<int>(i));
    ASSERT_EQ(v->nbytes, expected.size());
    EXPECT_EQ(std::memcmp(v->data, expected.data(), expected.size()), 0) << kSpec[i].name;
  }
}

}  // namespace
}  // namespace tttmem::test
