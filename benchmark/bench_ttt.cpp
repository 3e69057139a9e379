// The TTT path against the plain one on the same engine (prefill of one sequence), at two levels:
// one MLP (BM_MlpPrefill), and a whole Qwen3 decoder with TTT on one layer in six, as the
// paper's and the seed's configs (BM_ModelPrefill): the overhead the TTT goal is stated for.
// scripts/bench_ttt.py turns the times into same-run ratios.
//
// chunk 0 is the plain path. The TTT parameters are random and non-zero, so every full chunk
// really updates W.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>

#include <unistd.h>

#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/model.h"
#include "tttmem/tensor_io.h"
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

// A random 6-layer Qwen3 (D 1024, F 3072, the ratios of Qwen3-8B's MLP and GQA), loaded through
// the real checkpoint path once per process.
struct BenchModel {
  ModelConfig config;
  std::unique_ptr<io::Checkpoint> checkpoint;
  std::unique_ptr<model::Decoder> model;
  std::filesystem::path dir;

  BenchModel() {
    config = ModelConfig::from_json(
        {{"model_type", "qwen3"}, {"architectures", {"Qwen3ForCausalLM"}}, {"vocab_size", 8192},
         {"hidden_size", 1024}, {"intermediate_size", 3072}, {"num_hidden_layers", 6},
         {"num_attention_heads", 16}, {"num_key_value_heads", 8}, {"head_dim", 64},
         {"max_position_embeddings", 8192}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1e6},
         {"tie_word_embeddings", false}, {"hidden_act", "silu"}, {"torch_dtype", "float32"}},
        "bench_ttt");
    dir = std::filesystem::temp_directory_path() /
          ("tttmem-bench-ttt-" + std::to_string(::getpid()));
    io::save_checkpoint(dir, model::init_weights(config, 1), 1);
    checkpoint = std::make_unique<io::Checkpoint>(io::Checkpoint::open(dir));
    model = std::make_unique<model::Decoder>(config, *checkpoint, at::kCPU, at::kFloat);
  }
  ~BenchModel() {
    model.reset();
    checkpoint.reset();
    std::filesystem::remove_all(dir);
  }
};

void BM_ModelPrefill(benchmark::State& state) {
  static BenchModel bench;
  const std::int64_t l = state.range(0), chunk = state.range(1);
  ttt::TTTConfig config;
  config.layers = {0};
  config.chunk = chunk > 0 ? chunk : 1;
  config.lr = 1e-3;
  at::Generator gen = at::detail::createCPUGenerator(2);
  const std::int64_t d = bench.config.hidden_size;
  ttt::TTTParams params;
  params.layers[0] = {randn({d, d}, 1.0 / std::sqrt(static_cast<double>(d)), gen),
                      randn({d, 1, 5}, 0.1, gen)};
  const at::Tensor ids = at::randint(bench.config.vocab_size, {1, l}, gen, at::kLong);
  model::ForwardOptions options;
  options.last_logits_only = true;  // as in generation: the lm_head runs on one row
  for (auto _ : state) {
    ttt::TTTState ttt_state;
    ttt::Graft graft(config, params, ttt_state);
    options.mlp_override = chunk > 0 ? &graft : nullptr;
    const at::Tensor logits = bench.model->forward(ids, options);
    benchmark::DoNotOptimize(logits.data_ptr());
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(l), benchmark::Counter::kIsIterationInvariantRate);
}

// 1024 tokens: chunk 1024 is one update per context, as chunk 4096 at a 4k context.
BENCHMARK(BM_ModelPrefill)
    ->ArgNames({"L", "chunk"})
    ->Args({1024, 0})
    ->Args({1024, 64})
    ->Args({1024, 1024})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
