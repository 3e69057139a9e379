// ttt: the fast-weight math (SPEC.md T3): Z, the per-chunk conv, the target, the update, and the
// two forms of the chunked MLP (sequential loop for inference, parallel prefix sum for training).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "tttmem/kernels.h"
#include "tttmem/ttt.h"

namespace tttmem::ttt {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

at::Tensor pad_rows(const at::Tensor& rows, std::int64_t extra) {
  return extra == 0 ? rows : at::constant_pad_nd(rows, {0, 0, 0, extra});
}

std::int64_t rank_limit(const TTTConfig& config, const at::Tensor& w0) {
  if (config.max_low_rank >= 0) return config.max_low_rank;
  return std::min(w0.size(0), w0.size(1)) / 2;
}

void check_rows(const at::Tensor& x, const at::Tensor& t, const model::MlpWeights& weights) {
  if (x.dim() != 3 || t.dim() != 3 || x.size(0) != t.size(0) || x.size(1) != t.size(1) ||
      x.size(2) != weights.down_proj.size(0) || t.size(2) != x.size(2))
    fail("TTT MLP: expected x and target of shape [B, L, " +
         std::to_string(weights.down_proj.size(0)) + "], got " + std::to_string(x.dim()) +
         "-d x and " + std::to_string(t.dim()) + "-d target of sizes " +
         c10::str(x.sizes()) + " and " + c10::str(t.sizes()));
}

}  // namespace

at::Tensor chunk_conv(const at::Tensor& t, const at::Tensor& conv, std::int64_t chunk) {
  if (t.size(1) % chunk != 0)
    fail("chunk_conv: " + std::to_string(t.size(1)) + " rows are not a multiple of the chunk " +
         std::to_string(chunk));
  // On a GPU the kernel reads [B, L, D] where it lies, instead of two transposed copies around
  // a conv1d. It has no backward: a pass that records gradients takes the libtorch twin.
  const bool recording =
      c10::GradMode::is_enabled() && (t.requires_grad() || conv.requires_grad());
  if (t.is_cuda() && kernels::built_with_cuda() && !recording && t.scalar_type() == conv.scalar_type())
    return kernels::chunked_conv5(t, conv, chunk);
  return chunk_conv_libtorch(t, conv, chunk);
}

at::Tensor chunk_conv_libtorch(const at::Tensor& t, const at::Tensor& conv, std::int64_t chunk) {
  const std::int64_t b = t.size(0), l = t.size(1), d = t.size(2);
  // Each chunk is its own conv batch element: zero padding at both edges of every chunk.
  const at::Tensor chunks = t.reshape({b * (l / chunk), chunk, d}).transpose(1, 2);
  const at::Tensor tc = at::conv1d(chunks, conv, {}, /*stride=*/1, /*padding=*/2,
                                   /*dilation=*/1, /*groups=*/d);
  return tc.transpose(1, 2).reshape({b, l, d});
}

at::Tensor target_values_t(const at::Tensor& tc, const at::Tensor& proj) {
  const at::Tensor tct = tc.transpose(-1, -2);
  return proj.defined() ? at::matmul(proj.t(), tct) : tct;
}

std::int64_t FastWeight::rank() const { return left.defined() ? left.size(-1) : 0; }

at::Tensor FastWeight::apply(const at::Tensor& z, const at::Tensor& w0) const {
  if (full.defined()) return at::matmul(z, full.transpose(-1, -2));
  const at::Tensor base = at::linear(z, w0);
  if (!delta.defined() && !left.defined()) return base;
  const at::Tensor zf = z.to(at::kFloat);
  const at::Tensor correction = delta.defined()
                                    ? at::matmul(zf, delta.transpose(-1, -2))
                                    : at::matmul(at::matmul(zf, right.transpose(-1, -2)),
                                                 left.transpose(-1, -2));
  return (base.to(at::kFloat) + correction).to(z.scalar_type());
}

void FastWeight::update(const at::Tensor& vt, const at::Tensor& z, const at::Tensor& w0,
                        const TTTConfig& config) {
  ++updates;
  if (config.precision == Precision::upstream) {
    // Spec 3.4: G = A Z in the model dtype, dW = dtype(G * lr), W = dtype(W + dW).
    const at::Tensor dw = at::matmul(vt, z) * config.lr;
    full = (full.defined() ? full : w0) + dw;
    return;
  }
  const at::Tensor step_left = vt.to(at::kFloat) * config.lr;
  const at::Tensor step_right = z.to(at::kFloat);
  if (!delta.defined() && rank() + step_left.size(-1) < rank_limit(config, w0)) {
    left = left.defined() ? at::cat({left, step_left}, -1) : step_left;
    right = right.defined() ? at::cat({right, step_right}, -2) : step_right;
    return;
  }
  if (left.defined()) {
    delta = at::matmul(left, right);
    left = right = at::Tensor();
  }
  const at::Tensor step = at::matmul(step_left, step_right);
  delta = delta.defined() ? delta + step : step;
}

at::Tensor FastWeight::materialize(const at::Tensor& w0) const {
  if (full.defined()) return full;
  if (delta.defined()) return w0.to(at::kFloat) + delta;
  if (left.defined()) return w0.to(at::kFloat) + at::matmul(left, right);
  return w0.unsqueeze(0);
}

ChunkedResult chunked_forward(const TTTConfig& config, const LayerParams& params,
                              const model::MlpWeights& weights, const at::Tensor& x,
                              const at::Tensor& t, FastWeight weight, bool flush_partial) {
  check_rows(x, t, weights);
  const std::int64_t c = config.chunk, l = x.size(1);
  const at::Tensor& w0 = weights.down_proj;
  const at::Tensor z = model::mlp_intermediate(x, weights);
  // Spec 3.7: a call shorter than a chunk is one plain product (M = L, as upstream).
  if (l < c && !flush_partial) return {weight.apply(z, w0), std::move(weight)};

  const std::int64_t n = (l + c - 1) / c, pad = n * c - l;
  const at::Tensor zp = pad_rows(z, pad);
  const at::Tensor tc = chunk_conv(pad_rows(t, pad), params.conv, c);
  std::vector<at::Tensor> outs;
  outs.reserve(n);
  for (std::int64_t k = 0; k < n; ++k) {
    const at::Tensor zk = zp.narrow(1, k * c, c);
    outs.push_back(weight.apply(zk, w0));  // O_k uses W_k, before chunk k's own update
    if (k < n - 1 || pad == 0 || flush_partial)
      weight.update(target_values_t(tc.narrow(1, k * c, c), params.proj), zk, w0, config);
  }
  return {at::cat(outs, 1).narrow(1, 0, l), std::move(weight)};
}

ChunkedResult parallel_forward(const TTTConfig& config, const LayerParams& params,
                               const model::MlpWeights& weights, const at::Tensor& x,
                               const at::Tensor& t, bool flush_partial) {
  check_rows(x, t, weights);
  if (config.precision != Precision::upstream)
    fail("parallel_forward: only the upstream precision mode has a parallel form (got " +
         to_string(config.precision) + ")");
  const std::int64_t b = x.size(0), l = x.size(1), c = config.chunk;
  const std::int64_t d = weights.down_proj.size(0), f = weights.down_proj.size(1);
  const std::int64_t n = (l + c - 1) / c, pad = n * c - l;
  const std::int64_t updating = (pad == 0 || flush_partial) ? n : n - 1;
  const at::Tensor zc = pad_rows(model::mlp_intermediate(x, weights), pad).view({b, n, c, f});
  const at::Tensor tc = chunk_conv(pad_rows(t, pad), params.conv, c).view({b, n, c, d});

  // Every chunk's dW in one batched contraction: [B, M, D, C] x [B, M, C, F].
  const at::Tensor dw =
      at::matmul(target_values_t(tc.narrow(1, 0, updating), params.proj),
                 zc.narrow(1, 0, updating)) * config.lr;
  // Prefix sum as a chain of adds in the weight's dtype: upstream's CUDA scan rounds every step
  // to bf16, while at::cumsum on the CPU accumulates bf16 in fp32 (SPEC.md T3.6).
  std::vector<at::Tensor> prefix{weights.down_proj.expand({b, d, f})};
  for (std::int64_t k = 0; k < updating; ++k) prefix.push_back(prefix.back() + dw.select(1, k));
  const at::Tensor ws = at::stack(std::vector<at::Tensor>(prefix.begin(), prefix.begin() + n), 1);
  const at::Tensor out = at::matmul(zc, ws.transpose(-1, -2)).reshape({b, n * c, d}).narrow(1, 0, l);

  FastWeight weight;
  weight.updates = updating;
  if (updating > 0) weight.full = prefix.back();
  return {out, std::move(weight)};
}

}  // namespace tttmem::ttt
