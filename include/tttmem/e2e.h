// e2e: TTT-E2E memory (SPEC.md "e2e"), the second memory mechanism beside In-Place TTT. The MLPs
// of chosen blocks are dual: the model's own (static) plus a dynamic MLP whose weights are
// trained at test time, one SGD step per mini-batch of the document on its next-token loss;
// the dynamic weights' initial values are meta-learned through those steps.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/model.h"
#include "tttmem/tensor_io.h"

namespace tttmem::e2e {

struct E2EConfig {
  std::vector<std::int64_t> layers;  // sorted, unique; default: the last quarter of the blocks
  std::int64_t mini_batch = 1024;    // b: tokens per inner step
  double inner_lr = 1.0;             // eta
  std::int64_t inner_steps = 1;      // s: SGD steps per mini-batch
  std::int64_t window = 0;           // attention window while in use; 0: the model's own
  std::int64_t intermediate = 0;     // F', the dynamic MLP's width; 0: the model's

  // The paper's layout on `model`: layers L - max(1, L / 4) .. L - 1, the other fields as above.
  static E2EConfig defaults(const ModelConfig& model);
  // config.json's e2e_* fields over defaults(model), validated; errors name `source` and the
  // field. fields_from_json leaves validation to a caller that overrides fields first (flags).
  static E2EConfig from_json(const nlohmann::json& raw, const ModelConfig& model,
                             const std::string& source);
  static E2EConfig fields_from_json(const nlohmann::json& raw, const ModelConfig& model,
                                    const std::string& source);
  nlohmann::ordered_json to_json() const;  // the same field names; round-trips
  // Throws naming the field: a layer outside [0, L), b < 2, s < 1, eta negative or not finite,
  // a negative window or width.
  void validate(const ModelConfig& model) const;
  void set_layers(std::vector<std::int64_t> new_layers);  // stored sorted and unique
  bool is_e2e_layer(std::int64_t layer) const;
  std::int64_t width(const ModelConfig& model) const;  // F'
  // The dynamic weights one decoder row holds (fp32), for run's batch-size rule.
  std::int64_t row_bytes(const ModelConfig& model) const;
};

// One dynamic MLP: gate, up [.., F', D] and down [.., D, F'] as stored. Parameters have no
// leading dimension; a state's weights have one, the batch rows (each row its own weights).
struct DynamicMlp {
  at::Tensor gate, up, down;
};

std::string gate_name(std::int64_t layer);  // model.layers.{i}.mlp.dynamic_gate_proj.weight
std::string up_name(std::int64_t layer);    // ...dynamic_up_proj.weight
std::string down_name(std::int64_t layer);  // ...dynamic_down_proj.weight

// theta: the dynamic MLPs' initial weights, fp32, one per E2E layer.
class E2EParams {
 public:
  std::map<std::int64_t, DynamicMlp> layers;

  // gate, up ~ N(0, initializer_range^2) from a CPU generator seeded per layer; down zero, so a
  // fresh graft changes nothing.
  static E2EParams init(const E2EConfig& config, const ModelConfig& model, std::uint64_t seed,
                        const at::Device& device);
  // From a checkpoint holding every E2E layer's three tensors (shapes checked, values finite);
  // errors name the tensor and the file.
  static E2EParams load(const io::Checkpoint& checkpoint, const E2EConfig& config,
                        const ModelConfig& model, const at::Device& device);
  // HF-style names, fp32, the config in the metadata (e2e_config: its JSON).
  void save(const std::filesystem::path& file, const E2EConfig& config) const;
  // The config a saved file records (std::nullopt: none); errors name the file.
  static std::optional<E2EConfig> recorded_config(const io::Checkpoint& checkpoint,
                                                  const ModelConfig& model);
  // Every tensor with its name, layer order, gate/up/down: what a trainer optimises.
  std::vector<std::pair<std::string, at::Tensor*>> named();
  io::NamedTensors tensors() const;  // the same, as values: what a file holds
};

// The memory of B rows: per E2E layer the dynamic weights, [B, F', D] / [B, D, F'], fp32.
struct E2EState {
  std::map<std::int64_t, DynamicMlp> weights;
  std::int64_t updates = 0;  // SGD steps taken (the same for every row of one state)

  static E2EState initial(const E2EParams& params, std::int64_t rows);  // theta for each row
  std::int64_t rows() const;
  E2EState row(std::int64_t index) const;  // one row, [1, ...]
};
E2EState stack(const std::vector<const E2EState*>& states);  // rows concatenated in order

// (act(X G^T) * (X U^T)) Dn^T for x [B, L, D] with weights [B or 1, ...]: each row its own
// dynamic MLP; the weights are cast to x's dtype for the products.
at::Tensor dynamic_mlp(const at::Tensor& x, const DynamicMlp& weights, model::Activation act);

// The decoder's override on E2E layers: the static MLP plus the bound state's dynamic MLP, row b
// of the call with row b of the state (or every row with a one-row state).
class DualMlp : public model::MlpOverride {
 public:
  explicit DualMlp(const E2EConfig& config) : config_(config) {}
  void bind(const E2EState* state) { state_ = state; }
  bool handles(std::int64_t layer) const override;
  at::Tensor forward(const model::MlpContext& context) override;

 private:
  const E2EConfig& config_;
  const E2EState* state_ = nullptr;
};

struct IngestOptions {
  // Meta-learning: every inner step stays differentiable (gradients of gradients) and the cached
  // keys and values keep their graph. False: each step's weights and the keys are plain values.
  bool create_graph = false;
  // Activation checkpointing of the meta-learning path (needs create_graph): each mini-batch keeps
  // only its inputs (its weights W_i, the earlier tokens' keys and values) and runs again, inner
  // steps included, when the backward pass reaches it; keeps neither logits nor the cache.
  bool checkpoint = false;
  bool keep_logits = false;  // IngestResult::logits
  // Keep the loop's KV cache (IngestResult::cache): the stream goes on after the document (the
  // scroll condition).
  bool keep_cache = false;
};

struct IngestResult {
  E2EState state;                       // the weights after the last mini-batch
  at::Tensor outer_loss;                // mean next-token CE over rows and t < N - 1 (fp32)
  std::vector<at::Tensor> inner_losses; // per mini-batch, [B]: l_i at W_i (its first step)
  at::Tensor logits;                    // [B, N, V] read with W_i on M_i, when keep_logits
  std::shared_ptr<model::KVCache> cache;  // every token's keys and values, when keep_cache
};

// The inner loop (SPEC.md "e2e", Inner loop) over ids [B, N] (no padding) from `start`. Runs with
// gradients whatever the caller's mode (an inference run needs them for the inner steps).
IngestResult ingest(model::Decoder& model, const E2EConfig& config, const E2EState& start,
                    const at::Tensor& ids, const IngestOptions& options = {});

// The batch decoder's per-row memory: one E2EState (one row) per decoder row, frozen.
class DecoderMemory : public model::RowMemory {
 public:
  explicit DecoderMemory(const E2EConfig& config) : graft_(config) {}
  void add(std::int64_t row, E2EState state);
  void erase(std::int64_t row);
  model::MlpOverride* bind(const std::vector<std::int64_t>& rows) override;

 private:
  std::map<std::int64_t, E2EState> states_;
  std::vector<std::int64_t> bound_ids_;
  E2EState bound_;
  DualMlp graft_;
};

}  // namespace tttmem::e2e
