// Qwen3 decoder speed: prefill of N tokens (logits of the last one, as generation needs) and one
// decode step after an N-token prefix, for each checkpoint given with --model DIR. The driver
// scripts/bench_model.py runs transformers on the same checkpoints in the same run.
// With --ttt-tokens M, also a prefill of M tokens with In-Place TTT on the paper's layers (every
// 6th, lr 3, chunk --ttt-chunk, random non-zero parameters) and the same prefill without it: the
// TTT overhead, as a ratio within this run.
//
//   bench_model --model DIR [--model DIR2 ...] [--device cpu|cuda] [--dtype fp32|bf16]
//               [--tokens 512] [--ttt-tokens M --ttt-chunk 4096] [--threads N]
//               [google-benchmark flags]
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/model.h"
#include "tttmem/ttt.h"

namespace {

using namespace tttmem;

struct Loaded {
  std::string name;
  ModelConfig config;
  io::Checkpoint checkpoint;
  model::Decoder model;
  Loaded(const std::filesystem::path& dir, at::Device device, at::ScalarType dtype)
      : name(dir.filename().string()),
        config(ModelConfig::load(dir)),
        checkpoint(io::Checkpoint::open(dir)),
        model(config, checkpoint, device, dtype) {}
};

// Reading one value back waits for the device, so GPU timings cover the whole step.
void wait_for(const at::Tensor& logits) { benchmark::DoNotOptimize(logits.sum().item<float>()); }

void prefill(benchmark::State& state, Loaded* m, std::int64_t tokens) {
  const c10::InferenceMode inference;
  const at::Tensor ids =
      at::randint(m->config.vocab_size, {1, tokens}, at::TensorOptions().dtype(at::kLong))
          .to(m->model.device());
  model::ForwardOptions options;
  options.last_logits_only = true;
  model::KVCache cache = m->model.make_cache(1, tokens);
  for (auto _ : state) {
    cache.reset();
    wait_for(m->model.forward(ids, cache, options));
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
}

void decode(benchmark::State& state, Loaded* m, std::int64_t tokens) {
  const c10::InferenceMode inference;
  const at::Tensor ids =
      at::randint(m->config.vocab_size, {1, tokens + 1}, at::TensorOptions().dtype(at::kLong))
          .to(m->model.device());
  model::ForwardOptions options;
  options.last_logits_only = true;
  model::KVCache cache = m->model.make_cache(1, tokens + 1);
  m->model.forward(ids.narrow(1, 0, tokens), cache, options);
  const at::Tensor next = ids.narrow(1, tokens, 1);
  for (auto _ : state) {
    cache.crop(tokens);
    wait_for(m->model.forward(next, cache, options));
  }
}

// The paper's TTT layers on this model with random parameters (non-zero, so every full chunk
// updates W), on the model's device and dtype.
struct RandomTtt {
  ttt::TTTConfig config;
  ttt::TTTParams params;
  RandomTtt(const Loaded& m, std::int64_t chunk) : config(ttt::TTTConfig::preset("paper", m.config)) {
    config.chunk = chunk;
    const std::int64_t d = m.config.hidden_size;
    const auto options = at::TensorOptions().device(m.model.device()).dtype(m.model.dtype());
    for (const std::int64_t layer : config.layers)
      params.layers[layer] = {at::randn({d, d}, options) / std::sqrt(static_cast<double>(d)),
                              at::randn({d, 1, 5}, options) * 0.1};
  }
};

// Prefill of `tokens` tokens, with TTT when `ttt` is given (a fresh stream each time).
void prefill_long(benchmark::State& state, Loaded* m, const RandomTtt* ttt, std::int64_t tokens) {
  const c10::InferenceMode inference;
  const at::Tensor ids =
      at::randint(m->config.vocab_size, {1, tokens}, at::TensorOptions().dtype(at::kLong))
          .to(m->model.device());
  model::KVCache cache = m->model.make_cache(1, tokens);
  for (auto _ : state) {
    cache.reset();
    ttt::TTTState stream;
    std::optional<ttt::Graft> graft;
    model::ForwardOptions options;
    options.last_logits_only = true;
    if (ttt) options.mlp_override = &graft.emplace(ttt->config, ttt->params, stream);
    wait_for(m->model.forward(ids, cache, options));
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::vector<std::string> dirs;
  std::string device_name = "cpu", dtype_name = "fp32";
  std::int64_t tokens = 512, ttt_tokens = 0, ttt_chunk = 4096;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_model: %s needs a value\n", arg.c_str());
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--model") dirs.push_back(value);
    else if (arg == "--device") device_name = value;
    else if (arg == "--dtype") dtype_name = value;
    else if (arg == "--tokens") tokens = std::stoll(value);
    else if (arg == "--ttt-tokens") ttt_tokens = std::stoll(value);
    else if (arg == "--ttt-chunk") ttt_chunk = std::stoll(value);
    else if (arg == "--threads") at::set_num_threads(std::stoi(value));
    else {
      std::fprintf(stderr, "bench_model: unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  if (dirs.empty()) {
    std::fprintf(stderr, "bench_model: give --model DIR (made by `tttmem init-model`)\n");
    return 2;
  }
  const at::Device device = model::parse_device(device_name);
  const at::ScalarType dtype = model::parse_compute_dtype(dtype_name, device);
  std::vector<std::unique_ptr<Loaded>> models;
  std::vector<std::unique_ptr<RandomTtt>> ttts;
  for (const std::string& dir : dirs) {
    models.push_back(std::make_unique<Loaded>(dir, device, dtype));
    Loaded* m = models.back().get();
    benchmark::RegisterBenchmark(("prefill/" + m->name).c_str(), prefill, m, tokens)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("decode/" + m->name).c_str(), decode, m, tokens)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    if (ttt_tokens > 0) {
      ttts.push_back(std::make_unique<RandomTtt>(*m, ttt_chunk));
      benchmark::RegisterBenchmark(("prefill_plain/" + m->name).c_str(), prefill_long, m,
                                   nullptr, ttt_tokens)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark(("prefill_ttt/" + m->name).c_str(), prefill_long, m,
                                   ttts.back().get(), ttt_tokens)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
