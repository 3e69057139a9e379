#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "ttt_conv.cuh"

namespace tttmem::kernels {
namespace {

template <class T> __device__ float to_float(T v);
template <> __device__ float to_float(float v) { return v; }
template <> __device__ float to_float(__half v) { return __half2float(v); }
template <> __device__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ T from_float(float v);
template <> __device__ float from_float(float v) { return v; }
template <> __device__ __half from_float(float v) { return __float2half_rn(v); }
template <> __device__ __nv_bfloat16 from_float(float v) { return __float2bfloat16_rn(v); }

// One thread per output element; consecutive threads walk the feature dim so every load of a
// source row is coalesced. The op is memory-bound: 5 reads per write, weights cached in L1.
template <class T>
__global__ void chunked_conv5(const T* __restrict__ in, const T* __restrict__ w,
                              T* __restrict__ out, std::int64_t seq_len, std::int64_t dim,
                              std::int64_t chunk, std::int64_t total) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const std::int64_t d = i % dim;
  const std::int64_t row = i / dim;  // b * seq_len + p
  const std::int64_t p = row % seq_len;
  const std::int64_t chunk_begin = (p / chunk) * chunk;
  const std::int64_t chunk_end = min(chunk_begin + chunk, seq_len);
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < 5; ++j) {
    const std::int64_t src = p + j - 2;
    if (src >= chunk_begin && src < chunk_end)
      acc += to_float(w[d * 5 + j]) * to_float(in[(row + j - 2) * dim + d]);
  }
  out[i] = from_float<T>(acc);
}

template <class T>
cudaError_t launch(const void* in, const void* w, void* out, std::int64_t batch,
                   std::int64_t seq_len, std::int64_t dim, std::int64_t chunk,
                   cudaStream_t stream) {
  const std::int64_t total = batch * seq_len * dim;
  if (total == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const std::int64_t blocks = (total + kThreads - 1) / kThreads;
  chunked_conv5<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<const T*>(in), static_cast<const T*>(w), static_cast<T*>(out), seq_len, dim,
      chunk, total);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_chunked_conv5(const void* in, const void* w, void* out, ElementType type,
                                 std::int64_t batch, std::int64_t seq_len, std::int64_t dim,
                                 std::int64_t chunk, cudaStream_t stream) {
  switch (type) {
    case ElementType::F32: return launch<float>(in, w, out, batch, seq_len, dim, chunk, stream);
    case ElementType::F16: return launch<__half>(in, w, out, batch, seq_len, dim, chunk, stream);
    case ElementType::BF16:
      return launch<__nv_bfloat16>(in, w, out, batch, seq_len, dim, chunk, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace tttmem::kernels
