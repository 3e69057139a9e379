// The parity tests of SPEC.md T8 at the MLP level, on random layers.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "ttt_test_util.h"

namespace tttmem::ttt {
namespace {

using testing::random_layer;
using testing::random_rows;
using testing::rel_error;
using testing::small_config;

constexpr std::int64_t kD = 16, kF = 24;

// Feeds `x` through a fresh state in pieces of the given sizes; returns the concatenated output.
at::Tensor stream_pieces(const TTTConfig& config, const testing::RandomLayer& layer,
                         LayerState& state, const at::Tensor& x,
                         const std::vector<std::int64_t>& pieces) {
  std::vector<at::Tensor> outs;
  std::int64_t start = 0;
  for (std::int64_t size : pieces) {
    const at::Tensor piece = x.narrow(1, start, size);
    outs.push_back(stream_forward(config, layer.params, layer.mlp, state, piece, piece, false));
    start += size;
  }
  EXPECT_EQ(start, x.size(1));
  return at::cat(outs, 1);
}

TEST(TttMath, ZeroConvIsAnExactNoOp) {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (Precision precision : {Precision::upstream, Precision::fp32}) {
      auto layer = random_layer(kD, kF, 1, dtype);
      layer.params.conv.zero_();
      TTTConfig config = small_config(4);
      config.precision = precision;
      const at::Tensor x = random_rows(1, 11, kD, 2, dtype);
      LayerState state;
      const at::Tensor out = stream_forward(config, layer.params, layer.mlp, state, x, x, false);
      EXPECT_EQ(state.weight.updates, 2);
      // dW is exactly zero, so W stays bitwise W0 (SPEC.md T2: conv = 0 is an exact no-op).
      EXPECT_TRUE(at::equal(state.weight.materialize(layer.mlp.down_proj)[0].to(dtype),
                            layer.mlp.down_proj));
      const at::Tensor plain = at::linear(model::mlp_intermediate(x, layer.mlp), layer.mlp.down_proj);
      // Only the GEMM shapes differ (per chunk vs the whole call): last-ulp differences at most.
      EXPECT_LE(rel_error(out, plain), dtype == at::kFloat ? 1e-6 : 1e-2);
    }
  }
}

TEST(TttMath, ConvTapOrderIsCrossCorrelationPerChunk) {
  const std::int64_t c = 4;
  const at::Tensor t = random_rows(1, 3 * c, 6, 3);
  for (std::int64_t tap : {1, 2, 3}) {
    at::Tensor conv = at::zeros({6, 1, 5});
    conv.select(2, tap).fill_(1.0);
    const at::Tensor tc = chunk_conv(t, conv, c);
    const std::int64_t shift = tap - 2;  // tap 3 reads the next token, tap 1 the previous one
    for (std::int64_t row = 0; row < 3 * c; ++row) {
      const std::int64_t p = row % c, source = row + shift;
      if (p + shift < 0 || p + shift >= c)  // outside this chunk: zero padding, no carry-over
        EXPECT_TRUE(at::equal(tc[0][row], at::zeros({6}))) << "tap " << tap << " row " << row;
      else
        EXPECT_TRUE(at::equal(tc[0][row], t[0][source])) << "tap " << tap << " row " << row;
    }
  }
}

TEST(TttMath, BoundariesPrefillEqualsPrefillPlusTokenDecode) {
  const std::int64_t c = 4;
  const auto layer = random_layer(kD, kF, 4);
  const TTTConfig config = small_config(c);
  const at::Tensor x = random_rows(1, 2 * c + 1, kD, 5);
  for (std::int64_t l : {c - 1, c, c + 1, 2 * c - 1, 2 * c, 2 * c + 1}) {
    const at::Tensor xs = x.narrow(1, 0, l);
    LayerState one_shot;
    const at::Tensor expected = stream_forward(config, layer.params, layer.mlp, one_shot, xs, xs, false);
    EXPECT_EQ(one_shot.tail_rows(), l % c) << "L=" << l;  // an exact multiple leaves NO tail
    EXPECT_EQ(one_shot.weight.updates, l / c) << "L=" << l;  // the partial chunk never updates

    const std::int64_t prefill = l - std::min<std::int64_t>(l - 1, 3);
    std::vector<std::int64_t> pieces{prefill};
    pieces.resize(1 + l - prefill, 1);
    LayerState decoded;
    const at::Tensor got = stream_pieces(config, layer, decoded, xs, pieces);
    EXPECT_EQ(decoded.tail_rows(), l % c) << "L=" << l;
    EXPECT_EQ(decoded.weight.updates, l / c) << "L=" << l;
    EXPECT_LE(rel_error(got, expected), 1e-6) << "L=" << l;
    EXPECT_LE(rel_error(decoded.weight.materialize(layer.mlp.down_proj),
                        one_shot.weight.materialize(layer.mlp.down_proj)), 1e-6);
    // Tokens before the first boundary always use W0 (SPEC.md T3.7).
    const std::int64_t early = std::min(l, c);
    EXPECT_LE(rel_error(expected.narrow(1, 0, early),
                        at::linear(model::mlp_intermediate(xs.narrow(1, 0, early), layer.mlp),
                                   layer.mlp.down_proj)), 1e-6);
    if (l > c) {  // and the first update does reach the tokens after it
      EXPECT_GT(rel_error(expected.narrow(1, c, l - c),
                          at::linear(model::mlp_intermediate(xs.narrow(1, c, l - c), layer.mlp),
                                     layer.mlp.down_proj)), 1e-3);
    }
  }
}

TEST(TttMath, PartialChunkPolicy) {
  const std::int64_t c = 4;
  const auto layer = random_layer(kD, kF, 6);
  const TTTConfig config = small_config(c);
  for (std::int64_t l : {3, 8, 9}) {
    const at::Tensor x = random_rows(1, l, kD, 7);
    const auto seed = chunked_forward(config, layer.params, layer.mlp, x, x, {}, false);
    const auto flush = chunked_forward(config, layer.params, layer.mlp, x, x, {}, true);
    EXPECT_EQ(seed.weight.updates, l / c);
    EXPECT_EQ(flush.weight.updates, (l + c - 1) / c);
    EXPECT_LE(rel_error(flush.out, seed.out), 1e-6);  // flushing changes only the final W
  }
}

TEST(TttMath, WithoutProjTheTargetIsTheConvOutput) {
  // ttt_proj false: V = conv(T), i.e. the same as an identity Wp.
  auto layer = random_layer(kD, kF, 26);
  const at::Tensor x = random_rows(1, 13, kD, 27);
  LayerParams identity = layer.params, none = layer.params;
  identity.proj = at::eye(kD);
  none.proj = at::Tensor();
  const TTTConfig config = small_config(4);
  const auto a = chunked_forward(config, identity, layer.mlp, x, x, {}, false);
  const auto b = chunked_forward(config, none, layer.mlp, x, x, {}, false);
  EXPECT_EQ(b.weight.updates, 3);
  EXPECT_LE(rel_error(b.out, a.out), 1e-6);
  EXPECT_LE(rel_error(b.weight.full, a.weight.full), 1e-6);
}

TEST(TttMath, ParallelEqualsSequential) {
  const std::int64_t c = 4;
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    const auto layer = random_layer(kD, kF, 8, dtype);
    const TTTConfig config = small_config(c);
    for (std::int64_t l : {3, 4, 9, 12, 13}) {
      for (bool flush : {false, true}) {
        const at::Tensor x = random_rows(2, l, kD, 9, dtype);
        const auto seq = chunked_forward(config, layer.params, layer.mlp, x, x, {}, flush);
        const auto par = parallel_forward(config, layer.params, layer.mlp, x, x, flush);
        // bf16: the same rounding chain; only the batched GEMMs' blocking may differ.
        const double tol = dtype == at::kFloat ? 1e-6 : 1e-2;
        EXPECT_LE(rel_error(par.out, seq.out), tol) << "L=" << l << " flush=" << flush;
        EXPECT_EQ(par.weight.updates, seq.weight.updates);
        EXPECT_LE(rel_error(par.weight.materialize(layer.mlp.down_proj),
                            seq.weight.materialize(layer.mlp.down_proj)), tol);
      }
    }
  }
}

TEST(TttMath, ParallelFormIsDifferentiable) {
  auto layer = random_layer(kD, kF, 10);
  layer.params.conv.requires_grad_(true);
  layer.params.proj.requires_grad_(true);
  const at::Tensor x = random_rows(1, 9, kD, 11);
  parallel_forward(small_config(4), layer.params, layer.mlp, x, x, false).out.sum().backward();
  EXPECT_GT(layer.params.conv.grad().abs().max().item<double>(), 0.0);
  EXPECT_GT(layer.params.proj.grad().abs().max().item<double>(), 0.0);
}

TEST(TttMath, SplitStreamEqualsOneShot) {
  const std::int64_t c = 4, l = 5 * c + 3;
  const auto layer = random_layer(kD, kF, 12);
  const TTTConfig config = small_config(c);
  const at::Tensor x = random_rows(1, l, kD, 13);
  LayerState whole;
  const at::Tensor expected = stream_forward(config, layer.params, layer.mlp, whole, x, x, false);
  std::mt19937 rng(14);
  for (int trial = 0; trial < 6; ++trial) {
    std::vector<std::int64_t> pieces;
    for (std::int64_t left = l; left > 0;) {
      // trial 0: token by token; later trials: random sizes up to 2C + 1
      const std::int64_t size =
          trial == 0 ? 1 : std::min<std::int64_t>(left, 1 + rng() % (2 * c + 1));
      pieces.push_back(size);
      left -= size;
    }
    LayerState split;
    const at::Tensor got = stream_pieces(config, layer, split, x, pieces);
    EXPECT_LE(rel_error(got, expected), 1e-6) << "trial " << trial;
    EXPECT_LE(rel_error(split.weight.materialize(layer.mlp.down_proj),
                        whole.weight.materialize(layer.mlp.down_proj)), 1e-6);
    EXPECT_EQ(split.weight.updates, 5);
    EXPECT_EQ(split.tail_rows(), 3);
  }
}

TEST(TttMath, BatchRowsHaveTheirOwnFastWeights) {
  const auto layer = random_layer(kD, kF, 15);
  const TTTConfig config = small_config(4);
  const at::Tensor x = random_rows(2, 10, kD, 16);
  LayerState batched;
  const at::Tensor out = stream_forward(config, layer.params, layer.mlp, batched, x, x, false);
  for (std::int64_t b = 0; b < 2; ++b) {
    const at::Tensor row = x.narrow(0, b, 1);
    LayerState single;
    const at::Tensor expected = stream_forward(config, layer.params, layer.mlp, single, row, row, false);
    EXPECT_LE(rel_error(out.narrow(0, b, 1), expected), 1e-6);
    EXPECT_LE(rel_error(batched.weight.full.narrow(0, b, 1), single.weight.full), 1e-6);
  }
  const at::Tensor one = x.narrow(0, 0, 1);
  EXPECT_THROW(stream_forward(config, layer.params, layer.mlp, batched, one, one, false),
               std::runtime_error);
}

TEST(TttMath, LowRankEqualsDense) {
  // D=16, F=24: the delta stays low-rank while its rank is < 8, i.e. for two chunks of 3.
  const std::int64_t c = 3;
  const auto layer = random_layer(kD, kF, 17);
  TTTConfig low = small_config(c), dense = small_config(c), full = small_config(c);
  low.precision = dense.precision = Precision::fp32;
  dense.max_low_rank = 0;
  for (std::int64_t l : {7, 14}) {
    const at::Tensor x = random_rows(1, l, kD, 18);
    LayerState s_low, s_dense, s_full;
    const at::Tensor o_low = stream_forward(low, layer.params, layer.mlp, s_low, x, x, false);
    const at::Tensor o_dense = stream_forward(dense, layer.params, layer.mlp, s_dense, x, x, false);
    const at::Tensor o_full = stream_forward(full, layer.params, layer.mlp, s_full, x, x, false);
    if (l == 7) {
      EXPECT_EQ(s_low.weight.rank(), 6);
      EXPECT_FALSE(s_low.weight.delta.defined());
    } else {
      EXPECT_TRUE(s_low.weight.delta.defined());  // rank 9 >= 8: switched to dense
      EXPECT_FALSE(s_low.weight.left.defined());
    }
    EXPECT_TRUE(s_dense.weight.delta.defined());
    const at::Tensor& w0 = layer.mlp.down_proj;
    EXPECT_LE(rel_error(o_low, o_dense), 1e-6);
    EXPECT_LE(rel_error(o_low, o_full), 1e-5);
    EXPECT_LE(rel_error(s_low.weight.materialize(w0), s_dense.weight.materialize(w0)), 1e-6);
    EXPECT_LE(rel_error(s_low.weight.materialize(w0), s_full.weight.materialize(w0)), 1e-5);
  }
}

TEST(TttMath, FrozenStateNeitherUpdatesNorGrowsItsTail) {
  const auto layer = random_layer(kD, kF, 19);
  const TTTConfig config = small_config(4);
  const at::Tensor x = random_rows(1, 6, kD, 20);
  LayerState state;
  stream_forward(config, layer.params, layer.mlp, state, x, x, false);
  const LayerState before = state;
  const at::Tensor probe = random_rows(1, 9, kD, 21);
  const at::Tensor out = stream_forward(config, layer.params, layer.mlp, state, probe, probe, true);
  EXPECT_TRUE(state.weight.full.is_same(before.weight.full));
  EXPECT_TRUE(state.tail_x.is_same(before.tail_x));
  EXPECT_EQ(state.weight.updates, 1);
  EXPECT_TRUE(at::equal(out, state.weight.apply(model::mlp_intermediate(probe, layer.mlp), layer.mlp.down_proj)));
  // Unfrozen, the same probe would have crossed a boundary and written into W.
  LayerState leaky = before;
  stream_forward(config, layer.params, layer.mlp, leaky, probe, probe, false);
  EXPECT_EQ(leaky.weight.updates, 3);
}

TEST(TttMath, WeightsAreSharedNeverWrittenInPlace) {
  const auto layer = random_layer(kD, kF, 22);
  const TTTConfig config = small_config(4);
  const at::Tensor x = random_rows(1, 13, kD, 23);
  TTTState state;
  stream_forward(config, layer.params, layer.mlp, state.layers[0], x.narrow(1, 0, 6),
                 x.narrow(1, 0, 6), false);
  const TTTState snapshot = state.clone();
  const at::Tensor w_before = snapshot.layers.at(0).weight.full.clone();
  stream_forward(config, layer.params, layer.mlp, state.layers[0], x.narrow(1, 6, 7),
                 x.narrow(1, 6, 7), false);
  EXPECT_EQ(state.layers.at(0).weight.updates, 3);
  EXPECT_TRUE(at::equal(snapshot.layers.at(0).weight.full, w_before));
  EXPECT_EQ(snapshot.layers.at(0).tail_rows(), 2);
  // restore = assignment: continuing from the snapshot repeats the same outputs
  state = snapshot;
  LayerState again = snapshot.layers.at(0);
  const at::Tensor a = stream_forward(config, layer.params, layer.mlp, state.layers[0],
                                      x.narrow(1, 6, 7), x.narrow(1, 6, 7), false);
  const at::Tensor b = stream_forward(config, layer.params, layer.mlp, again,
                                      x.narrow(1, 6, 7), x.narrow(1, 6, 7), false);
  EXPECT_TRUE(at::equal(a, b));
}

TEST(TttMath, DropKvFlushZeroAndScale) {
  const auto layer = random_layer(kD, kF, 24);
  for (Precision precision : {Precision::upstream, Precision::fp32}) {
    TTTConfig config = small_config(4);
    config.precision = precision;
    const at::Tensor x = random_rows(1, 11, kD, 25);
    const at::Tensor& w0 = layer.mlp.down_proj;
    TTTState state;
    stream_forward(config, layer.params, layer.mlp, state.layers[0], x, x, false);
    const at::Tensor w = state.layers[0].weight.materialize(w0).to(at::kFloat);

    TTTState stripped = state.clone();
    stripped.drop_tails();  // the seed's KV-stripped clone: W kept, tail discarded
    EXPECT_EQ(stripped.layers[0].tail_rows(), 0);
    EXPECT_TRUE(at::equal(stripped.layers[0].weight.materialize(w0).to(at::kFloat), w));

    TTTState flushed = state.clone();
    flush_tail(config, layer.params, layer.mlp, flushed.layers[0]);
    EXPECT_EQ(flushed.layers[0].weight.updates, 3);
    EXPECT_EQ(flushed.layers[0].tail_rows(), 0);
    const auto one_shot = chunked_forward(config, layer.params, layer.mlp, x, x, {}, true);
    EXPECT_LE(rel_error(flushed.layers[0].weight.materialize(w0), one_shot.weight.materialize(w0)),
              1e-6);

    TTTState half = state.clone();
    half.scale_delta(0.5);
    const at::Tensor expected = w0 + (w - w0) * 0.5;
    EXPECT_LE(rel_error(half.layers[0].weight.materialize(w0), expected), 1e-6);
    EXPECT_EQ(half.layers[0].tail_rows(), 3);  // tails are kept

    TTTState zero = state.clone();
    zero.zero_delta();
    EXPECT_TRUE(at::equal(zero.layers[0].weight.materialize(w0)[0], w0));
  }
}

}  // namespace
}  // namespace tttmem::ttt
