// The TTT MLP against the plain MLP on the same engine (prefill of one sequence): the overhead of
// the chunked fast-weight path. scripts/bench_ttt.py turns the times into same-run ratios.
//
// Arguments: {D, F, L, chunk}; chunk 0 is the plain MLP (model::mlp_forward). The TTT parameters
// are random and non-zero, so every full chunk really updates W.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include "tttmem/ttt.h"

namespace {

using namespace tttmem;

at::Tensor randn(at::IntArrayRef shape, double std, at::Generator& gen) {
  return at::empty(shape, at::kFloat).normal_(0.0, std, gen);
}

void BM_MlpPrefill(benchmark::State& state) {
  const std::int64_t d = state.range(0), f = state.range(1), l = state.range(2),
                     chunk = state.range(3);
  at::Generator gen = at::detail::createCPUGenerator(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const model::MlpWeights weights{randn({f, d}, scale, gen), randn({f, d}, scale, gen),
                                  randn({d, f}, scale, gen)};
  const ttt::LayerParams params{randn({d, d}, scale, gen), randn({d, 1, 5}, 0.1, gen)};
  const at::Tensor x = randn({1, l, d}, 1.0, gen);
  ttt::TTTConfig config;
  config.layers = {0};
  config.chunk = chunk;
  config.lr = 1e-3;
  for (auto _ : state) {
    at::Tensor out;
    if (chunk == 0) {
      out = model::mlp_forward(x, weights);
    } else {
      ttt::LayerState layer;
      out = ttt::stream_forward(config, params, weights, layer, x, x, false);
    }
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(l), benchmark::Counter::kIsIterationInvariantRate);
}

// D=512, F=1536 (Qwen3's F = 3D), 4096 tokens: seconds per run on 2 CPU cores.
BENCHMARK(BM_MlpPrefill)
    ->ArgNames({"D", "F", "L", "chunk"})
    ->Args({512, 1536, 4096, 0})
    ->Args({512, 1536, 4096, 64})
    ->Args({512, 1536, 4096, 4096})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
