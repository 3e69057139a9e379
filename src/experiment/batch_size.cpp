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
                       std::int64_t max_new_tokens) {
  const auto element = static_cast<std::int64_t>(c10::elementSize(dtype));
  // A row's KV slots: the longest stream or prompt the engine admits (the D ingest limit, or the
  // model's context when shorter) plus the engine's 2 x max_new of room.
  const auto longest_ingest = static_cast<std::int64_t>(
      protocol::ingest_limit(protocol::Ingest::conversation_and_distractor));
  const std::int64_t tokens =
      std::min<std::int64_t>(model.max_position_embeddings, longest_ingest) + 2 * max_new_tokens;
  const std::int64_t kv = 2 * model.num_hidden_layers * model.num_key_value_heads *
                          model.head_dim * tokens * element;
  // Worst case of a row's fast weights: dense on every TTT layer (model dtype under upstream
  // precision, fp32 for the fp32 delta).
  const std::int64_t fast_element =
      ttt != nullptr && ttt->precision == ttt::Precision::fp32 ? 4 : element;
  const std::int64_t fast = ttt == nullptr ? 0
                                           : static_cast<std::int64_t>(ttt->layers.size()) *
                                                 model.hidden_size * model.intermediate_size *
                                                 fast_element;
  // Prefill activations of one row at that length: the MLP's three [tokens, F] products and a
  // few [tokens, D] buffers.
  const std::int64_t activations =
      tokens * (3 * model.intermediate_size + 8 * model.hidden_size) * element;
  return kv + fast + activations;
}

std::int64_t fitting_batch_size(std::int64_t row, std::int64_t free_bytes) {
  // 20% of what is free stays for the allocator's fragmentation and the logits.
  const double budget = 0.8 * static_cast<double>(free_bytes);
  std::int64_t size = 1;
  while (size < kMaxDefaultBatchSize && static_cast<double>(2 * size * row) <= budget) size *= 2;
  return size;
}

BatchChoice default_batch_size(const ModelConfig& model, const ttt::TTTConfig* ttt,
                               const at::Device& device, at::ScalarType dtype,
                               std::int64_t max_new_tokens) {
  // The weights are loaded already, so what is free now is what the rows can have.
  const std::int64_t free_bytes =
      device.is_cuda() ? kernels::device_free_memory(device.has_index() ? device.index() : 0)
                       : available_host_memory();
  const std::int64_t row = row_bytes(model, ttt, dtype, max_new_tokens);
  const std::int64_t size = fitting_batch_size(row, free_bytes);
  return {size, "auto on " + device.str() + ": the largest power of two up to " +
                    std::to_string(kMaxDefaultBatchSize) + " whose rows (" +
                    gib(static_cast<double>(row)) + " each at worst) fit 80% of the " +
                    gib(static_cast<double>(free_bytes)) + " free"};
}

}  // namespace tttmem::experiment
