// libtorch binding of kernels/ttt_conv.cu.
#include <stdexcept>
#include <string>

#include "tttmem/kernels.h"

#ifdef TTTMEM_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ttt_conv.cuh"
#endif

namespace tttmem::kernels {

#ifdef TTTMEM_HAVE_CUDA
bool built_with_cuda() { return true; }

at::Tensor chunked_conv5(const at::Tensor& t, const at::Tensor& weight, std::int64_t chunk) {
  if (!t.is_cuda() || t.dim() != 3)
    throw std::invalid_argument("chunked_conv5: expected a CUDA tensor [B, L, D], got " +
                                std::string(t.toString()) + " with " + std::to_string(t.dim()) +
                                " dims");
  const std::int64_t dim = t.size(2);
  if (weight.sizes() != at::IntArrayRef({dim, 1, 5}) || weight.scalar_type() != t.scalar_type() ||
      weight.device() != t.device())
    throw std::invalid_argument("chunked_conv5: ttt_conv weight must be [" + std::to_string(dim) +
                                ", 1, 5] on the input's device and dtype");
  if (chunk <= 0) throw std::invalid_argument("chunked_conv5: chunk must be > 0");
  ElementType type;
  switch (t.scalar_type()) {
    case at::kFloat: type = ElementType::F32; break;
    case at::kHalf: type = ElementType::F16; break;
    case at::kBFloat16: type = ElementType::BF16; break;
    default: throw std::invalid_argument("chunked_conv5: dtype must be fp32, fp16 or bf16");
  }
  const at::Tensor in = t.contiguous();
  const at::Tensor w = weight.contiguous();
  at::Tensor out = at::empty_like(in);
  const cudaError_t err =
      launch_chunked_conv5(in.data_ptr(), w.data_ptr(), out.data_ptr(), type, in.size(0),
                           in.size(1), dim, chunk, at::cuda::getCurrentCUDAStream(in.get_device()));
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("chunked_conv5: launch failed: ") +
                             cudaGetErrorString(err));
  return out;
}
#else
bool built_with_cuda() { return false; }

at::Tensor chunked_conv5(const at::Tensor&, const at::Tensor&, std::int64_t) {
  throw std::runtime_error("chunked_conv5: this tttmem was built without CUDA (TTTMEM_CUDA=OFF "
                           "or no nvcc / CUDA-enabled libtorch at configure time)");
}
#endif

}  // namespace tttmem::kernels
