// Plain-CUDA interface of the TTT target convolution (no torch headers: nvcc stays quick).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tttmem::kernels {

enum class ElementType { F32, F16, BF16 };

// out[b, p, d] = sum_j w[d, j] * in[b, p + j - 2, d] over the 5 taps j, where the source row
// must lie in p's own chunk [floor(p/C)*C, floor(p/C)*C + C) and below `seq_len`: the
// depthwise, non-causal, per-chunk zero-padded conv of In-Place TTT. in/out are [batch, seq_len,
// dim] contiguous; w is [dim, 5] contiguous, same element type. Accumulates in fp32.
cudaError_t launch_chunked_conv5(const void* in, const void* w, void* out, ElementType type,
                                 std::int64_t batch, std::int64_t seq_len, std::int64_t dim,
                                 std::int64_t chunk, cudaStream_t stream);

}  // namespace tttmem::kernels
