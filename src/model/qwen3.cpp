// The Qwen3 decoder, written to follow Hugging Face transformers 4.57 (modeling_qwen3.py) op for
// op, so that its rounding in bf16 is the reference's: RMSNorm computes in fp32 and casts back
// before the weight; q_norm/k_norm act per head before RoPE; cos/sin are made in fp32 and cast
// to the activation dtype; no embedding scaling. Only the attention kernel may differ (SDPA).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "tttmem/host_read.h"
#include "tttmem/io.h"
#include "tttmem/model.h"
#include "tttmem/tensor_io.h"

namespace tttmem::model {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor h = x.to(at::kFloat);
  const at::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (h * at::rsqrt(variance + eps)).to(x.scalar_type());
}

at::Tensor mlp_forward(const at::Tensor& x, const MlpWeights& weights) {
  return at::linear(at::silu(at::linear(x, weights.gate_proj)) * at::linear(x, weights.up_proj),
                    weights.down_proj);
}

namespace {

// [-x2, x1] for x = [x1, x2] split in halves of the last dim (Qwen's layout, not interleaved).
at::Tensor rotate_half(const at::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// HF: inv_freq = 1 / theta^(arange(0, d, 2) / d) in fp32, made on the CPU at init.
at::Tensor rope_inv_freq(double theta, std::int64_t head_dim) {
  const at::Tensor exponent =
      at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  return at::reciprocal(at::pow(theta, exponent));
}

// torch.finfo(dtype).min: HF's additive mask value.
at::Scalar lowest(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return std::numeric_limits<float>::lowest();
    case at::kDouble: return std::numeric_limits<double>::lowest();
    case at::kBFloat16: return std::numeric_limits<c10::BFloat16>::lowest();
    case at::kHalf: return std::numeric_limits<c10::Half>::lowest();
    default: throw std::invalid_argument("attention: unsupported activation dtype");
  }
}

std::string join_shape(at::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

}  // namespace

Qwen3Model::Qwen3Model(const ModelConfig& config, const io::Checkpoint& checkpoint,
                       at::Device device, at::ScalarType dtype, Attention attention)
    : config_(config), device_(device), dtype_(dtype), attention_(attention) {
  if (config.model_type != "qwen3")
    throw std::runtime_error("Qwen3Model: config model_type is '" + config.model_type +
                             "', expected 'qwen3'");
  std::map<std::string, TensorSpec> specs;
  for (TensorSpec& spec : qwen3_tensor_specs(config)) specs.emplace(spec.name, std::move(spec));
  auto load = [&](const std::string& name) {
    const TensorSpec& spec = specs.at(name);
    const io::TensorView* view = checkpoint.find(name);
    if (view == nullptr) {
      throw std::runtime_error("checkpoint " + checkpoint.location().string() +
                               " lacks tensor " + name + " (expected shape " +
                               join_shape(spec.shape) + ")");
    }
    io::expect_tensor(*view, spec.shape);
    return io::load_tensor(*view, device, dtype);
  };
  embed_tokens_ = load("model.embed_tokens.weight");
  for (std::int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer layer;
    layer.q_proj = load(p + "self_attn.q_proj.weight");
    layer.k_proj = load(p + "self_attn.k_proj.weight");
    layer.v_proj = load(p + "self_attn.v_proj.weight");
    layer.o_proj = load(p + "self_attn.o_proj.weight");
    layer.q_norm = load(p + "self_attn.q_norm.weight");
    layer.k_norm = load(p + "self_attn.k_norm.weight");
    layer.mlp = {load(p + "mlp.gate_proj.weight"), load(p + "mlp.up_proj.weight"),
                 load(p + "mlp.down_proj.weight")};
    layer.input_layernorm = load(p + "input_layernorm.weight");
    layer.post_attention_layernorm = load(p + "post_attention_layernorm.weight");
    layers_.push_back(std::move(layer));
  }
  norm_ = load("model.norm.weight");
  if (!config.tie_word_embeddings) lm_head_ = load("lm_head.weight");
  inv_freq_ = rope_inv_freq(config.rope_theta, config.head_dim).to(device);
  windows_ = config.attention_windows();
}

void Qwen3Model::set_attention_window(std::int64_t tokens) {
  if (tokens <= 0)
    throw std::invalid_argument("--attention-window: expected a positive number of tokens, got " +
                                std::to_string(tokens));
  windows_.assign(static_cast<std::size_t>(config_.num_hidden_layers), tokens);
}

const MlpWeights& Qwen3Model::mlp_weights(std::int64_t layer) const {
  return layers_.at(static_cast<std::size_t>(layer)).mlp;
}

MlpWeights& Qwen3Model::mlp_weights(std::int64_t layer) {
  return layers_.at(static_cast<std::size_t>(layer)).mlp;
}

std::vector<std::pair<std::string, at::Tensor*>> Qwen3Model::named_weights() {
  std::vector<std::pair<std::string, at::Tensor*>> out{{"model.embed_tokens.weight", &embed_tokens_}};
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer& layer = layers_[static_cast<std::size_t>(i)];
    for (auto [name, tensor] : {std::pair{"self_attn.q_proj.weight", &layer.q_proj},
                                {"self_attn.k_proj.weight", &layer.k_proj},
                                {"self_attn.v_proj.weight", &layer.v_proj},
                                {"self_attn.o_proj.weight", &layer.o_proj},
                                {"self_attn.q_norm.weight", &layer.q_norm},
                                {"self_attn.k_norm.weight", &layer.k_norm},
                                {"mlp.gate_proj.weight", &layer.mlp.gate_proj},
                                {"mlp.up_proj.weight", &layer.mlp.up_proj},
                                {"mlp.down_proj.weight", &layer.mlp.down_proj},
                                {"input_layernorm.weight", &layer.input_layernorm},
                                {"post_attention_layernorm.weight", &layer.post_attention_layernorm}})
      out.emplace_back(p + name, tensor);
  }
  out.emplace_back("model.norm.weight", &norm_);
  if (!config_.tie_word_embeddings) out.emplace_back("lm_head.weight", &lm_head_);
  return out;
}

KVCache Qwen3Model::make_cache(std::int64_t batch, std::int64_t capacity) const {
  return KVCache(config_.num_hidden_layers, batch, config_.num_key_value_heads, capacity,
                 config_.head_dim, dtype_, device_);
}

// q [B, H, L, d], k/v [B, KV, T, d]; mask [B, 1, L, T] bool (true = may attend) or none
// (causal when L == T, everything when L == 1).
at::Tensor Qwen3Model::attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const std::optional<at::Tensor>& mask) const {
  const double scale = 1.0 / std::sqrt(static_cast<double>(config_.head_dim));
  const std::int64_t L = q.size(2), T = k.size(2);
  if (attention_ == Attention::sdpa) {
    const bool is_causal = !mask && L > 1;
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, scale,
                                            /*enable_gqa=*/q.size(1) != k.size(1));
  }
  // HF eager_attention_forward: repeat_kv, matmul * scale, + additive mask (dtype min),
  // softmax in fp32 cast back, matmul.
  const std::int64_t groups = q.size(1) / k.size(1);
  const at::Tensor keys = groups == 1 ? k : k.repeat_interleave(groups, 1);
  const at::Tensor values = groups == 1 ? v : v.repeat_interleave(groups, 1);
  at::Tensor weights = at::matmul(q, keys.transpose(2, 3)) * scale;
  at::Tensor allowed;
  if (mask) {
    allowed = *mask;
  } else if (L > 1) {
    allowed = at::ones({L, T}, q.options().dtype(at::kBool)).tril(T - L);
  }
  if (allowed.defined()) {
    const at::Tensor additive = at::zeros(allowed.sizes(), q.options())
                                    .masked_fill(allowed.logical_not(), lowest(q.scalar_type()));
    weights = weights + additive;
  }
  weights = at::softmax(weights, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(weights, values);
}

at::Tensor Qwen3Model::layer_forward(std::int64_t i, const at::Tensor& x_in,
                                     const LayerInputs& in, KVCache* cache) const {
  const std::int64_t B = x_in.size(0), L = x_in.size(1);
  const std::int64_t H = config_.num_attention_heads, KV = config_.num_key_value_heads;
  const std::int64_t hd = config_.head_dim;
  const double eps = config_.rms_norm_eps;
  const Layer& layer = layers_[static_cast<std::size_t>(i)];
  const at::Tensor h = rms_norm(x_in, layer.input_layernorm, eps);
  at::Tensor q = rms_norm(at::linear(h, layer.q_proj).view({B, L, H, hd}), layer.q_norm, eps)
                     .transpose(1, 2);
  at::Tensor k = rms_norm(at::linear(h, layer.k_proj).view({B, L, KV, hd}), layer.k_norm, eps)
                     .transpose(1, 2);
  const at::Tensor v = at::linear(h, layer.v_proj).view({B, L, KV, hd}).transpose(1, 2);
  q = q * in.cos + rotate_half(q) * in.sin;
  k = k * in.cos + rotate_half(k) * in.sin;
  at::Tensor keys = k, values = v;
  if (cache != nullptr) std::tie(keys, values) = cache->write(i, k, v);
  const std::optional<at::Tensor>& mask =
      windows_[static_cast<std::size_t>(i)] > 0 ? in.window_mask : in.mask;
  const at::Tensor attn = attend(q, keys, values, mask).transpose(1, 2).reshape({B, L, H * hd});
  const at::Tensor x = x_in + at::linear(attn, layer.o_proj);

  const at::Tensor post = rms_norm(x, layer.post_attention_layernorm, eps);
  if (in.mlp_override && in.mlp_override->handles(i)) {
    const MlpContext context{i, post, in.embeddings, layer.mlp, in.padded, in.valid,
                             in.valid_host};
    return x + in.mlp_override->forward(context);
  }
  return x + mlp_forward(post, layer.mlp);
}

at::Tensor Qwen3Model::forward(const at::Tensor& ids_in, KVCache& cache,
                               const ForwardOptions& options) {
  if (ids_in.dim() != 2) throw std::invalid_argument("Qwen3Model::forward: ids must be [B, L]");
  // Uploads from the host are asynchronous: a blocking copy would wait for the device's queue.
  const at::Tensor ids = ids_in.to(device_, at::kLong, /*non_blocking=*/true);
  const std::int64_t B = ids.size(0), L = ids.size(1), past = cache.length();
  const std::int64_t D = config_.hidden_size;
  if (cache.batch() != B)
    throw std::invalid_argument("Qwen3Model::forward: ids have batch " + std::to_string(B) +
                                ", the KV cache " + std::to_string(cache.batch()));
  if (L == 0) throw std::invalid_argument("Qwen3Model::forward: ids have no tokens");
  // Ids from the host are range-checked there, before upload; ids already on the device (the
  // model's own argmax, in range by construction) are not read back.
  if (ids_in.is_cpu()) {
    const auto [lo, hi] = at::aminmax(ids_in);
    const std::int64_t min_id = lo.item<std::int64_t>(), max_id = hi.item<std::int64_t>();  // host tensor
    if (min_id < 0 || max_id >= config_.vocab_size)
      throw std::invalid_argument("Qwen3Model::forward: token id " +
                                  std::to_string(min_id < 0 ? min_id : max_id) +
                                  " outside the vocabulary [0, " +
                                  std::to_string(config_.vocab_size) + ")");
  }

  // Padding: each token's position is the count of real tokens before it in its row; a mask
  // is needed whenever some attended slot is padding or new tokens follow cached ones.
  // The mask's host copy serves every decision (padding, the KV cache's bookkeeping, the TTT
  // rows), so none reads the device; a mask given on the device is read once.
  const bool masked_input = options.attention_mask.defined();
  const at::Tensor new_valid_host =
      masked_input ? (options.attention_mask.is_cpu() ? options.attention_mask
                                                      : to_host(options.attention_mask))
                         .ne(0)
                   : at::ones({B, L}, at::TensorOptions().dtype(at::kBool));
  if (new_valid_host.sizes() != ids.sizes())
    throw std::invalid_argument("Qwen3Model::forward: attention_mask is " +
                                join_shape(new_valid_host.sizes()) + ", ids " +
                                join_shape(ids.sizes()));
  const at::Tensor new_valid =
      masked_input ? new_valid_host.to(device_, /*non_blocking=*/true)
                   : at::ones({B, L}, ids.options().dtype(at::kBool));
  const at::Tensor positions =
      (cache.real_counts().unsqueeze(1) + new_valid.to(at::kLong).cumsum(1) - 1).clamp_min(0);
  const bool padded = cache.has_padding() ||
                      (masked_input && !new_valid_host.all().item<bool>());  // host tensor
  // Sliding windows: one size for all sliding layers (config.json has one sliding_window, the
  // flag sets every layer). Within a window of at least past + L slots nothing is out of reach,
  // so those layers share the causal mask.
  const std::int64_t T = past + L;
  const std::int64_t window = *std::max_element(windows_.begin(), windows_.end());
  const bool windowed = window > 0 && T > window;
  std::optional<at::Tensor> mask, window_mask;
  if (padded || (past > 0 && L > 1) || windowed) {
    const at::Tensor key_valid =
        at::cat({cache.valid().narrow(1, 0, past), new_valid}, 1);  // [B, T]
    const at::Tensor q_index = at::arange(past, T, ids.options()).unsqueeze(1);
    const at::Tensor k_index = at::arange(T, ids.options()).unsqueeze(0);
    const at::Tensor causal = k_index.le(q_index).unsqueeze(0) & key_valid.unsqueeze(1);
    // A padding query sees at least itself, so its softmax row stays finite.
    const at::Tensor self = k_index.eq(q_index).unsqueeze(0);
    if (padded || (past > 0 && L > 1)) mask = (causal | self).unsqueeze(1);  // [B, 1, L, T]
    if (windowed) {
      // transformers: kv_idx > q_idx - sliding_window, in slot indices; here in the row's
      // positions (a real slot's position is the count of real slots before it), which are
      // the slot indices of an unpadded row and make padding invisible to the window.
      const at::Tensor key_positions = key_valid.to(at::kLong).cumsum(1) - 1;  // [B, T]
      const at::Tensor near = key_positions.unsqueeze(1).gt(positions.unsqueeze(2) - window);
      window_mask = ((causal & near) | self).unsqueeze(1);
    }
  }
  if (!windowed) window_mask = mask;

  // RoPE tables, [B, 1, L, hd]: angles in fp32, cos/sin cast to the activation dtype.
  const at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inv_freq_;
  const at::Tensor emb = at::cat({angles, angles}, -1);
  const at::Tensor cos = emb.cos().to(dtype_).unsqueeze(1);
  const at::Tensor sin = emb.sin().to(dtype_).unsqueeze(1);

  const at::Tensor embeddings = at::embedding(embed_tokens_, ids);
  at::Tensor x = embeddings;
  if (options.hidden_states) options.hidden_states->assign({x});
  if (options.layer_hook && past > 0)
    throw std::invalid_argument("Qwen3Model::forward: a layer hook needs an empty KV cache");
  const LayerInputs inputs{cos,
                           sin,
                           embeddings,
                           mask,
                           window_mask,
                           padded,
                           masked_input ? new_valid : at::Tensor(),
                           masked_input ? new_valid_host : at::Tensor(),
                           options.mlp_override};

  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    if (options.layer_hook) {
      // By value: the hook may run the body again after this call returned.
      x = options.layer_hook->run(i, x, [this, i, inputs](const at::Tensor& in) {
        return layer_forward(i, in, inputs, nullptr);
      });
    } else {
      x = layer_forward(i, x, inputs, &cache);
    }
    if (options.hidden_states && i + 1 < config_.num_hidden_layers)
      options.hidden_states->push_back(x);
  }
  cache.advance(new_valid_host);
  x = rms_norm(x, norm_, config_.rms_norm_eps);
  if (options.hidden_states) options.hidden_states->push_back(x);

  if (options.last_logits_only) {
    // Each row's last real new token (a row without one uses position 0).
    const at::Tensor last =
        (at::arange(L, ids.options()).unsqueeze(0) * new_valid.to(at::kLong)).amax(1);
    x = x.gather(1, last.view({B, 1, 1}).expand({B, 1, D}));
  }
  return at::linear(x, config_.tie_word_embeddings ? embed_tokens_ : lm_head_);
}

at::Tensor Qwen3Model::forward(const at::Tensor& ids, const ForwardOptions& options) {
  KVCache cache = make_cache(ids.size(0), ids.size(1));
  return forward(ids, cache, options);
}

}  // namespace tttmem::model
