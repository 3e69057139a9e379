// Single-thread encode throughput of the Qwen3 tokenizer (configs/tokenizers/qwen3) on all the
// text of the published benchmark, the file $TTTMEM_BENCHMARK_FILE names (the output of
// `tttmem build-benchmark --seed 42 --samples-per-level 100`). scripts/bench_tokenizer.py makes
// that file, runs this next to the pip tiktoken package on the same texts and records the ratio.
#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "tttmem/tokenizer.h"

namespace {

std::filesystem::path benchmark_file() {
  const char* env = std::getenv("TTTMEM_BENCHMARK_FILE");
  if (env == nullptr || *env == '\0')
    throw std::runtime_error("TTTMEM_BENCHMARK_FILE: set it to a benchmark_v1.json made by "
                             "`tttmem build-benchmark --seed 42 --samples-per-level 100`");
  return env;
}

// Conversations, distractors, fact texts, questions and gold answers, in file order (the driver
// builds the same list for tiktoken).
const std::vector<std::string>& texts() {
  static const auto all = [] {
    std::ifstream in(benchmark_file());
    const auto doc = nlohmann::json::parse(in);
    std::vector<std::string> out;
    for (const auto& s : doc.at("samples")) {
      out.push_back(s.at("conversation"));
      if (!s.at("distractor").is_null()) out.push_back(s.at("distractor"));
      for (const auto& f : s.at("facts")) out.push_back(f.at("fact_text"));
      for (const auto& p : s.at("probes")) {
        out.push_back(p.at("question"));
        out.push_back(p.at("gold_answer"));
      }
    }
    return out;
  }();
  return all;
}

const tttmem::tokenizer::Tokenizer& qwen() {
  static const auto tok = [] {
    return tttmem::tokenizer::Tokenizer::load(std::filesystem::path(TTTMEM_SOURCE_DIR) /
                                              "configs" / "tokenizers" / "qwen3");
  }();
  return *tok;
}

void BM_EncodeBenchmarkText(benchmark::State& state) {
  const auto& tok = qwen();
  std::int64_t bytes = 0, tokens = 0;
  for (const auto& t : texts()) bytes += static_cast<std::int64_t>(t.size());
  for (auto _ : state) {
    tokens = 0;
    for (const auto& t : texts()) {
      const auto ids = tok.encode(t, false);
      tokens += static_cast<std::int64_t>(ids.size());
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["text_bytes"] = static_cast<double>(bytes);
  state.counters["tokens"] = static_cast<double>(tokens);
}
// Wall-clock rate, as the driver measures tiktoken.
BENCHMARK(BM_EncodeBenchmarkText)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
