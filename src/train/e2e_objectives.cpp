// train: TTT-E2E's two objectives, differentiated through the inner loop (SPEC.md "e2e").
#include <ATen/ATen.h>

#include <stdexcept>

#include "tttmem/host_read.h"
#include "tttmem/train.h"

namespace tttmem::train {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

// Real tokens per row of a right-padded batch, on the host.
std::vector<std::int64_t> row_lengths(const Batch& batch) {
  const std::int64_t rows = batch.ids.size(0), width = batch.ids.size(1);
  if (!batch.attention_mask.defined()) return std::vector<std::int64_t>(rows, width);
  const at::Tensor counts = model::to_host(batch.attention_mask.ne(0).sum(1));
  return {counts.data_ptr<std::int64_t>(), counts.data_ptr<std::int64_t>() + rows};
}

// Each row of a right-padded batch through the inner loop from theta on its own (mini-batch
// boundaries count from each text's first token); rows shorter than `min_length` are skipped
// (an empty result).
std::vector<e2e::IngestResult> ingest_rows(model::Decoder& model, const e2e::E2EConfig& config,
                                           const e2e::E2EParams& params, const Batch& batch,
                                           const std::vector<std::int64_t>& lengths,
                                           bool training, bool checkpoint,
                                           std::int64_t min_length) {
  e2e::IngestOptions options;
  options.create_graph = training;
  options.checkpoint = training && checkpoint;
  const e2e::E2EState start = e2e::E2EState::initial(params, 1);
  std::vector<e2e::IngestResult> out(lengths.size());
  for (std::size_t r = 0; r < lengths.size(); ++r)
    if (lengths[r] >= min_length)
      out[r] = e2e::ingest(model, config, start,
                           batch.ids.narrow(0, static_cast<std::int64_t>(r), 1).narrow(1, 0, lengths[r]),
                           options);
  return out;
}

}  // namespace

at::Tensor e2e_lm_loss(model::Decoder& model, const e2e::E2EConfig& config,
                       const e2e::E2EParams& params, const Batch& batch, bool training,
                       bool checkpoint) {
  // Each row is a document read from its first token, so rows of different lengths run the
  // inner loop on their own; the loss is the mean over every next-token pair of the batch.
  const std::vector<std::int64_t> lengths = row_lengths(batch);
  if (batch.labels.defined()) {
    const at::Tensor unlabelled = model::to_host(batch.labels.eq(-100).logical_and(
        batch.attention_mask.defined() ? batch.attention_mask.ne(0) : at::ones_like(batch.labels, at::kBool)));
    if (unlabelled.any().item<bool>())
      fail("train --memory e2e: the outer loss counts every token of a document (--loss-on all)");
  }
  const std::vector<e2e::IngestResult> rows =
      ingest_rows(model, config, params, batch, lengths, training, checkpoint, /*min_length=*/2);
  at::Tensor total;
  std::int64_t pairs = 0;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    if (lengths[r] < 2) continue;
    const at::Tensor sum = rows[r].outer_loss * static_cast<double>(lengths[r] - 1);
    total = total.defined() ? total + sum : sum;
    pairs += lengths[r] - 1;
  }
  if (pairs == 0) fail("train --memory e2e: no row of the batch has two tokens");
  return total / static_cast<double>(pairs);
}

at::Tensor e2e_memory_loss(model::Decoder& model, const e2e::E2EConfig& config,
                           const e2e::E2EParams& params, const MemoryBatch& batch, bool training,
                           bool checkpoint) {
  const std::vector<e2e::IngestResult> memories = ingest_rows(
      model, config, params, batch.ingest, row_lengths(batch.ingest), training, checkpoint,
      /*min_length=*/0);
  const at::Tensor conversation = model::to_host(batch.conversation.to(at::kLong));
  std::vector<const e2e::E2EState*> rows;
  for (std::int64_t p = 0; p < conversation.size(0); ++p)
    rows.push_back(&memories.at(static_cast<std::size_t>(conversation.data_ptr<std::int64_t>()[p])).state);
  const e2e::E2EState probes = e2e::stack(rows);
  e2e::DualMlp graft(config);
  graft.bind(&probes);
  model::ForwardOptions forward;
  forward.attention_mask = batch.probes.attention_mask;
  forward.mlp_override = &graft;
  return causal_lm_loss(model.forward(batch.probes.ids, forward), batch.probes.labels);
}

}  // namespace tttmem::train
