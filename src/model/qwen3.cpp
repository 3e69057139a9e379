// The Qwen3 family, written to follow Hugging Face transformers 4.57 (modeling_qwen3.py) op for
// op, so that its rounding in bf16 is the reference's: RMSNorm computes in fp32 and casts back
// before the weight; q_norm/k_norm act per head before RoPE; no embedding scaling; scores scaled
// by head_dim^-0.5; SwiGLU MLP; two norms per block (pre-attention, pre-MLP).
#include <cmath>

#include "family.h"

namespace tttmem::model {

namespace {

// Two norms per block: before attention, before the MLP.
const Layout& layout() {
  static const Layout qwen3{{"input_layernorm", "post_attention_layernorm"}, Init::ones};
  return qwen3;
}

class Qwen3 final : public Family {
 public:
  Qwen3(const ModelConfig& config, const WeightLoader& load)
      : config_(config), layers_(static_cast<std::size_t>(config.num_hidden_layers)) {
    for (auto& [name, tensor] : named_weights()) *tensor = load(name);
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
    return layout().bind(config_, embed_tokens_, norm_, lm_head_, [this](std::int64_t i) {
      Layer& layer = layers_[static_cast<std::size_t>(i)];
      return std::pair<BlockWeights*, std::vector<at::Tensor*>>{
          &layer, {&layer.input_layernorm, &layer.post_attention_layernorm}};
    });
  }

 private:
  struct Layer : BlockWeights {
    at::Tensor input_layernorm, post_attention_layernorm;
  };
  ModelConfig config_;
  at::Tensor embed_tokens_, norm_, lm_head_;
  std::vector<Layer> layers_;
};

}  // namespace

std::vector<TensorSpec> qwen3_tensor_specs(const ModelConfig& config) {
  return layout().specs(config);
}

std::unique_ptr<Family> make_qwen3(const ModelConfig& config, const WeightLoader& load) {
  return std::make_unique<Qwen3>(config, load);
}

}  // namespace tttmem::model
