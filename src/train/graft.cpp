// train: the TTT MLP's training forms (SPEC.md `train`): the spec's parallel prefix sum
// (ttt::parallel_forward) and the low-rank form, which never builds a D x F weight.
#include <ATen/ATen.h>

#include <stdexcept>

#include "forms.h"
#include "tttmem/train.h"

namespace tttmem::train {

at::Tensor ttt_values(const ttt::TTTConfig& config, const ttt::LayerParams& params,
                      const at::Tensor& target) {
  const std::int64_t l = target.size(1), c = config.chunk;
  const std::int64_t pad = (c - l % c) % c;
  // The conv sees each chunk with zero rows beyond the stream's end, as the padded form does.
  const at::Tensor padded = pad == 0 ? target : at::constant_pad_nd(target, {0, 0, 0, pad});
  const at::Tensor tc = ttt::chunk_conv(padded, params.conv, c).narrow(1, 0, l);
  return params.proj.defined() ? at::matmul(tc, params.proj) : tc;  // V = Tc Wp
}

// O = Z W0^T + lr * sum over earlier chunks j of (Z_k Z_j^T) V_j: W_k = W0 + lr sum_j V_j^T Z_j
// (spec 3.4-3.5) multiplied out, so only [L, L] scores and [L, D] values exist.
at::Tensor low_rank_output(const ttt::TTTConfig& config, const at::Tensor& z, const at::Tensor& v,
                           const at::Tensor& w0) {
  const std::int64_t l = z.size(1);
  const at::Tensor chunk_of = at::arange(l, z.options().dtype(at::kLong)).div(config.chunk, "floor");
  const at::Tensor earlier = chunk_of.unsqueeze(0).lt(chunk_of.unsqueeze(1));  // [p, q]: q's chunk < p's
  const at::Tensor scores = at::matmul(z, z.transpose(1, 2)).masked_fill(earlier.logical_not(), 0);
  return at::linear(z, w0) + at::matmul(scores, v) * config.lr;
}

bool low_rank_is_cheaper(std::int64_t l, const model::MlpWeights& weights) {
  const std::int64_t d = weights.down_proj.size(0), f = weights.down_proj.size(1);
  // multiply-adds: parallel ~ 2 L D F (every dW, every O_k), low-rank ~ L^2 (F + D) + L D F
  return l * (f + d) < d * f;
}

TttForm resolve_form(TttForm form, std::int64_t l, const model::MlpWeights& weights) {
  if (form != TttForm::automatic) return form;
  return low_rank_is_cheaper(l, weights) ? TttForm::low_rank : TttForm::parallel;
}

at::Tensor ttt_training_mlp(const ttt::TTTConfig& config, const ttt::LayerParams& params,
                            const model::MlpWeights& weights, const at::Tensor& x,
                            const at::Tensor& target, TttForm form) {
  if (resolve_form(form, x.size(1), weights) == TttForm::low_rank)
    return low_rank_output(config, model::mlp_intermediate(x, weights),
                           ttt_values(config, params, target), weights.down_proj);
  // The training form computes in the model dtype whatever the inference precision mode says.
  ttt::TTTConfig upstream = config;
  upstream.precision = ttt::Precision::upstream;
  return ttt::parallel_forward(upstream, params, weights, x, target, /*flush_partial=*/false).out;
}

at::Tensor TrainingGraft::forward(const model::MlpContext& context) {
  const at::Tensor& target =
      config_.target == ttt::Target::input_embed ? context.embeddings : context.x;
  return ttt_training_mlp(config_, params_.at(context.layer), context.weights, context.x,
                          target, form_);
}

}  // namespace tttmem::train
