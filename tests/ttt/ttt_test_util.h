// Shared helpers for the ttt suites: random MLP layers and small configs.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <string>

#include "tensor_testing.h"
#include "tttmem/ttt.h"

namespace tttmem::ttt::testing {

// A random layer: MLP weights [F, D] / [D, F], ttt_proj [D, D] (non-symmetric), ttt_conv
// [D, 1, 5] with every tap non-zero, drawn in fp32 from `seed` and cast to `dtype`.
struct RandomLayer {
  model::MlpWeights mlp;
  LayerParams params;
};

inline at::Tensor randn(at::IntArrayRef shape, double std, at::Generator& gen,
                        at::ScalarType dtype) {
  return at::empty(shape, at::kFloat).normal_(0.0, std, gen).to(dtype);
}

inline RandomLayer random_layer(std::int64_t d, std::int64_t f, std::uint64_t seed,
                                at::ScalarType dtype = at::kFloat) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  RandomLayer layer;
  layer.mlp.gate_proj = randn({f, d}, 0.3, gen, dtype);
  layer.mlp.up_proj = randn({f, d}, 0.3, gen, dtype);
  layer.mlp.down_proj = randn({d, f}, 0.3, gen, dtype);
  layer.params.proj = randn({d, d}, 0.3, gen, dtype);
  layer.params.conv = randn({d, 1, 5}, 0.3, gen, dtype);
  return layer;
}

inline at::Tensor random_rows(std::int64_t b, std::int64_t l, std::int64_t d, std::uint64_t seed,
                              at::ScalarType dtype = at::kFloat) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return randn({b, l, d}, 1.0, gen, dtype);
}

using tttmem::test::rel_error;

inline TTTConfig small_config(std::int64_t chunk, double lr = 0.05) {
  TTTConfig config;
  config.layers = {0};
  config.chunk = chunk;
  config.lr = lr;
  return config;
}

// A model config with only the sizes the ttt module reads.
inline ModelConfig model_config(std::int64_t layers, std::int64_t d = 16, std::int64_t f = 24) {
  ModelConfig model;
  model.num_hidden_layers = layers;
  model.hidden_size = d;
  model.intermediate_size = f;
  return model;
}

// The message `action` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace tttmem::ttt::testing
