// CUDA runtime queries the product needs besides the kernels (kernels/ is where the CUDA
// runtime is linked).
#include <stdexcept>
#include <string>

#include "tttmem/kernels.h"

#ifdef TTTMEM_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace tttmem::kernels {

#ifndef TTTMEM_HAVE_CUDA
namespace {

[[noreturn]] void no_cuda(int index, const std::string& what) {
  throw std::runtime_error("cuda:" + std::to_string(index) +
                           ": this tttmem was built without CUDA, so it cannot " + what);
}

}  // namespace
#endif

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
  no_cuda(index, "query the device");
#endif
}

std::int64_t device_peak_allocated(int index) {
#ifdef TTTMEM_HAVE_CUDA
  const auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  return stats
      .allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
      .peak;
#else
  no_cuda(index, "read its allocator's peak");
#endif
}

void reset_device_peak(int index) {
#ifdef TTTMEM_HAVE_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
#else
  no_cuda(index, "reset its allocator's peak");
#endif
}

}  // namespace tttmem::kernels
