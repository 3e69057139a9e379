// e2e: E2EConfig (config.json fields, validation) and E2EParams (init, load, save).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tttmem/e2e.h"
#include "tttmem/host_read.h"
#include "tttmem/tensor_io.h"

namespace tttmem::e2e {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

constexpr const char* kConfigKey = "e2e_config";

// Calls visit(name, tensor) for each of theta's tensors: layer order, gate/up/down.
template <typename Layers, typename Visit>
void for_each_named(Layers& layers, Visit visit) {
  for (auto& [layer, p] : layers) {
    visit(gate_name(layer), p.gate);
    visit(up_name(layer), p.up);
    visit(down_name(layer), p.down);
  }
}

}  // namespace

std::string gate_name(std::int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".mlp.dynamic_gate_proj.weight";
}
std::string up_name(std::int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".mlp.dynamic_up_proj.weight";
}
std::string down_name(std::int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".mlp.dynamic_down_proj.weight";
}

E2EConfig E2EConfig::defaults(const ModelConfig& model) {
  E2EConfig config;
  const std::int64_t count = std::max<std::int64_t>(1, model.num_hidden_layers / 4);
  for (std::int64_t layer = model.num_hidden_layers - count; layer < model.num_hidden_layers; ++layer)
    config.layers.push_back(layer);
  return config;
}

E2EConfig E2EConfig::from_json(const nlohmann::json& raw, const ModelConfig& model,
                               const std::string& source) {
  E2EConfig config = fields_from_json(raw, model, source);
  try {
    config.validate(model);
  } catch (const std::exception& e) {
    fail(source + ": " + e.what());
  }
  return config;
}

E2EConfig E2EConfig::fields_from_json(const nlohmann::json& raw, const ModelConfig& model,
                                      const std::string& source) {
  E2EConfig config = defaults(model);
  auto field = [&](const char* name) -> const nlohmann::json* {
    auto it = raw.find(name);
    return it == raw.end() || it->is_null() ? nullptr : &*it;
  };
  auto bad = [&](const char* name, const char* expected) {
    fail(source + ": field " + name + ": expected " + expected + ", got " + field(name)->dump());
  };
  auto integer = [&](const char* name, std::int64_t& out) {
    if (const auto* v = field(name)) {
      if (!v->is_number_integer()) bad(name, "an integer");
      out = v->get<std::int64_t>();
    }
  };
  if (const auto* v = field("e2e_layers")) {
    if (!v->is_array()) bad("e2e_layers", "an array of layer indices");
    std::vector<std::int64_t> layers;
    for (const auto& item : *v) {
      if (!item.is_number_integer()) bad("e2e_layers", "an array of layer indices");
      layers.push_back(item.get<std::int64_t>());
    }
    config.set_layers(std::move(layers));
  }
  integer("e2e_mini_batch", config.mini_batch);
  integer("e2e_inner_steps", config.inner_steps);
  integer("e2e_window", config.window);
  integer("e2e_intermediate", config.intermediate);
  if (const auto* v = field("e2e_inner_lr")) {
    if (!v->is_number()) bad("e2e_inner_lr", "a number");
    config.inner_lr = v->get<double>();
  }
  return config;
}

nlohmann::ordered_json E2EConfig::to_json() const {
  return {{"e2e_layers", layers},         {"e2e_mini_batch", mini_batch},
          {"e2e_inner_lr", inner_lr},     {"e2e_inner_steps", inner_steps},
          {"e2e_window", window},         {"e2e_intermediate", intermediate}};
}

void E2EConfig::validate(const ModelConfig& model) const {
  if (layers.empty()) fail("e2e_layers: expected at least one layer");
  for (std::int64_t layer : layers)
    if (layer < 0 || layer >= model.num_hidden_layers)
      fail("e2e_layers: layer " + std::to_string(layer) + " does not exist (the model has " +
           std::to_string(model.num_hidden_layers) + " layers)");
  if (mini_batch < 2)
    fail("e2e_mini_batch: expected at least 2 tokens (one next-token pair), got " +
         std::to_string(mini_batch));
  if (inner_steps < 1)
    fail("e2e_inner_steps: expected at least 1, got " + std::to_string(inner_steps));
  if (!std::isfinite(inner_lr) || inner_lr < 0)
    fail("e2e_inner_lr: expected a finite learning rate >= 0, got " + std::to_string(inner_lr));
  if (window < 0) fail("e2e_window: expected 0 (the model's) or a window in tokens, got " +
                       std::to_string(window));
  if (intermediate < 0)
    fail("e2e_intermediate: expected 0 (the model's intermediate_size) or a width, got " +
         std::to_string(intermediate));
}

void E2EConfig::set_layers(std::vector<std::int64_t> new_layers) {
  std::sort(new_layers.begin(), new_layers.end());
  new_layers.erase(std::unique(new_layers.begin(), new_layers.end()), new_layers.end());
  layers = std::move(new_layers);
}

bool E2EConfig::is_e2e_layer(std::int64_t layer) const {
  return std::binary_search(layers.begin(), layers.end(), layer);
}

std::int64_t E2EConfig::width(const ModelConfig& model) const {
  return intermediate > 0 ? intermediate : model.intermediate_size;
}

std::int64_t E2EConfig::row_bytes(const ModelConfig& model) const {
  return static_cast<std::int64_t>(layers.size()) * 3 * model.hidden_size * width(model) *
         static_cast<std::int64_t>(sizeof(float));
}

E2EParams E2EParams::init(const E2EConfig& config, const ModelConfig& model, std::uint64_t seed,
                          const at::Device& device) {
  const std::int64_t d = model.hidden_size, f = config.width(model);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  E2EParams params;
  for (std::int64_t layer : config.layers) {
    // One generator per layer, so a layer's draw does not depend on which others exist.
    at::Generator gen = at::detail::createCPUGenerator(seed * 0x9E3779B97F4A7C15ULL +
                                                       static_cast<std::uint64_t>(layer));
    DynamicMlp& p = params.layers[layer];
    p.gate = at::empty({f, d}, f32).normal_(0.0, model.initializer_range, gen).to(device);
    p.up = at::empty({f, d}, f32).normal_(0.0, model.initializer_range, gen).to(device);
    p.down = at::zeros({d, f}, f32.device(device));
  }
  return params;
}

E2EParams E2EParams::load(const io::Checkpoint& checkpoint, const E2EConfig& config,
                          const ModelConfig& model, const at::Device& device) {
  const std::int64_t d = model.hidden_size, f = config.width(model);
  auto read = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    const io::TensorView* view = checkpoint.find(name);
    if (!view)
      fail("E2E checkpoint " + checkpoint.location().string() + " has no tensor " + name +
           " (e2e_layers lists its layer): give --e2e CKPT, or --e2e-init for fresh weights");
    io::expect_tensor(*view, shape);
    at::Tensor value = io::load_tensor(*view, device, at::kFloat);
    const auto bad = model::host_scalar<std::int64_t>(value.isfinite().logical_not().sum());
    if (bad > 0)
      fail("E2E checkpoint " + view->file.string() + ": tensor " + name + " has " +
           std::to_string(bad) + " non-finite values; expected finite weights");
    return value;
  };
  E2EParams params;
  for (std::int64_t layer : config.layers)
    params.layers[layer] = {read(gate_name(layer), {f, d}), read(up_name(layer), {f, d}),
                            read(down_name(layer), {d, f})};
  return params;
}

void E2EParams::save(const std::filesystem::path& file, const E2EConfig& config) const {
  io::save_tensors(file, tensors(),
                   {{kConfigKey, config.to_json().dump()}, {"format", "tttmem.e2e_params.v1"}});
}

std::optional<E2EConfig> E2EParams::recorded_config(const io::Checkpoint& checkpoint,
                                                    const ModelConfig& model) {
  for (const auto& shard : checkpoint.shards()) {
    const nlohmann::json raw = shard->metadata_object(kConfigKey);
    if (!raw.is_null())
      return E2EConfig::from_json(raw, model,
                                  shard->path().string() + " (metadata " + kConfigKey + ")");
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, at::Tensor*>> E2EParams::named() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  for_each_named(layers,
                 [&](std::string name, at::Tensor& t) { out.emplace_back(std::move(name), &t); });
  return out;
}

io::NamedTensors E2EParams::tensors() const {
  io::NamedTensors out;
  for_each_named(layers, [&](std::string name, const at::Tensor& t) {
    out.emplace_back(std::move(name), t);
  });
  return out;
}

}  // namespace tttmem::e2e
