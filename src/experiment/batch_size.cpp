// experiment: the default --batch-size of `run` (SPEC.md "run", batch size).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tttmem/experiment.h"
#include "tttmem/kernels.h"

namespace tttmem::experiment {

namespace {

// MemAvailable (what can be allocated without swapping), else the free pages.
std::int64_t available_host_memory() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    long long kib = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %lld kB", &kib) == 1) return kib * 1024;
  }
  return static_cast<std::int64_t>(::sysconf(_SC_AVPHYS_PAGES)) * ::sysconf(_SC_PAGE_SIZE);
}

std::string gib(double bytes) {
  std::ostringstream out;
  out.precision(3);
  out << bytes / (1024.0 * 1024.0 * 1024.0) << " GiB";
  return out.str();
}

}  // namespace

std::int64_t row_bytes(const ModelConfig& model, const ttt::TTTConfig* ttt, at::ScalarType dtype,
                       const RowNeeds& needs, std::int64_t max_new_tokens,
                       std::int64_t prefill_piece) {
  const auto element = static_cast<std::int64_t>(c10::elementSize(dtype));
  const std::int64_t D = model.hidden_size, F = model.intermediate_size;
  // KV slots: the ingestion's cache (kept by a continued stream), and the decoder's row, its
  // prompt plus 2 x max_new of room, twice: a merge holds the old and the new cache at once.
  const std::int64_t answer = needs.answer_tokens + 2 * max_new_tokens;
  const std::int64_t kv = 2 * model.num_hidden_layers * model.num_key_value_heads *
                          model.head_dim * (needs.ingest_tokens + 2 * answer) * element;
  // Fast weights: the engine keeps at most one sample memory per row alive (rows of one sample
  // share theirs), each TTT layer's plus one more for the update in flight. Upstream precision
  // holds a dense W in the model dtype; the fp32 delta holds factors of rank up to the tokens
  // streamed into it (probes add theirs) until its rank limit, then a dense fp32 delta.
  std::int64_t fast_layer = 0;
  if (ttt != nullptr && needs.fast_weights) {
    if (ttt->precision == ttt::Precision::upstream) {
      fast_layer = D * F * element;
    } else {
      const std::int64_t rank = needs.ingest_tokens + answer;
      const std::int64_t limit = ttt->max_low_rank >= 0 ? ttt->max_low_rank : std::min(D, F) / 2;
      fast_layer = rank < limit ? rank * (D + F) * 4 : D * F * 4;
    }
  }
  const std::int64_t fast =
      fast_layer == 0 ? 0 : (static_cast<std::int64_t>(ttt->layers.size()) + 1) * fast_layer;
  // Activations of one prefill forward (a piece, or the whole when shorter): the MLP's three
  // [tokens, F] products and a few [tokens, D] buffers. Attention's scores are not counted: SDPA's
  // fused kernels on a GPU do not materialise them.
  const std::int64_t activations =
      std::min(prefill_piece, std::max(needs.ingest_tokens, answer)) * (3 * F + 8 * D) * element;
  return kv + fast + activations;
}

std::int64_t fitting_batch_size(std::int64_t row, std::int64_t free_bytes) {
  // 20% of what is free stays for the allocator's fragmentation and the logits.
  const double budget = 0.8 * static_cast<double>(free_bytes);
  std::int64_t size = 1;
  while (size < kMaxDefaultBatchSize && static_cast<double>(2 * size * row) <= budget) size *= 2;
  return size;
}

BatchChoice default_batch_size(std::int64_t row_bytes, const at::Device& device) {
  // The weights are loaded already, so what is free now is what the rows can have.
  const std::int64_t free_bytes =
      device.is_cuda() ? kernels::device_free_memory(device.has_index() ? device.index() : 0)
                       : available_host_memory();
  const std::int64_t size = fitting_batch_size(row_bytes, free_bytes);
  return {size, "auto on " + device.str() + ": the largest power of two up to " +
                    std::to_string(kMaxDefaultBatchSize) + " whose rows (" +
                    gib(static_cast<double>(row_bytes)) + " each at worst) fit 80% of the " +
                    gib(static_cast<double>(free_bytes)) + " free"};
}

}  // namespace tttmem::experiment
