// CUDA runtime queries the product needs besides the kernels (kernels/ is where the CUDA
// runtime is linked).
#include <stdexcept>
#include <string>

#include "tttmem/kernels.h"

#ifdef TTTMEM_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace tttmem::kernels {

std::int64_t device_free_memory(int index) {
#ifdef TTTMEM_HAVE_CUDA
  int previous = 0;
  std::size_t free = 0, total = 0;
  cudaError_t err = cudaGetDevice(&previous);
  if (err == cudaSuccess) err = cudaSetDevice(index);
  if (err == cudaSuccess) err = cudaMemGetInfo(&free, &total);
  cudaSetDevice(previous);
  if (err != cudaSuccess)
    throw std::runtime_error("cuda:" + std::to_string(index) + ": cannot read its memory: " +
                             cudaGetErrorString(err));
  return static_cast<std::int64_t>(free);
#else
  throw std::runtime_error("cuda:" + std::to_string(index) +
                           ": this tttmem was built without CUDA, so it cannot query the device");
#endif
}

}  // namespace tttmem::kernels
