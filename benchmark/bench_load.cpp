// Checkpoint load throughput from the page cache against plain read() of the same bytes, and
// (where a CUDA device is present) to the GPU. scripts/bench_load.py runs it and turns the times
// into same-run ratios.
//
// A synthetic bf16 checkpoint in 5 shards (Qwen3-8B layer shapes, TTTMEM_BENCH_LOAD_GIB GiB,
// default 3) is written once to a temp folder, read once to warm the page cache, and removed at
// exit. Every benchmark moves all of its tensor bytes once per iteration.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "tttmem/io.h"
#include "tttmem/tensor_io.h"

namespace {

using namespace tttmem;
namespace fs = std::filesystem;

struct Synthetic {
  fs::path dir;
  std::uint64_t tensor_bytes = 0, file_bytes = 0;
  std::size_t tensors = 0, largest_file = 0;

  Synthetic() {
    const char* gib_env = std::getenv("TTTMEM_BENCH_LOAD_GIB");
    const double gib = gib_env ? std::atof(gib_env) : 3.0;
    std::random_device rd;
    dir = fs::temp_directory_path() / ("tttmem-bench-load-" + std::to_string(rd()));
    // One Qwen3-8B decoder layer in bf16: q/o 4096x4096, k/v 1024x4096, gate/up/down 12288x4096.
    const std::vector<std::pair<std::string, std::vector<std::int64_t>>> layer{
        {"self_attn.q_proj.weight", {4096, 4096}}, {"self_attn.k_proj.weight", {1024, 4096}},
        {"self_attn.v_proj.weight", {1024, 4096}}, {"self_attn.o_proj.weight", {4096, 4096}},
        {"mlp.gate_proj.weight", {12288, 4096}},   {"mlp.up_proj.weight", {12288, 4096}},
        {"mlp.down_proj.weight", {4096, 12288}},   {"input_layernorm.weight", {4096}}};
    std::vector<io::TensorBytes> specs;
    std::size_t largest = 0;
    for (int l = 0; tensor_bytes < gib * (1ull << 30); ++l)
      for (const auto& [name, shape] : layer) {
        std::size_t n = 2;
        for (auto d : shape) n *= static_cast<std::size_t>(d);
        specs.push_back({"model.layers." + std::to_string(l) + "." + name, io::DType::BF16, shape, nullptr, n});
        tensor_bytes += n;
        largest = std::max(largest, n);
      }
    // Non-trivial content so no layer of the system can shortcut zero pages.
    std::vector<std::uint16_t> data(largest / 2);
    std::mt19937 gen(1);
    for (auto& x : data) x = static_cast<std::uint16_t>(gen());
    for (auto& s : specs) s.data = data.data();
    io::write_checkpoint(dir, specs, 5);
    tensors = specs.size();
    for (const auto& e : fs::directory_iterator(dir)) {
      file_bytes += fs::file_size(e.path());
      largest_file = std::max<std::size_t>(largest_file, fs::file_size(e.path()));
    }
    std::vector<char> buf(1 << 24);
    for (const auto& e : fs::directory_iterator(dir)) {  // warm the page cache
      const int fd = ::open(e.path().c_str(), O_RDONLY);
      while (::read(fd, buf.data(), buf.size()) > 0) {
      }
      ::close(fd);
    }
  }
  ~Synthetic() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const Synthetic& synthetic() {
  static const Synthetic s;
  return s;
}

void finish(benchmark::State& state, std::uint64_t bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  const auto& s = synthetic();
  state.counters["tensor_bytes"] = static_cast<double>(s.tensor_bytes);
  state.counters["tensors"] = static_cast<double>(s.tensors);
}

// (a) read(2) of every shard file, whole, into one reused buffer.
void BM_ReadFiles(benchmark::State& state) {
  const auto& s = synthetic();
  std::vector<char> buf(s.largest_file);
  std::memset(buf.data(), 1, buf.size());  // fault the buffer in outside the timing
  for (auto _ : state) {
    for (const auto& e : fs::directory_iterator(s.dir)) {
      if (e.path().extension() != ".safetensors") continue;
      const int fd = ::open(e.path().c_str(), O_RDONLY);
      std::size_t off = 0;
      for (ssize_t n; (n = ::read(fd, buf.data() + off, buf.size() - off)) > 0;) off += static_cast<std::size_t>(n);
      ::close(fd);
      benchmark::DoNotOptimize(buf.data());
    }
  }
  finish(state, s.tensor_bytes);
}

// (a') pread(2) of every tensor's bytes into its own new buffer: the same allocation pattern as
// an owned load, with the kernel's copy instead of ours.
void BM_PreadTensors(benchmark::State& state) {
  const auto& s = synthetic();
  const auto ckpt = io::Checkpoint::open(s.dir);
  for (auto _ : state) {
    for (const auto& shard : ckpt.shards()) {
      const int fd = ::open(shard->path().c_str(), O_RDONLY);
      std::uint64_t data_size = 0;
      for (const auto& t : shard->tensors()) data_size += t.nbytes;
      const std::uint64_t data_start = shard->file_bytes() - data_size;
      for (const auto& t : shard->tensors()) {
        const auto off = data_start + static_cast<std::uint64_t>(t.data - shard->tensors()[0].data);
        const at::Tensor out = at::empty(t.shape, at::kBFloat16);
        auto* dst = static_cast<char*>(out.data_ptr());
        for (std::size_t done = 0; done < t.nbytes;) {
          const ssize_t n = ::pread(fd, dst + done, t.nbytes - done, static_cast<off_t>(off + done));
          if (n <= 0) throw std::runtime_error("pread failed");
          done += static_cast<std::size_t>(n);
        }
        benchmark::DoNotOptimize(out.data_ptr());
      }
      ::close(fd);
    }
  }
  finish(state, s.tensor_bytes);
}

// (b) Checkpoint::open + load_tensor of every tensor to the CPU (owned copies).
void BM_LoadTensorCpu(benchmark::State& state) {
  const auto& s = synthetic();
  for (auto _ : state) {
    const auto ckpt = io::Checkpoint::open(s.dir);
    for (const auto& name : ckpt.names()) {
      const at::Tensor t = io::load_tensor(ckpt.get(name), at::kCPU, at::kBFloat16);
      benchmark::DoNotOptimize(t.data_ptr());
    }
  }
  finish(state, s.tensor_bytes);
}

// (c) Checkpoint::open + reading every byte through the zero-copy views.
void BM_TouchZeroCopy(benchmark::State& state) {
  const auto& s = synthetic();
  for (auto _ : state) {
    const auto ckpt = io::Checkpoint::open(s.dir);
    std::uint64_t sum = 0;
    for (const auto& name : ckpt.names()) {
      const io::TensorView& v = ckpt.get(name);
      const std::byte* p = v.data;
      std::uint64_t word;
      std::size_t i = 0;
      for (; i + 8 <= v.nbytes; i += 8) {
        std::memcpy(&word, p + i, 8);
        sum += word;
      }
      for (; i < v.nbytes; ++i) sum += static_cast<std::uint64_t>(p[i]);
    }
    benchmark::DoNotOptimize(sum);
  }
  finish(state, s.tensor_bytes);
}

// (d) Checkpoint::open + load_tensor of every tensor to the GPU (returns once the copies are done).
void BM_LoadTensorCuda(benchmark::State& state) {
  const auto& s = synthetic();
  for (auto _ : state) {
    const auto ckpt = io::Checkpoint::open(s.dir);
    std::vector<at::Tensor> loaded;  // held, as a model holds its weights
    for (const auto& name : ckpt.names())
      loaded.push_back(io::load_tensor(ckpt.get(name), at::Device(at::kCUDA, 0), at::kBFloat16));
    benchmark::DoNotOptimize(loaded.back().data_ptr());
  }
  finish(state, s.tensor_bytes);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  const auto add = [](const char* name, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
  };
  add("BM_ReadFiles", BM_ReadFiles);
  add("BM_PreadTensors", BM_PreadTensors);
  add("BM_LoadTensorCpu", BM_LoadTensorCpu);
  add("BM_TouchZeroCopy", BM_TouchZeroCopy);
  if (at::hasCUDA()) add("BM_LoadTensorCuda", BM_LoadTensorCuda);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
