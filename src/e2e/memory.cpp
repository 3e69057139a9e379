// e2e: the dual MLP, the inner loop (SGD on the dynamic MLPs, one step per mini-batch, through
// libtorch autograd) and the per-row memory the batch decoder reads (SPEC.md "e2e").
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

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
  const at::Tensor h = (act == model::Activation::silu ? at::silu(gate) : at::gelu(gate, "tanh")) * up;
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

IngestResult ingest(model::Decoder& model, const E2EConfig& config, const E2EState& start,
                    const at::Tensor& ids_in, const IngestOptions& options) {
  // The inner steps need gradients even inside an inference run.
  const c10::InferenceMode not_inference(false);
  const at::AutoGradMode grad_on(true);
  if (ids_in.dim() != 2 || ids_in.size(1) < 1) fail("e2e::ingest: ids must be [B, N] with N >= 1");
  const at::Tensor ids = ids_in.to(model.device(), at::kLong).clone();
  const std::int64_t B = ids.size(0), N = ids.size(1), b = config.mini_batch;
  if (start.rows() != B && start.rows() != 1)
    fail("e2e::ingest: a state of " + std::to_string(start.rows()) + " rows for " +
         std::to_string(B) + " documents");
  // torch has no second derivative of the fused attention kernels: meta-learning reads with the
  // math attention (HF eager), restored on the way out.
  struct AttentionScope {
    model::Decoder& model;
    model::Attention saved;
    ~AttentionScope() { model.set_attention(saved); }
  } attention{model, model.attention()};
  if (options.create_graph) model.set_attention(model::Attention::math);
  // Made here, outside any inference mode, so that its tensors accept the loop's updates.
  auto cache = std::make_shared<model::KVCache>(model.make_cache(B, N));
  cache->set_out_of_place(options.create_graph);
  DualMlp graft(config);
  model::ForwardOptions forward;
  forward.mlp_override = &graft;
  // Each step's weights are the tensors the gradient is taken against: plain leaves without
  // create_graph; with it, the previous step's outputs (leaves only where nothing upstream
  // requires grad).
  auto as_inputs = [&](const E2EState& state) {
    return map_weights(state, [&](const at::Tensor& t) {
      const at::Tensor rows = t.size(0) == B ? t : t.expand({B, -1, -1});
      if (options.create_graph && rows.requires_grad()) return rows;
      return rows.detach().requires_grad_(true);
    });
  };

  IngestResult result;
  std::vector<at::Tensor> logits_parts;
  at::Tensor total = at::zeros({}, at::TensorOptions().dtype(model::at_least_fp32(model.dtype())).device(model.device()));
  E2EState weights = start;
  for (std::int64_t first = 0; first < N; first += b) {
    const std::int64_t length = std::min(b, N - first);
    const std::int64_t terms = std::min(first + length, N - 1) - first;  // next-token pairs
    const at::Tensor piece = ids.narrow(1, first, length);
    E2EState current = terms > 0 ? as_inputs(weights) : weights;
    std::optional<model::KVCache> before;
    if (terms > 0 && config.inner_steps > 1) before = cache->clone();
    graft.bind(&current);
    const at::Tensor logits = model.forward(piece, *cache, forward);
    if (options.keep_logits) logits_parts.push_back(options.create_graph ? logits : logits.detach());
    if (terms == 0) break;  // only the document's last token: nothing to learn from
    const at::Tensor targets = ids.narrow(1, first + 1, terms);
    at::Tensor loss = next_token_loss(logits.narrow(1, 0, terms), targets);
    result.inner_losses.push_back(options.create_graph ? loss : loss.detach());
    total = total + (options.create_graph ? loss : loss.detach()).sum() * static_cast<double>(terms);
    for (std::int64_t step = 0; step < config.inner_steps; ++step) {
      if (step > 0) {
        model::KVCache scratch = before->clone();
        graft.bind(&current);
        loss = next_token_loss(model.forward(piece, scratch, forward).narrow(1, 0, terms), targets);
      }
      const std::vector<at::Tensor> inputs = tensors_of(current);
      const std::vector<at::Tensor> grads =
          torch::autograd::grad({loss.sum()}, inputs, {}, /*retain_graph=*/options.create_graph,
                                options.create_graph, /*allow_unused=*/true);
      std::size_t k = 0;
      current = map_weights(current, [&](const at::Tensor& w) {
        const at::Tensor& g = grads[k++];
        const at::Tensor next = g.defined() ? w - config.inner_lr * g : w;
        return options.create_graph ? next : next.detach();
      });
      if (step + 1 < config.inner_steps) current = as_inputs(current);
      ++current.updates;
    }
    weights = std::move(current);
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
