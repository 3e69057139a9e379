// The Decoder: what every model family shares, around a Family (family.h) that says what its
// embedding, layers and head compute. Positions count each row's real tokens, so left padding
// and cached prefixes give a row the logits it has alone; masks are built only when padding, a
// cached prefix or a sliding window needs one.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "family.h"
#include "tttmem/host_read.h"
#include "tttmem/io.h"
#include "tttmem/model.h"
#include "tttmem/tensor_io.h"

namespace tttmem::model {

namespace {

// The supported families, by config.json's model_type.
struct FamilyEntry {
  const char* model_type;
  std::vector<TensorSpec> (*specs)(const ModelConfig&);
  std::unique_ptr<Family> (*make)(const ModelConfig&, const WeightLoader&);
  std::vector<std::int64_t> end_of_turn;  // stop ids besides config.json's eos ids
  bool starts_with_bos;  // its Hugging Face tokenizer puts config.json's bos_token_id first
};

const std::vector<FamilyEntry>& families() {
  static const std::vector<FamilyEntry> table{
      {"qwen3", qwen3_tensor_specs, make_qwen3, {151643, 151645}, false},  // <|endoftext|>, <|im_end|>
      {"gemma3_text", gemma3_tensor_specs, make_gemma3, {106}, true},      // <end_of_turn>
  };
  return table;
}

const FamilyEntry& family_of(const ModelConfig& config) {
  for (const FamilyEntry& entry : families())
    if (config.model_type == entry.model_type) return entry;
  throw std::runtime_error("decoder: config model_type '" + config.model_type +
                           "' is not a supported family (qwen3, gemma3_text)");
}

// [-x2, x1] for x = [x1, x2] split in halves of the last dim (HF's layout, not interleaved).
at::Tensor rotate_half(const at::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
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

at::ScalarType at_least_fp32(at::ScalarType type) {
  return type == at::kDouble ? at::kDouble : at::kFloat;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor h = x.to(at_least_fp32(x.scalar_type()));
  const at::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (h * at::rsqrt(variance + eps)).to(x.scalar_type());
}

at::Tensor gate_activation(const at::Tensor& gate, Activation activation) {
  return activation == Activation::silu ? at::silu(gate) : at::gelu(gate, "tanh");
}

at::Tensor mlp_intermediate(const at::Tensor& x, const MlpWeights& weights) {
  return gate_activation(at::linear(x, weights.gate_proj), weights.activation) *
         at::linear(x, weights.up_proj);
}

at::Tensor mlp_forward(const at::Tensor& x, const MlpWeights& weights) {
  return at::linear(mlp_intermediate(x, weights), weights.down_proj);
}

// HF: inv_freq = 1 / theta^(arange(0, d, 2) / d) in fp32, made on the CPU at init.
at::Tensor rope_inv_freq(double theta, std::int64_t head_dim) {
  const at::Tensor exponent =
      at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  return at::reciprocal(at::pow(theta, exponent));
}

std::vector<TensorSpec> Layout::specs(const ModelConfig& c) const {
  const std::int64_t D = c.hidden_size, F = c.intermediate_size, hd = c.head_dim;
  const std::int64_t q_out = c.num_attention_heads * hd, kv_out = c.num_key_value_heads * hd;
  std::vector<TensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {c.vocab_size, D}});
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    specs.push_back({p + "self_attn.q_proj.weight", {q_out, D}});
    specs.push_back({p + "self_attn.k_proj.weight", {kv_out, D}});
    specs.push_back({p + "self_attn.v_proj.weight", {kv_out, D}});
    specs.push_back({p + "self_attn.o_proj.weight", {D, q_out}});
    specs.push_back({p + "self_attn.q_norm.weight", {hd}, norm_init});
    specs.push_back({p + "self_attn.k_norm.weight", {hd}, norm_init});
    specs.push_back({p + "mlp.gate_proj.weight", {F, D}});
    specs.push_back({p + "mlp.up_proj.weight", {F, D}});
    specs.push_back({p + "mlp.down_proj.weight", {D, F}});
    for (const std::string& norm : block_norms) specs.push_back({p + norm + ".weight", {D}, norm_init});
  }
  specs.push_back({"model.norm.weight", {D}, norm_init});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, D}});
  return specs;
}

std::vector<std::pair<std::string, at::Tensor*>> Layout::bind(
    const ModelConfig& c, at::Tensor& embed_tokens, at::Tensor& norm, at::Tensor& lm_head,
    const std::function<std::pair<BlockWeights*, std::vector<at::Tensor*>>(std::int64_t)>& block)
    const {
  std::vector<std::pair<std::string, at::Tensor*>> out{{"model.embed_tokens.weight", &embed_tokens}};
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    auto [weights, norms] = block(i);
    for (auto [name, tensor] : {std::pair{"self_attn.q_proj.weight", &weights->q_proj},
                                {"self_attn.k_proj.weight", &weights->k_proj},
                                {"self_attn.v_proj.weight", &weights->v_proj},
                                {"self_attn.o_proj.weight", &weights->o_proj},
                                {"self_attn.q_norm.weight", &weights->q_norm},
                                {"self_attn.k_norm.weight", &weights->k_norm},
                                {"mlp.gate_proj.weight", &weights->mlp.gate_proj},
                                {"mlp.up_proj.weight", &weights->mlp.up_proj},
                                {"mlp.down_proj.weight", &weights->mlp.down_proj}})
      out.emplace_back(p + name, tensor);
    for (std::size_t n = 0; n < block_norms.size(); ++n)
      out.emplace_back(p + block_norms[n] + ".weight", norms.at(n));
  }
  out.emplace_back("model.norm.weight", &norm);
  if (!c.tie_word_embeddings) out.emplace_back("lm_head.weight", &lm_head);
  return out;
}

std::vector<TensorSpec> tensor_specs(const ModelConfig& config) {
  return family_of(config).specs(config);
}

std::vector<std::int64_t> default_stop_ids(const ModelConfig& config) {
  std::vector<std::int64_t> ids = config.eos_token_ids;
  for (std::int64_t id : family_of(config).end_of_turn)
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

std::optional<std::int64_t> sequence_bos(const ModelConfig& config) {
  if (!family_of(config).starts_with_bos) return std::nullopt;
  if (!config.bos_token_id)
    throw std::runtime_error("decoder: a " + config.model_type +
                             " model starts its sequences with BOS, but config.json has no "
                             "bos_token_id");
  return *config.bos_token_id;
}

// ---- WeightLoader ------------------------------------------------------------------------------

WeightLoader::WeightLoader(const std::vector<TensorSpec>& specs, const io::Checkpoint& checkpoint,
                           at::Device device, at::ScalarType dtype)
    : specs_(specs), checkpoint_(checkpoint), device_(device), dtype_(dtype) {}

at::Tensor WeightLoader::operator()(const std::string& name) const {
  const auto spec = std::find_if(specs_.begin(), specs_.end(),
                                 [&](const TensorSpec& s) { return s.name == name; });
  if (spec == specs_.end()) throw std::logic_error("decoder: no tensor spec named " + name);
  const io::TensorView* view = checkpoint_.find(name);
  if (view == nullptr)
    throw std::runtime_error("checkpoint " + checkpoint_.location().string() + " lacks tensor " +
                             name + " (expected shape " + join_shape(spec->shape) + ")");
  io::expect_tensor(*view, spec->shape);
  return io::load_tensor(*view, device_, dtype_);
}

// ---- LayerContext ------------------------------------------------------------------------------

at::Tensor LayerContext::rope(std::size_t table, const at::Tensor& x) const {
  const auto& [cos, sin] = rope_.at(table);
  return x * cos + rotate_half(x) * sin;
}

// q [B, H, L, d], k/v [B, KV, T, d]; mask [B, 1, L, T] bool (true = may attend) or none
// (causal when L == T, everything when L == 1).
at::Tensor LayerContext::attend(std::int64_t layer, const at::Tensor& q, const at::Tensor& k_new,
                                const at::Tensor& v_new, double scale) const {
  at::Tensor k = k_new, v = v_new;
  if (cache_ != nullptr) std::tie(k, v) = cache_->write(layer, k_new, v_new);
  const std::optional<at::Tensor>& mask =
      windows_[static_cast<std::size_t>(layer)] > 0 ? window_mask_ : mask_;
  const std::int64_t B = q.size(0), H = q.size(1), L = q.size(2), T = k.size(2);
  at::Tensor out;
  if (attention_ == Attention::sdpa) {
    const bool is_causal = !mask && L > 1;
    out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, scale,
                                           /*enable_gqa=*/H != k.size(1));
  } else {
    // HF eager_attention_forward: repeat_kv, matmul * scale, + additive mask (dtype min),
    // softmax in fp32 cast back, matmul.
    const std::int64_t groups = H / k.size(1);
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
    weights = at::softmax(weights, -1, at_least_fp32(q.scalar_type())).to(q.scalar_type());
    out = at::matmul(weights, values);
  }
  return out.transpose(1, 2).reshape({B, L, H * q.size(3)});
}

at::Tensor LayerContext::mlp(std::int64_t layer, const at::Tensor& x,
                             const MlpWeights& weights) const {
  if (mlp_override_ && mlp_override_->handles(layer))
    return mlp_override_->forward({layer, x, embeddings_, weights, padded_, valid_, valid_host_});
  return mlp_forward(x, weights);
}

// ---- Decoder -----------------------------------------------------------------------------------

Decoder::Decoder(const ModelConfig& config, const io::Checkpoint& checkpoint, at::Device device,
                 at::ScalarType dtype, Attention attention)
    : config_(config), device_(device), dtype_(dtype), attention_(attention) {
  const FamilyEntry& entry = family_of(config);
  const std::vector<TensorSpec> specs = entry.specs(config);
  family_ = entry.make(config, WeightLoader(specs, checkpoint, device, dtype));
  for (const at::Tensor& inv_freq : family_->rope_inv_freqs()) inv_freqs_.push_back(inv_freq.to(device));
  windows_ = config.attention_windows();
}

Decoder::~Decoder() = default;
Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;

void Decoder::set_attention_window(std::int64_t tokens) {
  if (tokens <= 0)
    throw std::invalid_argument("--attention-window: expected a positive number of tokens, got " +
                                std::to_string(tokens));
  windows_.assign(static_cast<std::size_t>(config_.num_hidden_layers), tokens);
}

const MlpWeights& Decoder::mlp_weights(std::int64_t layer) const { return family_->mlp(layer); }

MlpWeights& Decoder::mlp_weights(std::int64_t layer) {
  return const_cast<MlpWeights&>(family_->mlp(layer));
}

std::vector<std::pair<std::string, at::Tensor*>> Decoder::named_weights() {
  return family_->named_weights();
}

KVCache Decoder::make_cache(std::int64_t batch, std::int64_t capacity) const {
  return KVCache(config_.num_hidden_layers, batch, config_.num_key_value_heads, capacity,
                 config_.head_dim, dtype_, device_);
}

at::Tensor Decoder::forward(const at::Tensor& ids_in, KVCache& cache,
                            const ForwardOptions& options) {
  if (ids_in.dim() != 2) throw std::invalid_argument("Decoder::forward: ids must be [B, L]");
  // Uploads from the host are asynchronous: a blocking copy would wait for the device's queue.
  const at::Tensor ids = ids_in.to(device_, at::kLong, /*non_blocking=*/true);
  const std::int64_t B = ids.size(0), L = ids.size(1), past = cache.length();
  const std::int64_t D = config_.hidden_size;
  if (cache.batch() != B)
    throw std::invalid_argument("Decoder::forward: ids have batch " + std::to_string(B) +
                                ", the KV cache " + std::to_string(cache.batch()));
  if (L == 0) throw std::invalid_argument("Decoder::forward: ids have no tokens");
  // Ids from the host are range-checked there, before upload; ids already on the device (the
  // model's own argmax, in range by construction) are not read back.
  if (ids_in.is_cpu()) {
    const auto [lo, hi] = at::aminmax(ids_in);
    const std::int64_t min_id = lo.item<std::int64_t>(), max_id = hi.item<std::int64_t>();  // host tensor
    if (min_id < 0 || max_id >= config_.vocab_size)
      throw std::invalid_argument("Decoder::forward: token id " +
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
    throw std::invalid_argument("Decoder::forward: attention_mask is " +
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
  LayerContext context;
  if (padded || (past > 0 && L > 1) || windowed) {
    const at::Tensor key_valid =
        at::cat({cache.valid().narrow(1, 0, past), new_valid}, 1);  // [B, T]
    const at::Tensor q_index = at::arange(past, T, ids.options()).unsqueeze(1);
    const at::Tensor k_index = at::arange(T, ids.options()).unsqueeze(0);
    const at::Tensor causal = k_index.le(q_index).unsqueeze(0) & key_valid.unsqueeze(1);
    // A padding query sees at least itself, so its softmax row stays finite.
    const at::Tensor self = k_index.eq(q_index).unsqueeze(0);
    if (padded || (past > 0 && L > 1)) context.mask_ = (causal | self).unsqueeze(1);  // [B, 1, L, T]
    if (windowed) {
      // transformers: kv_idx > q_idx - sliding_window, in slot indices; here in the row's
      // positions (a real slot's position is the count of real slots before it), which are
      // the slot indices of an unpadded row and make padding invisible to the window.
      const at::Tensor key_positions = key_valid.to(at::kLong).cumsum(1) - 1;  // [B, T]
      const at::Tensor near = key_positions.unsqueeze(1).gt(positions.unsqueeze(2) - window);
      context.window_mask_ = ((causal & near) | self).unsqueeze(1);
    }
  }
  if (!windowed) context.window_mask_ = context.mask_;

  // RoPE tables, [B, 1, L, hd]: angles in fp32, cos/sin cast to the activation dtype.
  for (const at::Tensor& inv_freq : inv_freqs_) {
    const at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;
    const at::Tensor emb = at::cat({angles, angles}, -1);
    context.rope_.emplace_back(emb.cos().to(dtype_).unsqueeze(1), emb.sin().to(dtype_).unsqueeze(1));
  }

  at::Tensor x = family_->embed(ids);
  if (options.hidden_states) options.hidden_states->assign({x});
  if (options.layer_hook && past > 0)
    throw std::invalid_argument("Decoder::forward: a layer hook needs an empty KV cache");
  context.attention_ = attention_;
  context.windows_ = windows_;
  context.embeddings_ = x;
  context.padded_ = padded;
  if (masked_input) {
    context.valid_ = new_valid;
    context.valid_host_ = new_valid_host;
  }
  context.mlp_override_ = options.mlp_override;

  LayerContext cached = context;
  cached.cache_ = &cache;
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    if (options.layer_hook) {
      // By value: the hook may run the body again after this call returned.
      x = options.layer_hook->run(i, x, [family = family_.get(), i, context](const at::Tensor& in) {
        return family->layer(i, in, context);
      });
    } else {
      x = family_->layer(i, x, cached);
    }
    if (options.hidden_states && i + 1 < config_.num_hidden_layers)
      options.hidden_states->push_back(x);
  }
  cache.advance(new_valid_host);
  x = family_->final_norm(x);
  if (options.hidden_states) options.hidden_states->push_back(x);

  if (options.last_logits_only) {
    // Each row's last real new token (a row without one uses position 0).
    const at::Tensor last =
        (at::arange(L, ids.options()).unsqueeze(0) * new_valid.to(at::kLong)).amax(1);
    x = x.gather(1, last.view({B, 1, 1}).expand({B, 1, D}));
  }
  return family_->logits(x);
}

at::Tensor Decoder::forward(const at::Tensor& ids, const ForwardOptions& options) {
  KVCache cache = make_cache(ids.size(0), ids.size(1));
  return forward(ids, cache, options);
}

}  // namespace tttmem::model
