// The Gemma3 text family, written to follow Hugging Face transformers 4.57 (modeling_gemma3.py,
// Gemma3ForCausalLM) op for op. What sets it apart from Qwen3:
// - RMSNorm multiplies by (1 + w) in fp32 and casts back after (Qwen casts before the weight);
// - embeddings times sqrt(hidden_size), the factor cast to the weight dtype (34.0 in bf16 for
//   the 1B's 1152);
// - four norms per block: the attention and MLP outputs are normed before their residual adds;
// - scores scaled by query_pre_attn_scalar^-0.5 (never soft-capped: transformers' Gemma3
//   ignores attn_logit_softcapping, so the config reader refuses it);
// - sliding-window layers and full layers by layer_types, each kind with its own RoPE base
//   (rope_local_base_freq; rope_theta with an optional linear scaling);
// - GeGLU MLP (tanh GELU); lm_head tied to the embeddings; final logits soft-capped when set.
#include <cmath>

#include "family.h"

namespace tttmem::model {

namespace {

// Four norms per block: around attention and around the MLP; (1 + w) norms start at zero.
const Layout& layout() {
  static const Layout gemma3{{"input_layernorm", "post_attention_layernorm",
                              "pre_feedforward_layernorm", "post_feedforward_layernorm"},
                             Init::zeros};
  return gemma3;
}

// Gemma3RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w), all in fp32, cast back at the end.
at::Tensor gemma_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor h = x.to(at_least_fp32(x.scalar_type()));
  const at::Tensor normed = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (normed * (weight.to(h.scalar_type()) + 1.0)).to(x.scalar_type());
}

at::Tensor soft_cap(const at::Tensor& x, double cap) { return at::tanh(x / cap) * cap; }

constexpr std::size_t kGlobalRope = 0, kLocalRope = 1;  // rope_inv_freqs' order

class Gemma3 final : public Family {
 public:
  Gemma3(const ModelConfig& config, const WeightLoader& load)
      : config_(config), layers_(static_cast<std::size_t>(config.num_hidden_layers)) {
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i].mlp.activation = Activation::gelu_tanh;
      layers_[i].sliding = config.layer_types.at(i) == "sliding_attention";
    }
    for (auto& [name, tensor] : named_weights()) *tensor = load(name);
    // Gemma3TextScaledWordEmbedding: the fp32 factor cast to the weight's dtype.
    embed_scale_ = at::scalar_tensor(std::sqrt(static_cast<double>(config.hidden_size)), at::kFloat)
                       .to(embed_tokens_.scalar_type())
                       .to(embed_tokens_.device());
  }

  std::vector<at::Tensor> rope_inv_freqs() const override {
    return {rope_inv_freq(config_.rope_theta, config_.head_dim) / config_.rope_linear_factor,
            rope_inv_freq(config_.rope_local_base_freq, config_.head_dim)};
  }

  at::Tensor embed(const at::Tensor& ids) const override {
    return at::embedding(embed_tokens_, ids) * embed_scale_;
  }

  at::Tensor layer(std::int64_t i, const at::Tensor& x, const LayerContext& context) const override {
    const std::int64_t B = x.size(0), L = x.size(1);
    const std::int64_t H = config_.num_attention_heads, KV = config_.num_key_value_heads;
    const std::int64_t hd = config_.head_dim;
    const double eps = config_.rms_norm_eps;
    const Layer& layer = layers_[static_cast<std::size_t>(i)];
    const at::Tensor h = gemma_norm(x, layer.input_layernorm, eps);
    const at::Tensor q = gemma_norm(at::linear(h, layer.q_proj).view({B, L, H, hd}).transpose(1, 2),
                                    layer.q_norm, eps);
    const at::Tensor k = gemma_norm(at::linear(h, layer.k_proj).view({B, L, KV, hd}).transpose(1, 2),
                                    layer.k_norm, eps);
    const at::Tensor v = at::linear(h, layer.v_proj).view({B, L, KV, hd}).transpose(1, 2);
    const std::size_t table = layer.sliding ? kLocalRope : kGlobalRope;
    const at::Tensor attn =
        context.attend(i, context.rope(table, q), context.rope(table, k), v,
                       1.0 / std::sqrt(config_.query_pre_attn_scalar));
    const at::Tensor after_attention =
        x + gemma_norm(at::linear(attn, layer.o_proj), layer.post_attention_layernorm, eps);
    const at::Tensor mlp =
        context.mlp(i, gemma_norm(after_attention, layer.pre_feedforward_layernorm, eps), layer.mlp);
    return after_attention + gemma_norm(mlp, layer.post_feedforward_layernorm, eps);
  }

  at::Tensor final_norm(const at::Tensor& x) const override {
    return gemma_norm(x, norm_, config_.rms_norm_eps);
  }
  at::Tensor logits(const at::Tensor& x) const override {
    const at::Tensor logits = at::linear(x, config_.tie_word_embeddings ? embed_tokens_ : lm_head_);
    return config_.final_logit_softcapping ? soft_cap(logits, *config_.final_logit_softcapping)
                                           : logits;
  }
  const MlpWeights& mlp(std::int64_t layer) const override {
    return layers_.at(static_cast<std::size_t>(layer)).mlp;
  }

  std::vector<std::pair<std::string, at::Tensor*>> named_weights() override {
    return layout().bind(config_, embed_tokens_, norm_, lm_head_, [this](std::int64_t i) {
      Layer& layer = layers_[static_cast<std::size_t>(i)];
      return std::pair<BlockWeights*, std::vector<at::Tensor*>>{
          &layer,
          {&layer.input_layernorm, &layer.post_attention_layernorm,
           &layer.pre_feedforward_layernorm, &layer.post_feedforward_layernorm}};
    });
  }

 private:
  struct Layer : BlockWeights {
    at::Tensor input_layernorm, post_attention_layernorm, pre_feedforward_layernorm,
        post_feedforward_layernorm;
    bool sliding = false;  // config.json's layer type (an --attention-window leaves it be)
  };
  ModelConfig config_;
  at::Tensor embed_tokens_, norm_, lm_head_, embed_scale_;
  std::vector<Layer> layers_;
};

}  // namespace

std::vector<TensorSpec> gemma3_tensor_specs(const ModelConfig& config) {
  return layout().specs(config);
}

std::unique_ptr<Family> make_gemma3(const ModelConfig& config, const WeightLoader& load) {
  return std::make_unique<Gemma3>(config, load);
}

}  // namespace tttmem::model
