// Device-to-host reads of compute tensors. Every deliberate one in model/, ttt/ and the
// experiment engine goes through these, so that they can be counted: a decode step and a TTT
// prefill must make none (a read stalls the GPU until its queue drains and rules out CUDA
// graphs). The count is the same on the CPU, where a read costs nothing, so tests there catch a
// read that would stall a GPU. Host-side bookkeeping (token ids, masks and lengths that the
// caller built on the host) is read directly and is not counted.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace tttmem::model {

// `t` on the CPU (contiguous); one counted read.
at::Tensor to_host(const at::Tensor& t);
// The single value of `t`; one counted read.
template <typename T>
T host_scalar(const at::Tensor& t) {
  return to_host(t).item<T>();
}
// How many reads this process has made so far.
std::int64_t host_reads();

}  // namespace tttmem::model
