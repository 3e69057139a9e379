// Every CUDA kernel against its libtorch twin: a low-precision kernel passes when its error
// versus an fp32 reference is at most twice libtorch's own error in that precision.
#include <gtest/gtest.h>

#include "tttmem/kernels.h"
#include "tttmem/ttt.h"

namespace {

bool cuda_ready() { return tttmem::kernels::built_with_cuda() && at::hasCUDA(); }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat).cpu() - b.to(at::kFloat).cpu()).abs().max().item<double>();
}

// The libtorch twin works on whole chunks; the kernel takes any length and treats rows past it
// as the zero padding of the last chunk.
at::Tensor libtorch_conv(const at::Tensor& t, const at::Tensor& w, std::int64_t chunk) {
  const std::int64_t len = t.size(1);
  const std::int64_t pad = (chunk - len % chunk) % chunk;
  const at::Tensor padded = at::constant_pad_nd(t, {0, 0, 0, pad});
  return tttmem::ttt::chunk_conv_libtorch(padded, w, chunk).narrow(1, 0, len);
}

struct ConvCase {
  std::int64_t batch, seq_len, dim, chunk;
};

std::string case_name(const ::testing::TestParamInfo<std::tuple<ConvCase, at::ScalarType>>& info) {
  const ConvCase& c = std::get<0>(info.param);
  return "B" + std::to_string(c.batch) + "_L" + std::to_string(c.seq_len) + "_D" +
         std::to_string(c.dim) + "_C" + std::to_string(c.chunk) + "_" +
         c10::toString(std::get<1>(info.param));
}

class ChunkedConvKernel : public ::testing::TestWithParam<std::tuple<ConvCase, at::ScalarType>> {};

TEST_P(ChunkedConvKernel, MatchesLibtorchWithinTwiceItsOwnError) {
  if (!cuda_ready()) GTEST_SKIP() << "no CUDA device or built without CUDA kernels";
  const auto [c, dtype] = GetParam();
  at::manual_seed(1234);
  const at::Tensor t = at::randn({c.batch, c.seq_len, c.dim});
  const at::Tensor w = at::randn({c.dim, 1, 5});
  const at::Tensor reference = libtorch_conv(t.to(at::kDouble), w.to(at::kDouble), c.chunk);

  const at::Tensor t_dev = t.to(at::kCUDA).to(dtype);
  const at::Tensor w_dev = w.to(at::kCUDA).to(dtype);
  const at::Tensor kernel_out = tttmem::kernels::chunked_conv5(t_dev, w_dev, c.chunk);
  const at::Tensor libtorch_out = libtorch_conv(t_dev, w_dev, c.chunk);
  ASSERT_EQ(kernel_out.sizes(), reference.sizes());

  const double kernel_err = max_abs_diff(kernel_out, reference);
  const double libtorch_err = max_abs_diff(libtorch_out, reference);
  // fp32 accumulates the same five products: allow a few ulps of the output scale.
  const double floor = 1e-6 * reference.abs().max().item<double>();
  EXPECT_LE(kernel_err, 2.0 * libtorch_err + floor)
      << "kernel error " << kernel_err << " vs libtorch " << libtorch_err;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ChunkedConvKernel,
    ::testing::Combine(::testing::Values(ConvCase{1, 1, 64, 4}, ConvCase{1, 63, 96, 64},
                                         ConvCase{2, 130, 128, 64}, ConvCase{1, 4099, 256, 4096},
                                         ConvCase{3, 17, 4096, 8}),
                       ::testing::Values(at::kFloat, at::kHalf, at::kBFloat16)),
    case_name);

TEST(ChunkedConvKernel, RejectsBadArguments) {
  if (!cuda_ready()) GTEST_SKIP() << "no CUDA device or built without CUDA kernels";
  const at::Tensor t = at::zeros({1, 8, 16}, at::TensorOptions(at::kCUDA));
  EXPECT_THROW(tttmem::kernels::chunked_conv5(t, at::zeros({16, 1, 3}, t.options()), 4),
               std::invalid_argument);
  EXPECT_THROW(tttmem::kernels::chunked_conv5(t, at::zeros({16, 1, 5}, t.options()), 0),
               std::invalid_argument);
  EXPECT_THROW(tttmem::kernels::chunked_conv5(t.cpu(), at::zeros({16, 1, 5}), 4),
               std::invalid_argument);
}

}  // namespace
