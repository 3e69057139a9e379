// What a model family implements (internal to src/model): its checkpoint layout, its weights and
// what its embedding, layers and head compute. Everything the families share (positions under
// padding, masks, RoPE tables, the KV cache, the attention kernels, the layer loop) is the
// Decoder's (transformer.cpp), reached from a layer through LayerContext. A new family is one
// file implementing this interface plus its line in transformer.cpp's table.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/model.h"

namespace tttmem::model {

// Loads one tensor of the checkpoint after checking it against the family's TensorSpec: a
// missing tensor or a wrong shape throws naming the tensor, the checkpoint and both shapes.
class WeightLoader {
 public:
  WeightLoader(const std::vector<TensorSpec>& specs, const io::Checkpoint& checkpoint,
               at::Device device, at::ScalarType dtype);
  at::Tensor operator()(const std::string& name) const;

 private:
  const std::vector<TensorSpec>& specs_;
  const io::Checkpoint& checkpoint_;
  at::Device device_;
  at::ScalarType dtype_;
};

// What one forward call offers every layer. Copyable: a layer hook may run a layer again after
// the call returned (the copy it holds has no KV cache).
class LayerContext {
 public:
  // q or k [B, heads, L, hd] rotated by RoPE table `table` (Family::rope_inv_freqs' order) at
  // this call's positions, rotate-half layout, cos/sin in the activation dtype.
  at::Tensor rope(std::size_t table, const at::Tensor& x) const;
  // Attention of `layer`: q [B, H, L, hd], k/v [B, KV, L, hd] after RoPE. Stores k/v in the KV
  // cache (when the call has one), masks by the layer's window and padding, scales the scores by
  // `scale`. -> [B, L, H * hd].
  at::Tensor attend(std::int64_t layer, const at::Tensor& q, const at::Tensor& k,
                    const at::Tensor& v, double scale) const;
  // The MLP of `layer` on its input x [B, L, D]: the override's when it handles the layer.
  at::Tensor mlp(std::int64_t layer, const at::Tensor& x, const MlpWeights& weights) const;

 private:
  friend class Decoder;
  Attention attention_ = Attention::sdpa;
  std::vector<std::int64_t> windows_;
  std::vector<std::pair<at::Tensor, at::Tensor>> rope_;  // cos, sin [B, 1, L, hd] per table
  at::Tensor embeddings_;
  std::optional<at::Tensor> mask_, window_mask_;  // full-attention / sliding-window layers
  bool padded_ = false;
  at::Tensor valid_, valid_host_;  // MlpContext::valid, valid_host
  MlpOverride* mlp_override_ = nullptr;
  KVCache* cache_ = nullptr;
};

class Family {
 public:
  virtual ~Family() = default;
  // RoPE inverse frequencies [hd / 2] in fp32 on the CPU, one per table the layers use.
  virtual std::vector<at::Tensor> rope_inv_freqs() const = 0;
  // ids [B, L] on the device -> [B, L, D] in the activation dtype: the layers' input, which is
  // also what MlpContext::embeddings shows a TTT graft.
  virtual at::Tensor embed(const at::Tensor& ids) const = 0;
  virtual at::Tensor layer(std::int64_t i, const at::Tensor& x, const LayerContext& context) const = 0;
  virtual at::Tensor final_norm(const at::Tensor& x) const = 0;
  virtual at::Tensor logits(const at::Tensor& x) const = 0;  // after final_norm
  virtual const MlpWeights& mlp(std::int64_t layer) const = 0;
  virtual std::vector<std::pair<std::string, at::Tensor*>> named_weights() = 0;
};

// The families (one file each).
std::vector<TensorSpec> qwen3_tensor_specs(const ModelConfig& config);
std::unique_ptr<Family> make_qwen3(const ModelConfig& config, const WeightLoader& load);
std::vector<TensorSpec> gemma3_tensor_specs(const ModelConfig& config);
std::unique_ptr<Family> make_gemma3(const ModelConfig& config, const WeightLoader& load);

// Shared by the families' files.
at::Tensor rope_inv_freq(double theta, std::int64_t head_dim);  // HF's default RoPE, fp32

// What every family's block holds besides its norms: attention projections, per-head q/k norms
// and the gated MLP.
struct BlockWeights {
  at::Tensor q_proj, k_proj, v_proj, o_proj, q_norm, k_norm;
  MlpWeights mlp;
};

// A family's checkpoint layout: blocks of BlockWeights plus the [D] norms `block_norms` (HF
// names, in state-dict order after the MLP), norms initialised to `norm_init`.
struct Layout {
  std::vector<std::string> block_norms;
  Init norm_init = Init::ones;
  // Every tensor in HF state-dict order: embed, each block, the final norm, lm_head unless tied.
  std::vector<TensorSpec> specs(const ModelConfig& config) const;
  // The same names bound to a family's tensors; `block(i)` gives layer i's BlockWeights and its
  // norms in block_norms' order.
  std::vector<std::pair<std::string, at::Tensor*>> bind(
      const ModelConfig& config, at::Tensor& embed_tokens, at::Tensor& norm, at::Tensor& lm_head,
      const std::function<std::pair<BlockWeights*, std::vector<at::Tensor*>>(std::int64_t)>& block)
      const;
};

}  // namespace tttmem::model
