// The Qwen3 family, written to follow Hugging Face transformers 4.57 (modeling_qwen3.py) op for
// op, so that its rounding in bf16 is the reference's: RMSNorm computes in fp32 and casts back
// before the weight; q_norm/k_norm act per head before RoPE; no embedding scaling; scores scaled
// by head_dim^-0.5; SwiGLU MLP; two norms per block (pre-attention, pre-MLP).
#include <cmath>

#include "family.h"

namespace tttmem::model {

std::vector<TensorSpec> qwen3_tensor_specs(const ModelConfig& c) {
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
    specs.push_back({p + "self_attn.q_norm.weight", {hd}, Init::ones});
    specs.push_back({p + "self_attn.k_norm.weight", {hd}, Init::ones});
    specs.push_back({p + "mlp.gate_proj.weight", {F, D}});
    specs.push_back({p + "mlp.up_proj.weight", {F, D}});
    specs.push_back({p + "mlp.down_proj.weight", {D, F}});
    specs.push_back({p + "input_layernorm.weight", {D}, Init::ones});
    specs.push_back({p + "post_attention_layernorm.weight", {D}, Init::ones});
  }
  specs.push_back({"model.norm.weight", {D}, Init::ones});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, D}});
  return specs;
}

namespace {

class Qwen3 final : public Family {
 public:
  Qwen3(const ModelConfig& config, const WeightLoader& load) : config_(config) {
    embed_tokens_ = load("model.embed_tokens.weight");
    for (std::int64_t i = 0; i < config.num_hidden_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      Layer layer;
      for (auto& [name, tensor] : layer.named(p)) *tensor = load(name);
      layers_.push_back(std::move(layer));
    }
    norm_ = load("model.norm.weight");
    if (!config.tie_word_embeddings) lm_head_ = load("lm_head.weight");
  }

  std::vector<at::Tensor> rope_inv_freqs() const override {
    return {rope_inv_freq(config_.rope_theta, config_.head_dim)};
  }

  at::Tensor embed(const at::Tensor& ids) const override { return at::embedding(embed_tokens_, ids); }

  at::Tensor layer(std::int64_t i, const at::Tensor& x, const LayerContext& context) const override {
    const std::int64_t B = x.size(0), L = x.size(1);
    const std::int64_t H = config_.num_attention_heads, KV = config_.num_key_value_heads;
    const std::int64_t hd = config_.head_dim;
    const double eps = config_.rms_norm_eps;
    const Layer& layer = layers_[static_cast<std::size_t>(i)];
    const at::Tensor h = rms_norm(x, layer.input_layernorm, eps);
    const at::Tensor q =
        rms_norm(at::linear(h, layer.q_proj).view({B, L, H, hd}), layer.q_norm, eps).transpose(1, 2);
    const at::Tensor k =
        rms_norm(at::linear(h, layer.k_proj).view({B, L, KV, hd}), layer.k_norm, eps).transpose(1, 2);
    const at::Tensor v = at::linear(h, layer.v_proj).view({B, L, KV, hd}).transpose(1, 2);
    const at::Tensor attn = context.attend(i, context.rope(0, q), context.rope(0, k), v,
                                           1.0 / std::sqrt(static_cast<double>(hd)));
    const at::Tensor after_attention = x + at::linear(attn, layer.o_proj);
    return after_attention +
           context.mlp(i, rms_norm(after_attention, layer.post_attention_layernorm, eps), layer.mlp);
  }

  at::Tensor final_norm(const at::Tensor& x) const override {
    return rms_norm(x, norm_, config_.rms_norm_eps);
  }
  at::Tensor logits(const at::Tensor& x) const override {
    return at::linear(x, config_.tie_word_embeddings ? embed_tokens_ : lm_head_);
  }
  const MlpWeights& mlp(std::int64_t layer) const override {
    return layers_.at(static_cast<std::size_t>(layer)).mlp;
  }

  std::vector<std::pair<std::string, at::Tensor*>> named_weights() override {
    std::vector<std::pair<std::string, at::Tensor*>> out{{"model.embed_tokens.weight", &embed_tokens_}};
    for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i)
      for (auto& named : layers_[static_cast<std::size_t>(i)].named("model.layers." + std::to_string(i) + "."))
        out.push_back(std::move(named));
    out.emplace_back("model.norm.weight", &norm_);
    if (!config_.tie_word_embeddings) out.emplace_back("lm_head.weight", &lm_head_);
    return out;
  }

 private:
  struct Layer {
    at::Tensor q_proj, k_proj, v_proj, o_proj, q_norm, k_norm;
    at::Tensor input_layernorm, post_attention_layernorm;
    MlpWeights mlp;
    // Checkpoint names under `prefix`, in qwen3_tensor_specs' order.
    std::vector<std::pair<std::string, at::Tensor*>> named(const std::string& prefix) {
      return prefix_names(prefix, {{"self_attn.q_proj.weight", &q_proj},
                                   {"self_attn.k_proj.weight", &k_proj},
                                   {"self_attn.v_proj.weight", &v_proj},
                                   {"self_attn.o_proj.weight", &o_proj},
                                   {"self_attn.q_norm.weight", &q_norm},
                                   {"self_attn.k_norm.weight", &k_norm},
                                   {"mlp.gate_proj.weight", &mlp.gate_proj},
                                   {"mlp.up_proj.weight", &mlp.up_proj},
                                   {"mlp.down_proj.weight", &mlp.down_proj},
                                   {"input_layernorm.weight", &input_layernorm},
                                   {"post_attention_layernorm.weight", &post_attention_layernorm}});
    }
  };
  ModelConfig config_;
  at::Tensor embed_tokens_, norm_, lm_head_;
  std::vector<Layer> layers_;
};

}  // namespace

std::unique_ptr<Family> make_qwen3(const ModelConfig& config, const WeightLoader& load) {
  return std::make_unique<Qwen3>(config, load);
}

}  // namespace tttmem::model
