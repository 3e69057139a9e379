// Batched greedy generation on top of Qwen3Model::forward and a KVCache.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "tttmem/host_read.h"
#include "tttmem/model.h"

namespace tttmem::model {

std::vector<std::int64_t> default_stop_ids(const ModelConfig& config) {
  std::vector<std::int64_t> ids = config.eos_token_ids;
  for (std::int64_t id : {std::int64_t{151643}, std::int64_t{151645}})  // <|endoftext|>, <|im_end|>
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

GenerateResult generate_greedy(Qwen3Model& model, const at::Tensor& prompt_ids,
                               const GenerateOptions& options) {
  if (prompt_ids.dim() != 2) throw std::invalid_argument("generate_greedy: prompt must be [B, L]");
  if (options.max_new_tokens < 1)
    throw std::invalid_argument("generate_greedy: max_new_tokens must be >= 1");
  const std::int64_t B = prompt_ids.size(0);
  const std::vector<std::int64_t> stops =
      options.stop_ids ? *options.stop_ids : default_stop_ids(model.config());
  KVCache cache = model.make_cache(B, prompt_ids.size(1) + options.max_new_tokens);

  GenerateResult result;
  result.lengths.assign(static_cast<std::size_t>(B), 0);
  std::vector<bool> finished(static_cast<std::size_t>(B), false);
  std::vector<at::Tensor> columns;
  ForwardOptions forward;
  forward.attention_mask = options.attention_mask;
  forward.mlp_override = options.mlp_override;
  forward.last_logits_only = true;
  at::Tensor input = prompt_ids;
  for (std::int64_t step = 0; step < options.max_new_tokens; ++step) {
    const auto start = std::chrono::steady_clock::now();
    const at::Tensor logits = model.forward(input, cache, forward);
    // Copying the argmax to the host waits for the device, so the timing is honest.
    const at::Tensor next = to_host(logits.select(1, 0).argmax(-1));
    // Rows that already stopped keep decoding their own argmax (always a valid id) but report
    // pad_id, which need not exist in a small test vocabulary.
    at::Tensor reported = next.clone();
    result.step_seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    auto* ids = reported.data_ptr<std::int64_t>();
    bool all_done = true;
    for (std::size_t b = 0; b < finished.size(); ++b) {
      if (finished[b]) {
        ids[b] = options.pad_id;
        continue;
      }
      ++result.lengths[b];
      finished[b] = std::find(stops.begin(), stops.end(), ids[b]) != stops.end();
      all_done = all_done && finished[b];
    }
    columns.push_back(reported);
    if (all_done) break;
    input = next.view({B, 1});
    forward.attention_mask = at::Tensor();  // every generated token is real
  }
  result.ids = at::stack(columns, 1);
  return result;
}

}  // namespace tttmem::model
