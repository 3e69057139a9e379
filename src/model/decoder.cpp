// model: the batch decoder, the project's only decode loop (greedy, continuous batching).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <stdexcept>

#include "tttmem/host_read.h"
#include "tttmem/model.h"

namespace tttmem::model {

LeftPadded left_pad(const std::vector<const std::vector<std::int64_t>*>& rows) {
  const auto n = static_cast<std::int64_t>(rows.size());
  std::int64_t width = 0;
  for (const auto* row : rows) width = std::max(width, static_cast<std::int64_t>(row->size()));
  at::Tensor ids = at::zeros({n, width}, at::kLong), mask = at::zeros({n, width}, at::kBool);
  bool padded = false;
  for (std::int64_t r = 0; r < n; ++r) {
    const std::vector<std::int64_t>& row = *rows[static_cast<std::size_t>(r)];
    const auto len = static_cast<std::int64_t>(row.size());
    ids[r].narrow(0, width - len, len).copy_(at::tensor(row, at::kLong));
    mask[r].narrow(0, width - len, len).fill_(true);
    padded = padded || len < width;
  }
  return {ids, padded ? mask : at::Tensor()};
}

at::Tensor forward_in_pieces(Decoder& model, const LeftPadded& batch, KVCache& cache,
                             ForwardOptions options, std::int64_t piece) {
  if (piece < 1)
    throw std::invalid_argument("prefill piece: " + std::to_string(piece) + " tokens, expected >= 1");
  const std::int64_t width = batch.ids.size(1);
  at::Tensor out;
  for (std::int64_t start = 0; start < width; start += piece) {
    const std::int64_t length = std::min(piece, width - start);
    options.attention_mask =
        batch.mask.defined() ? batch.mask.narrow(1, start, length) : at::Tensor();
    out = model.forward(batch.ids.narrow(1, start, length), cache, options);
  }
  return out;
}

struct BatchDecoder::Live {
  std::int64_t id = 0, max_new = 0;
  std::vector<std::int64_t> generated;
};

BatchDecoder::BatchDecoder(Decoder& model, DecoderOptions options, RowMemory* memory)
    : model_(model),
      options_(std::move(options)),
      memory_(memory),
      stop_ids_(default_stop_ids(model.config())) {
  if (options_.batch_size < 1)
    throw std::invalid_argument("batch decoder: batch size " + std::to_string(options_.batch_size) +
                                ", expected >= 1");
  if (options_.read_every < 0)
    throw std::invalid_argument("batch decoder: read_every " + std::to_string(options_.read_every) +
                                ", expected >= 0 (0: by device)");
  if (options_.read_every == 0) options_.read_every = model.device().is_cpu() ? 1 : 8;
  if (options_.prefill_piece < 1)
    throw std::invalid_argument("batch decoder: prefill_piece " +
                                std::to_string(options_.prefill_piece) + ", expected >= 1");
}

std::string BatchDecoder::stop_reason(const Live& row) const {
  const std::int64_t id = row.generated.back();
  if (options_.stop) {
    if (std::string reason = options_.stop(id); !reason.empty()) return reason;
  } else if (std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end()) {
    return "stop_token";
  }
  if (static_cast<std::int64_t>(row.generated.size()) >= row.max_new) return "max_new_tokens";
  return "";
}

at::Tensor BatchDecoder::next_ids(const at::Tensor& ids, KVCache& cache,
                                  const std::vector<Live>& rows, const at::Tensor& mask_host) {
  ForwardOptions forward;
  forward.last_logits_only = true;
  struct Binding {  // unbinds however the forward ends
    RowMemory* memory;
    ~Binding() {
      if (memory) memory->unbind();
    }
  } binding{memory_};
  if (memory_) {
    std::vector<std::int64_t> names;
    names.reserve(rows.size());
    for (const Live& row : rows) names.push_back(row.id);
    forward.mlp_override = memory_->bind(names);
  }
  return forward_in_pieces(model_, {ids, mask_host}, cache, forward, options_.prefill_piece)
      .select(1, 0)
      .argmax(-1);
}

std::pair<std::vector<BatchDecoder::Live>, KVCache> BatchDecoder::prefill(
    const std::vector<DecodeRow>& requests) {
  const auto n = static_cast<std::int64_t>(requests.size());
  std::int64_t prefix = 0;
  std::vector<const std::vector<std::int64_t>*> prompts;
  for (const DecodeRow& row : requests) {
    if (row.prompt.empty())
      throw std::invalid_argument("batch decoder: row " + std::to_string(row.id) +
                                  " has an empty prompt");
    if (row.max_new_tokens < 1)
      throw std::invalid_argument("batch decoder: row " + std::to_string(row.id) +
                                  " has max_new_tokens " + std::to_string(row.max_new_tokens) +
                                  ", expected >= 1");
    prompts.push_back(&row.prompt);
    if (row.prefix) prefix = std::max(prefix, row.prefix->length());
  }
  // Every row's last prompt token at the end. A row with a starting cache keeps its slots
  // [0, its length); a shorter one sees padding up to `prefix`.
  const LeftPadded batch = left_pad(prompts);
  KVCache cache = model_.make_cache(n, prefix + batch.ids.size(1));
  std::vector<Live> rows;
  for (std::int64_t r = 0; r < n; ++r) {
    const DecodeRow& row = requests[static_cast<std::size_t>(r)];
    if (row.prefix && row.prefix->length() > 0) cache.assign_row(r, *row.prefix, row.prefix_row);
    rows.push_back({row.id, row.max_new_tokens, {}});
  }
  // The prefill's one read: whether each row's first token already stops it.
  const at::Tensor first = to_host(next_ids(batch.ids, cache, rows, batch.mask));
  if (memory_) {
    std::vector<std::int64_t> names;
    for (const Live& row : rows) names.push_back(row.id);
    memory_->prefilled(names);
  }
  for (std::int64_t r = 0; r < n; ++r)
    rows[static_cast<std::size_t>(r)].generated.push_back(first[r].item<std::int64_t>());  // host tensor
  ++stats_.prefills;
  return {std::move(rows), std::move(cache)};
}

void BatchDecoder::run(const std::function<std::optional<DecodeRow>()>& next,
                       const std::function<void(DecodedRow)>& done) {
  const c10::InferenceMode inference;
  const auto batch_size = static_cast<std::size_t>(options_.batch_size);
  std::vector<Live> rows;
  KVCache cache;
  bool exhausted = false;
  while (true) {
    // Pull rows into the free slots and prefill them together.
    std::vector<DecodeRow> requests;
    while (!exhausted && rows.size() + requests.size() < batch_size) {
      std::optional<DecodeRow> row = next();
      if (row)
        requests.push_back(std::move(*row));
      else
        exhausted = true;
    }
    std::vector<Live> incoming;
    KVCache incoming_cache;
    if (!requests.empty()) std::tie(incoming, incoming_cache) = prefill(requests);
    requests.clear();  // the starting caches are no longer needed

    // Rows that stopped leave; the rest, old and new, form the next batch.
    std::vector<std::pair<const KVCache*, std::int64_t>> sources;
    std::vector<Live> kept;
    std::int64_t remaining = 0;  // the most tokens a kept row may still generate
    auto keep_or_finish = [&](Live& row, const KVCache* source, std::int64_t index) {
      if (std::string reason = stop_reason(row); !reason.empty()) {
        done({row.id, std::move(row.generated), std::move(reason)});
        return;
      }
      remaining = std::max(remaining, row.max_new - static_cast<std::int64_t>(row.generated.size()));
      sources.emplace_back(source, index);
      kept.push_back(std::move(row));
    };
    const std::size_t before = rows.size();
    for (std::size_t r = 0; r < rows.size(); ++r)
      keep_or_finish(rows[r], &cache, static_cast<std::int64_t>(r));
    for (std::size_t r = 0; r < incoming.size(); ++r)
      keep_or_finish(incoming[r], &incoming_cache, static_cast<std::int64_t>(r));
    rows = std::move(kept);
    if (rows.empty()) {
      cache = KVCache();
      if (exhausted) return;
      continue;
    }
    if (!incoming.empty() || rows.size() != before) {
      // Room for every row's remaining tokens, and as much again, so that compact() (one gather
      // of the cache) runs at most once per that many steps.
      std::int64_t length = 0;
      for (const auto& [source, index] : sources) length = std::max(length, source->length());
      KVCache merged =
          model_.make_cache(static_cast<std::int64_t>(rows.size()), length + 2 * remaining);
      for (std::size_t r = 0; r < sources.size(); ++r)
        merged.assign_row(static_cast<std::int64_t>(r), *sources[r].first, sources[r].second);
      cache = std::move(merged);
    }

    // A window of decode steps with the same rows: the ids stay on the device until its end, and
    // no row may pass its max_new_tokens inside it.
    std::int64_t steps = options_.read_every;
    for (const Live& row : rows)
      steps = std::min(steps, row.max_new - static_cast<std::int64_t>(row.generated.size()));
    if (cache.length() + steps > cache.capacity()) {
      cache.compact();
      ++stats_.kv_compactions;
    }
    const auto b = static_cast<std::int64_t>(rows.size());
    std::vector<std::int64_t> last;
    for (const Live& row : rows) last.push_back(row.generated.back());
    at::Tensor input = at::tensor(last, at::kLong).view({b, 1});
    std::vector<at::Tensor> columns;
    for (std::int64_t s = 0; s < steps; ++s) {
      columns.push_back(next_ids(input, cache, rows, {}));
      input = columns.back().view({b, 1});
      ++stats_.decode_steps;
    }
    const at::Tensor window = to_host(at::stack(columns, 1));  // the window's one read
    ++stats_.windows;
    const auto* ids = window.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < b; ++r) {
      Live& row = rows[static_cast<std::size_t>(r)];
      // Tokens after the row's stop were decoded for nothing and are dropped.
      for (std::int64_t s = 0; s < steps && stop_reason(row).empty(); ++s)
        row.generated.push_back(ids[r * steps + s]);
    }
  }
}

std::vector<DecodedRow> BatchDecoder::run(std::vector<DecodeRow> rows) {
  std::vector<DecodedRow> out(rows.size());
  std::size_t next = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i].id = static_cast<std::int64_t>(i);
  run([&]() -> std::optional<DecodeRow> {
        if (next == rows.size()) return std::nullopt;
        return std::move(rows[next++]);
      },
      [&](DecodedRow row) { out[static_cast<std::size_t>(row.id)] = std::move(row); });
  return out;
}

}  // namespace tttmem::model
