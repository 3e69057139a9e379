// e2e: the dual MLP, the inner loop (SGD on the dynamic MLPs, one step per mini-batch, through
// libtorch autograd) and the per-row memory the batch decoder reads (SPEC.md "e2e").
#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "tttmem/e2e.h"

namespace tttmem::e2e {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

// Applies `op` to each of a state's tensors, layer order, gate/up/down.
template <typename Op>
E2EState map_weights(const E2EState& state, Op op) {
  E2EState out;
  out.updates = state.updates;
  for (const auto& [layer, w] : state.weights)
    out.weights[layer] = {op(w.gate), op(w.up), op(w.down)};
  return out;
}

std::vector<at::Tensor> tensors_of(const E2EState& state) {
  std::vector<at::Tensor> out;
  for (const auto& [layer, w] : state.weights) out.insert(out.end(), {w.gate, w.up, w.down});
  return out;
}

// Per row, the mean next-token cross-entropy of logits [B, c, V] against targets [B, c].
at::Tensor next_token_loss(const at::Tensor& logits, const at::Tensor& targets) {
  const at::Tensor logp = at::log_softmax(logits.to(model::at_least_fp32(logits.scalar_type())), -1);
  return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).neg().mean(1);
}

}  // namespace

E2EState E2EState::initial(const E2EParams& params, std::int64_t rows) {
  E2EState state;
  for (const auto& [layer, p] : params.layers)
    state.weights[layer] = {p.gate.unsqueeze(0).expand({rows, -1, -1}),
                            p.up.unsqueeze(0).expand({rows, -1, -1}),
                            p.down.unsqueeze(0).expand({rows, -1, -1})};
  return state;
}

std::int64_t E2EState::rows() const {
  return weights.empty() ? 0 : weights.begin()->second.gate.size(0);
}

E2EState E2EState::row(std::int64_t index) const {
  return map_weights(*this, [&](const at::Tensor& t) { return t.narrow(0, index, 1); });
}

E2EState stack(const std::vector<const E2EState*>& states) {
  if (states.empty()) return {};
  E2EState out;
  out.updates = states.front()->updates;
  for (const auto& [layer, first] : states.front()->weights) {
    std::vector<at::Tensor> gate, up, down;
    for (const E2EState* s : states) {
      const DynamicMlp& w = s->weights.at(layer);
      gate.push_back(w.gate);
      up.push_back(w.up);
      down.push_back(w.down);
    }
    out.weights[layer] = {at::cat(gate), at::cat(up), at::cat(down)};
  }
  return out;
}

at::Tensor dynamic_mlp(const at::Tensor& x, const DynamicMlp& weights, model::Activation act) {
  const auto dtype = x.scalar_type();
  const at::Tensor gate = at::matmul(x, weights.gate.to(dtype).transpose(-1, -2));
  const at::Tensor up = at::matmul(x, weights.up.to(dtype).transpose(-1, -2));
  const at::Tensor h = model::gate_activation(gate, act) * up;
  return at::matmul(h, weights.down.to(dtype).transpose(-1, -2));
}

bool DualMlp::handles(std::int64_t layer) const { return config_.is_e2e_layer(layer); }

at::Tensor DualMlp::forward(const model::MlpContext& context) {
  if (state_ == nullptr) fail("e2e::DualMlp: no state bound");
  const auto found = state_->weights.find(context.layer);
  if (found == state_->weights.end())
    fail("e2e::DualMlp: the bound state has no weights for layer " + std::to_string(context.layer));
  const std::int64_t rows = state_->rows(), batch = context.x.size(0);
  if (rows != batch && rows != 1)
    fail("e2e::DualMlp: the state holds " + std::to_string(rows) + " rows, the forward " +
         std::to_string(batch));
  return model::mlp_forward(context.x, context.weights) +
         dynamic_mlp(context.x, found->second, context.weights.activation);
}

namespace {

// torch has no second derivative of the fused attention kernels: meta-learning (create_graph)
// reads with the math attention (HF eager) while in scope.
class MathAttention {
 public:
  MathAttention(model::Decoder& model, bool wanted) : model_(model), saved_(model.attention()) {
    if (wanted) model_.set_attention(model::Attention::math);
  }
  ~MathAttention() { model_.set_attention(saved_); }
  MathAttention(const MathAttention&) = delete;
  MathAttention& operator=(const MathAttention&) = delete;

 private:
  model::Decoder& model_;
  model::Attention saved_;
};

// A state's tensors as the ones an inner step differentiates against, B rows each: with
// create_graph a tensor that already carries a graph stays in it (a leaf only where nothing
// upstream requires grad); without, every tensor is a fresh leaf.
E2EState as_inputs(const E2EState& state, std::int64_t B, bool create_graph) {
  return map_weights(state, [&](const at::Tensor& t) {
    const at::Tensor rows = t.size(0) == B ? t : t.expand({B, -1, -1});
    if (create_graph && rows.requires_grad()) return rows;
    return rows.detach().requires_grad_(true);
  });
}

struct MiniBatchResult {
  at::Tensor logits;  // [B, L, V], read with W_i
  at::Tensor loss;    // [B], l_i(W_i); undefined when the mini-batch does not learn
  E2EState next;      // W_{i+1}
};

// One mini-batch of the inner loop: `piece` [B, L] read after what `cache` holds with `weights`,
// then, when `targets` [B, terms] (the next token of each of its first `terms` positions) is
// defined, the s SGD steps on its inner loss.
MiniBatchResult read_mini_batch(model::Decoder& model, const E2EConfig& config,
                                model::KVCache& cache, const E2EState& weights,
                                const at::Tensor& piece, const at::Tensor& targets,
                                bool create_graph) {
  const std::int64_t B = piece.size(0);
  const bool learns = targets.defined();
  DualMlp graft(config);
  model::ForwardOptions forward;
  forward.mlp_override = &graft;
  E2EState current = learns ? as_inputs(weights, B, create_graph) : weights;
  std::optional<model::KVCache> before;
  if (learns && config.inner_steps > 1) before = cache.clone();
  graft.bind(&current);
  MiniBatchResult out;
  out.logits = model.forward(piece, cache, forward);
  if (!learns) {
    out.next = weights;
    return out;
  }
  const std::int64_t terms = targets.size(1);
  out.loss = next_token_loss(out.logits.narrow(1, 0, terms), targets);
  at::Tensor loss = out.loss;
  for (std::int64_t step = 0; step < config.inner_steps; ++step) {
    if (step > 0) {
      model::KVCache scratch = before->clone();
      graft.bind(&current);
      loss = next_token_loss(model.forward(piece, scratch, forward).narrow(1, 0, terms), targets);
    }
    const std::vector<at::Tensor> inputs = tensors_of(current);
    const std::vector<at::Tensor> grads =
        torch::autograd::grad({loss.sum()}, inputs, {}, /*retain_graph=*/create_graph,
                              create_graph, /*allow_unused=*/true);
    std::size_t k = 0;
    current = map_weights(current, [&](const at::Tensor& w) {
      const at::Tensor& g = grads[k++];
      const at::Tensor next = g.defined() ? w - config.inner_lr * g : w;
      return create_graph ? next : next.detach();
    });
    if (step + 1 < config.inner_steps) current = as_inputs(current, B, create_graph);
    ++current.updates;
  }
  out.next = std::move(current);
  return out;
}

// What a checkpointed mini-batch needs to run again in the backward pass. Its inputs, in order:
// W_i's tensors (tensors_of order), each earlier mini-batch's keys then values (one per layer),
// then the decoder weights that require grad.
struct Segment : torch::CustomClassHolder {
  model::Decoder* model = nullptr;  // the decoder being trained: it outlives its graph's backward
  E2EConfig config;
  E2EState layout;                  // W_i's layers, without tensors
  at::Tensor piece, targets;
  std::int64_t earlier = 0;         // tokens before the mini-batch
  std::size_t kv_inputs = 0;
  std::vector<at::Tensor*> weight_slots;  // where the decoder reads its trainable weights
};

// The mini-batch from `inputs` (Segment's order) -> its inner loss [B], W_{i+1}'s tensors, then
// its own keys and values per layer (copies: a view would keep the whole buffer alive).
std::vector<at::Tensor> run_segment(const Segment& s, const std::vector<at::Tensor>& inputs,
                                    bool create_graph) {
  const std::int64_t B = s.piece.size(0), L = s.piece.size(1);
  const MathAttention attention(*s.model, create_graph);
  model::KVCache cache = s.model->make_cache(B, s.earlier + L);
  cache.set_out_of_place(create_graph);
  const std::int64_t layers = cache.num_layers();
  std::size_t k = 0;
  const E2EState weights = map_weights(s.layout, [&](const at::Tensor&) { return inputs[k++]; });
  if (s.earlier > 0) {
    for (std::int64_t l = 0; l < layers; ++l) {
      std::vector<at::Tensor> keys, values;
      for (std::size_t p = k; p < k + s.kv_inputs; p += 2 * static_cast<std::size_t>(layers)) {
        keys.push_back(inputs[p + static_cast<std::size_t>(l)]);
        values.push_back(inputs[p + static_cast<std::size_t>(layers + l)]);
      }
      cache.write(l, at::cat(keys, 2), at::cat(values, 2));
    }
    cache.advance(at::ones({B, s.earlier}, at::kBool));
  }
  const MiniBatchResult r =
      read_mini_batch(*s.model, s.config, cache, weights, s.piece, s.targets, create_graph);
  std::vector<at::Tensor> out{r.loss};
  for (const at::Tensor& t : tensors_of(r.next)) out.push_back(t);
  std::vector<at::Tensor> values;
  for (std::int64_t l = 0; l < layers; ++l) {
    auto [key, value] = cache.slots(l, s.earlier, L);
    out.push_back(key.clone());
    values.push_back(value.clone());
  }
  out.insert(out.end(), values.begin(), values.end());
  return out;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Forward: the mini-batch's values only (its inner step still takes a gradient, without a
// graph). Backward: run_segment again with create_graph, then one first-order gradient of its
// outputs, which already hold the inner step's gradient graph.
struct CheckpointedMiniBatch : torch::autograd::Function<CheckpointedMiniBatch> {
  static variable_list forward(AutogradContext* ctx, at::TensorList inputs,
                               const c10::intrusive_ptr<Segment>& segment) {
    ctx->save_for_backward(inputs.vec());
    ctx->set_materialize_grads(false);  // outputs nothing reads (the last keys) stay undefined
    ctx->saved_data["segment"] = c10::IValue::make_capsule(segment);
    std::vector<at::Tensor> values;
    for (const at::Tensor& t : inputs) values.push_back(t.detach());
    const at::AutoGradMode grad_on(true);
    variable_list out = run_segment(*segment, values, /*create_graph=*/false);
    for (at::Tensor& t : out) t = t.detach();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const variable_list saved = ctx->get_saved_variables();
    const auto segment = ctx->saved_data["segment"].toCapsule();
    const Segment& s = *static_cast<const Segment*>(segment.get());
    const std::size_t weights_first = saved.size() - s.weight_slots.size();
    // W_i must be a leaf of the recomputation whatever the caller's: its inner step takes the
    // gradient against it.
    variable_list inputs;
    for (std::size_t k = 0; k < weights_first; ++k)
      inputs.push_back(saved[k].detach().requires_grad_(k < weights_first - s.kv_inputs ||
                                                        saved[k].requires_grad()));
    for (std::size_t k = weights_first; k < saved.size(); ++k) {
      // The recomputation reads the decoder's weights where the forward read them; their
      // gradients are taken against those same tensors.
      if (!s.weight_slots[k - weights_first]->is_same(saved[k]))
        throw std::logic_error("e2e::ingest: a decoder weight was rebound between a checkpointed "
                               "forward and its backward");
      inputs.push_back(saved[k]);
    }
    variable_list outputs;
    {
      const at::AutoGradMode grad_on(true);
      const std::vector<at::Tensor> own(
          inputs.begin(), inputs.begin() + static_cast<std::ptrdiff_t>(weights_first));
      outputs = run_segment(s, own, /*create_graph=*/true);
    }
    variable_list used, grads_in;
    for (std::size_t k = 0; k < outputs.size(); ++k)
      if (grad_out[k].defined() && outputs[k].requires_grad()) {
        used.push_back(outputs[k]);
        grads_in.push_back(grad_out[k]);
      }
    variable_list wanted;
    for (std::size_t k = 0; k < inputs.size(); ++k)
      if (saved[k].requires_grad()) wanted.push_back(inputs[k]);
    const variable_list found =
        used.empty() ? variable_list(wanted.size())
                     : torch::autograd::grad(used, wanted, grads_in, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    variable_list grads;
    std::size_t next = 0;
    for (std::size_t k = 0; k < inputs.size(); ++k)
      grads.push_back(saved[k].requires_grad() ? found[next++] : at::Tensor());
    grads.emplace_back();  // the segment
    return grads;
  }
};

// One mini-batch through CheckpointedMiniBatch, reading after the keys and values in `kept_kv`
// (Segment's order), to which it appends its own.
MiniBatchResult checkpointed_mini_batch(model::Decoder& model, const E2EConfig& config,
                                        const E2EState& weights, const at::Tensor& piece,
                                        const at::Tensor& targets, std::int64_t first,
                                        const std::vector<at::Tensor*>& trainable,
                                        std::vector<at::Tensor>& kept_kv) {
  auto segment = c10::make_intrusive<Segment>();
  segment->model = &model;
  segment->config = config;
  segment->layout = map_weights(weights, [](const at::Tensor&) { return at::Tensor(); });
  segment->piece = piece;
  segment->targets = targets;
  segment->earlier = first;
  segment->kv_inputs = kept_kv.size();
  segment->weight_slots = trainable;
  std::vector<at::Tensor> inputs =
      tensors_of(as_inputs(weights, piece.size(0), /*create_graph=*/true));
  inputs.insert(inputs.end(), kept_kv.begin(), kept_kv.end());
  for (at::Tensor* slot : trainable) inputs.push_back(*slot);
  const variable_list out = CheckpointedMiniBatch::apply(at::TensorList(inputs), segment);
  MiniBatchResult step;
  step.loss = out[0];
  std::size_t k = 1;
  step.next = map_weights(weights, [&](const at::Tensor&) { return out[k++]; });
  step.next.updates = weights.updates + config.inner_steps;
  kept_kv.insert(kept_kv.end(), out.begin() + static_cast<std::ptrdiff_t>(k), out.end());
  return step;
}

}  // namespace

IngestResult ingest(model::Decoder& model, const E2EConfig& config, const E2EState& start,
                    const at::Tensor& ids_in, const IngestOptions& options) {
  // The inner steps need gradients even inside an inference run.
  const c10::InferenceMode not_inference(false);
  const at::AutoGradMode grad_on(true);
  if (ids_in.dim() != 2 || ids_in.size(1) < 1) fail("e2e::ingest: ids must be [B, N] with N >= 1");
  if (options.checkpoint && (!options.create_graph || options.keep_logits || options.keep_cache))
    fail("e2e::ingest: checkpointing is for the meta-learning path (create_graph) and keeps "
         "neither logits nor the cache");
  const at::Tensor ids = ids_in.to(model.device(), at::kLong).clone();
  const std::int64_t B = ids.size(0), N = ids.size(1), b = config.mini_batch;
  if (start.rows() != B && start.rows() != 1)
    fail("e2e::ingest: a state of " + std::to_string(start.rows()) + " rows for " +
         std::to_string(B) + " documents");
  const MathAttention attention(model, options.create_graph);
  // Made here, outside any inference mode, so that its tensors accept the loop's updates.
  // Checkpointed mini-batches build their own from the keys and values kept so far.
  std::shared_ptr<model::KVCache> cache;
  if (!options.checkpoint) {
    cache = std::make_shared<model::KVCache>(model.make_cache(B, N));
    cache->set_out_of_place(options.create_graph);
  }
  std::vector<at::Tensor> kept_kv;  // checkpointing: each mini-batch's keys, then values
  std::vector<at::Tensor*> trainable;
  if (options.checkpoint)
    for (auto& [name, slot] : model.named_weights())
      if (slot->requires_grad()) trainable.push_back(slot);

  IngestResult result;
  std::vector<at::Tensor> logits_parts;
  at::Tensor total = at::zeros(
      {}, at::TensorOptions().dtype(model::at_least_fp32(model.dtype())).device(model.device()));
  E2EState weights = start;
  for (std::int64_t first = 0; first < N; first += b) {
    const std::int64_t length = std::min(b, N - first);
    const std::int64_t terms = std::min(first + length, N - 1) - first;  // next-token pairs
    const at::Tensor piece = ids.narrow(1, first, length);
    const at::Tensor targets = terms > 0 ? ids.narrow(1, first + 1, terms) : at::Tensor();
    MiniBatchResult step;
    if (!options.checkpoint) {
      step = read_mini_batch(model, config, *cache, weights, piece, targets, options.create_graph);
    } else {
      if (terms == 0) break;  // the document's last token alone: it changes nothing kept
      step = checkpointed_mini_batch(model, config, weights, piece, targets, first, trainable,
                                     kept_kv);
    }
    if (options.keep_logits)
      logits_parts.push_back(options.create_graph ? step.logits : step.logits.detach());
    if (terms == 0) break;  // only the document's last token: nothing to learn from
    const at::Tensor loss = options.create_graph ? step.loss : step.loss.detach();
    result.inner_losses.push_back(loss);
    total = total + loss.sum() * static_cast<double>(terms);
    weights = std::move(step.next);
  }
  result.state = map_weights(weights, [&](const at::Tensor& t) {
    const at::Tensor rows = t.size(0) == B ? t : t.expand({B, -1, -1});
    return options.create_graph ? rows : rows.detach();
  });
  result.outer_loss = N > 1 ? total / static_cast<double>(B * (N - 1)) : total;
  if (options.keep_logits) result.logits = at::cat(logits_parts, 1);
  if (options.keep_cache) result.cache = std::move(cache);
  return result;
}

void DecoderMemory::add(std::int64_t row, E2EState state) {
  if (state.rows() != 1) fail("e2e::DecoderMemory: a decoder row takes a one-row state");
  states_[row] = std::move(state);
  bound_ids_.clear();
}

void DecoderMemory::erase(std::int64_t row) {
  states_.erase(row);
  bound_ids_.clear();
}

model::MlpOverride* DecoderMemory::bind(const std::vector<std::int64_t>& rows) {
  // Decode steps of one window keep the same rows: their weights are stacked once.
  if (rows != bound_ids_) {
    std::vector<const E2EState*> parts;
    for (std::int64_t row : rows) {
      const auto found = states_.find(row);
      if (found == states_.end())
        fail("e2e::DecoderMemory: row " + std::to_string(row) + " has no state");
      parts.push_back(&found->second);
    }
    bound_ = stack(parts);
    bound_ids_ = rows;
  }
  graft_.bind(&bound_);
  return &graft_;
}

}  // namespace tttmem::e2e
