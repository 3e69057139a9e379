// train: pieces of the TTT MLP's training forms (graft.cpp) that the memory objective
// (memory.cpp) shares. Private to src/train.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "tttmem/model.h"
#include "tttmem/train.h"
#include "tttmem/ttt.h"

namespace tttmem::train {

// V = Tc Wp (SPEC.md T3.3; V = Tc without proj) for the rows of a stream that starts at a chunk
// boundary: Tc is the per-chunk conv of `target` [B, L, D], with zero rows past the stream's end.
at::Tensor ttt_values(const ttt::TTTConfig& config, const ttt::LayerParams& params,
                      const at::Tensor& target);
// The low-rank form from Z [B, L, F] and V [B, L, D]: O = Z W0^T + lr * M V with M[p, q] =
// z_p . z_q when q's chunk precedes p's (else 0).
at::Tensor low_rank_output(const ttt::TTTConfig& config, const at::Tensor& z, const at::Tensor& v,
                           const at::Tensor& w0);
// Whether the low-rank form costs fewer multiply-adds than the parallel one for L rows.
bool low_rank_is_cheaper(std::int64_t l, const model::MlpWeights& weights);
// `form` with `automatic` resolved for a stream of L rows.
TttForm resolve_form(TttForm form, std::int64_t l, const model::MlpWeights& weights);

}  // namespace tttmem::train
