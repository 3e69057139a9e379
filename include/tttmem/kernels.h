// CUDA kernels with libtorch entry points. Each has a plain libtorch twin (the oracle) in the
// module that owns the math; tests/gpu compares the two.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace tttmem::kernels {

// True when this build has the kernels compiled in (TTTMEM_CUDA resolved ON).
bool built_with_cuda();

// Free memory of CUDA device `index`, in bytes (cudaMemGetInfo). Throws without CUDA.
std::int64_t device_free_memory(int index);
// The most bytes libtorch's caching allocator had allocated on CUDA device `index` at once since
// the process started or reset_device_peak. Throws without CUDA.
std::int64_t device_peak_allocated(int index);
// Restarts that peak from what is allocated now (a condition's own peak). Throws without CUDA.
void reset_device_peak(int index);

// TTT target conv on CUDA tensors: t [B, L, D], weight [D, 1, 5] (ttt_conv.weight), chunk C.
// Same dtype for both (fp32, fp16 or bf16). See kernels/ttt_conv.cuh for the exact definition.
at::Tensor chunked_conv5(const at::Tensor& t, const at::Tensor& weight, std::int64_t chunk);

}  // namespace tttmem::kernels
