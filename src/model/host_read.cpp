// The counted device-to-host reads (include/tttmem/host_read.h).
#include "tttmem/host_read.h"

#include <atomic>

namespace tttmem::model {

namespace {
std::atomic<std::int64_t> reads{0};
}  // namespace

at::Tensor to_host(const at::Tensor& t) {
  ++reads;
  return t.to(at::kCPU).contiguous();
}

std::int64_t host_reads() { return reads.load(); }

}  // namespace tttmem::model
