// ttt: TTTConfig (config.json fields, presets, validation) and TTTParams (load, init, save).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "tttmem/host_read.h"
#include "tttmem/parse.h"
#include "tttmem/tensor_io.h"
#include "tttmem/ttt.h"

namespace tttmem::ttt {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

std::string join(const std::vector<std::int64_t>& values) {
  std::ostringstream out;
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? "," : "") << values[i];
  return out.str();
}

// One generator per layer, so a layer's draw does not depend on which other layers exist.
at::Generator layer_generator(std::uint64_t seed, std::int64_t layer) {
  return at::detail::createCPUGenerator(seed * 0x9E3779B97F4A7C15ULL +
                                        static_cast<std::uint64_t>(layer));
}

at::Tensor init_proj(Init init, std::int64_t d, double std, std::uint64_t seed,
                     std::int64_t layer) {
  at::Generator gen = layer_generator(seed, layer);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  if (init == Init::dense) return at::empty({d, d}, f32).normal_(0.0, std, gen);
  return at::diag(at::empty({d}, f32).normal_(0.0, std, gen));
}

}  // namespace

Target parse_target(const std::string& name) {
  if (name == "hidden_states") return Target::hidden_states;
  if (name == "input_embed") return Target::input_embed;
  fail("ttt_target: expected hidden_states or input_embed, got '" + name + "'");
}
PartialChunk parse_partial_chunk(const std::string& name) {
  if (name == "drop") return PartialChunk::drop;
  if (name == "flush") return PartialChunk::flush;
  fail("ttt_partial_chunk: expected drop or flush, got '" + name + "'");
}
Precision parse_precision(const std::string& name) {
  if (name == "upstream") return Precision::upstream;
  if (name == "fp32") return Precision::fp32;
  fail("ttt_precision: expected upstream or fp32, got '" + name + "'");
}
Init parse_init(const std::string& name) {
  if (name == "dense") return Init::dense;
  if (name == "diagonal") return Init::diagonal;
  fail("TTT init: expected dense or diagonal, got '" + name + "'");
}
std::string to_string(Target target) {
  return target == Target::hidden_states ? "hidden_states" : "input_embed";
}
std::string to_string(PartialChunk policy) { return policy == PartialChunk::drop ? "drop" : "flush"; }
std::string to_string(Precision precision) {
  return precision == Precision::upstream ? "upstream" : "fp32";
}

std::vector<std::int64_t> parse_layers(const std::string& csv) {
  return parse_int_list(csv, "TTT layers");
}

void TTTConfig::validate(const ModelConfig& model) const {
  for (std::int64_t layer : layers)
    if (layer < 0 || layer >= model.num_hidden_layers)
      fail("ttt_layers: layer " + std::to_string(layer) + " does not exist (the model has " +
           std::to_string(model.num_hidden_layers) + " layers, 0.." +
           std::to_string(model.num_hidden_layers - 1) +
           "); upstream silently ignores such layers, tttmem refuses them");
  if (chunk <= 0) fail("ttt_chunk: expected a positive chunk size, got " + std::to_string(chunk));
  if (!std::isfinite(lr)) fail("ttt_lr: expected a finite learning rate, got " + std::to_string(lr));
  if (max_low_rank < -1)
    fail("TTT max_low_rank: expected -1 (auto), 0 (dense) or a positive rank, got " +
         std::to_string(max_low_rank));
}

bool TTTConfig::is_ttt_layer(std::int64_t layer) const {
  return std::binary_search(layers.begin(), layers.end(), layer);
}

void TTTConfig::set_layers(std::vector<std::int64_t> new_layers) {
  std::sort(new_layers.begin(), new_layers.end());
  new_layers.erase(std::unique(new_layers.begin(), new_layers.end()), new_layers.end());
  layers = std::move(new_layers);
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names{"paper", "seed", "gemma3-study", "gemma3-global"};
  return names;
}

TTTConfig TTTConfig::preset(const std::string& name, const ModelConfig& model) {
  TTTConfig config = preset_fields(name, model);
  config.validate(model);
  return config;
}

TTTConfig TTTConfig::preset_fields(const std::string& name, const ModelConfig& model) {
  TTTConfig config;
  config.lr = 3.0;
  if (name == "paper") {
    for (std::int64_t layer = 0; layer < model.num_hidden_layers; layer += 6)
      config.layers.push_back(layer);
    config.chunk = 4096;
  } else if (name == "seed") {
    config.layers = {0, 6, 12, 18, 24, 30};
    config.chunk = 64;
  } else if (name == "gemma3-study" || name == "gemma3-global") {
    // The Gemma3 adapter study's training defaults: chunk 2048, lr 0.3. Its layers are every 6th
    // from 0 (0, 6, 12, 18, 24 on the 1B: sliding layers, though its README calls them global);
    // gemma3-global takes the config's full-attention layers (5, 11, 17, 23 on the 1B).
    config.lr = 0.3;
    config.chunk = 2048;
    for (std::int64_t layer = 0; layer < model.num_hidden_layers; ++layer)
      if (name == "gemma3-study" ? layer % 6 == 0
                                 : model.attention_windows()[static_cast<std::size_t>(layer)] == 0)
        config.layers.push_back(layer);
  } else {
    fail("TTT preset: expected paper, seed, gemma3-study or gemma3-global, got '" + name + "'");
  }
  return config;
}

TTTConfig TTTConfig::from_json(const nlohmann::json& raw, const ModelConfig& model,
                               const std::string& source) {
  TTTConfig config = fields_from_json(raw, source);
  try {
    config.validate(model);
  } catch (const std::exception& e) {
    fail(source + ": " + e.what());
  }
  return config;
}

TTTConfig TTTConfig::fields_from_json(const nlohmann::json& raw, const std::string& source) {
  TTTConfig config;
  std::vector<std::int64_t> layers;
  auto field = [&](const char* name) -> const nlohmann::json* {
    auto it = raw.find(name);
    return it == raw.end() || it->is_null() ? nullptr : &*it;
  };
  auto bad = [&](const char* name, const char* expected) {
    fail(source + ": field " + name + ": expected " + expected + ", got " + field(name)->dump());
  };
  if (const auto* v = field("ttt_layers")) {
    if (!v->is_array()) bad("ttt_layers", "an array of layer indices");
    for (const auto& item : *v) {
      if (!item.is_number_integer()) bad("ttt_layers", "an array of layer indices");
      layers.push_back(item.get<std::int64_t>());
    }
  }
  if (const auto* v = field("ttt_chunk")) {
    if (!v->is_number_integer()) bad("ttt_chunk", "an integer");
    config.chunk = v->get<std::int64_t>();
  }
  if (const auto* v = field("ttt_lr")) {
    if (!v->is_number()) bad("ttt_lr", "a number");
    config.lr = v->get<double>();
  }
  if (const auto* v = field("ttt_target")) {
    if (!v->is_string()) bad("ttt_target", "a string");
    config.target = parse_target(v->get<std::string>());
  }
  if (const auto* v = field("ttt_proj")) {
    if (!v->is_boolean()) bad("ttt_proj", "true or false");
    config.proj = v->get<bool>();
  }
  if (const auto* v = field("ttt_partial_chunk")) {
    if (!v->is_string()) bad("ttt_partial_chunk", "a string");
    config.partial_chunk = parse_partial_chunk(v->get<std::string>());
  }
  if (const auto* v = field("ttt_precision")) {
    if (!v->is_string()) bad("ttt_precision", "a string");
    config.precision = parse_precision(v->get<std::string>());
  }
  // ByteDance's switch is ttt_mode; the Gemma3 adapter study's (Gemma3TTTConfig) is use_ttt.
  for (const char* name : {"ttt_mode", "use_ttt"}) {
    if (const auto* v = field(name)) {
      if (!v->is_boolean()) bad(name, "true or false");
      if (!v->get<bool>()) layers.clear();  // upstream: a layer needs the switch too
    }
  }
  if (field("ttt_mode") && field("use_ttt") && *field("ttt_mode") != *field("use_ttt"))
    fail(source + ": fields ttt_mode and use_ttt disagree (" + field("ttt_mode")->dump() + " vs " +
         field("use_ttt")->dump() + ")");
  config.set_layers(std::move(layers));
  return config;
}

nlohmann::json TTTConfig::to_json() const {
  return {{"ttt_mode", !layers.empty()},      {"ttt_layers", layers},
          {"ttt_chunk", chunk},               {"ttt_lr", lr},
          {"ttt_target", to_string(target)},  {"ttt_proj", proj},
          {"ttt_partial_chunk", to_string(partial_chunk)},
          {"ttt_precision", to_string(precision)}};
}

std::string proj_name(std::int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".mlp.ttt_proj.weight";
}
std::string conv_name(std::int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".mlp.ttt_conv.weight";
}

std::vector<std::int64_t> checkpoint_layers(const io::Checkpoint& checkpoint) {
  std::vector<std::int64_t> layers;
  for (const std::string& name : checkpoint.names()) {
    std::int64_t layer = -1;
    char kind[5] = {};
    int end = 0;
    if (std::sscanf(name.c_str(), "model.layers.%" SCNd64 ".mlp.ttt_%4[a-z].weight%n", &layer, kind,
                    &end) == 2 &&
        static_cast<std::size_t>(end) == name.size() &&
        (std::string(kind) == "proj" || std::string(kind) == "conv"))
      layers.push_back(layer);
  }
  std::sort(layers.begin(), layers.end());
  layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  return layers;
}

namespace {
constexpr const char* kRecipeConfig = "ttt_config";
constexpr const char* kRecipePreset = "ttt_preset";
constexpr const char* kRecipeInit = "ttt_init";
}  // namespace

std::map<std::string, std::string> Recipe::to_metadata() const {
  return {{kRecipeConfig, config.to_json().dump()}, {kRecipePreset, preset}, {kRecipeInit, init}};
}

std::optional<Recipe> Recipe::from_metadata(const io::Checkpoint& checkpoint) {
  std::optional<Recipe> found;
  for (const auto& shard : checkpoint.shards()) {
    const auto& meta = shard->metadata();
    const nlohmann::json raw = shard->metadata_object(kRecipeConfig);
    if (raw.is_null()) continue;
    const std::string source = shard->path().string() + " (metadata " + kRecipeConfig + ")";
    Recipe recipe{TTTConfig::fields_from_json(raw, source), "", ""};
    for (auto [key, field] : {std::pair{kRecipePreset, &recipe.preset}, {kRecipeInit, &recipe.init}})
      if (const auto it = meta.find(key); it != meta.end()) *field = it->second;
    if (!recipe.preset.empty() &&
        std::find(preset_names().begin(), preset_names().end(), recipe.preset) == preset_names().end())
      fail(shard->path().string() + ": metadata " + kRecipePreset + ": expected a preset name or "
           "empty, got '" + recipe.preset + "'");
    if (!recipe.init.empty()) parse_init(recipe.init);
    if (found && found->config.to_json() != recipe.config.to_json())
      fail(checkpoint.location().string() + ": its shards record different TTT configs");
    found = recipe;
  }
  return found;
}

TTTParams TTTParams::init(const TTTConfig& config, const ModelConfig& model, Init init,
                          std::uint64_t seed, const at::Device& device, at::ScalarType dtype) {
  const std::int64_t d = model.hidden_size;
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  TTTParams params;
  for (std::int64_t layer : config.layers) {
    LayerParams& p = params.layers[layer];
    if (config.proj)
      p.proj = init_proj(init, d, model.initializer_range, seed, layer).to(options);
    p.conv = at::zeros({d, 1, 5}, options);
  }
  return params;
}

TTTParams TTTParams::load(const io::Checkpoint& checkpoint, const TTTConfig& config,
                          const ModelConfig& model, const at::Device& device,
                          at::ScalarType dtype, std::optional<Init> missing, std::uint64_t seed) {
  const std::int64_t d = model.hidden_size;
  const std::vector<std::int64_t> proj_shape{d, d}, conv_shape{d, 1, 5};
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  auto read = [&](const std::string& name, const std::vector<std::int64_t>& shape,
                  auto make_missing) -> at::Tensor {
    if (const io::TensorView* view = checkpoint.find(name)) {
      io::expect_tensor(*view, shape);
      at::Tensor value = io::load_tensor(*view, device, dtype);
      // A NaN here turns every logit into NaN and every answer into token 0, silently.
      const std::int64_t bad =
          model::host_scalar<std::int64_t>(value.isfinite().logical_not().sum());
      if (bad > 0)
        fail("TTT checkpoint " + view->file.string() + ": tensor " + name + " has " +
             std::to_string(bad) + " non-finite values (NaN or inf) of " +
             std::to_string(value.numel()) + "; expected finite weights");
      return value;
    }
    if (!missing)
      fail("TTT checkpoint " + checkpoint.location().string() + " has no tensor " + name +
           " (ttt_layers lists its layer; choose an init to create missing tensors)");
    return make_missing();
  };
  TTTParams params;
  for (std::int64_t layer : config.layers) {
    LayerParams& p = params.layers[layer];
    if (config.proj)
      p.proj = read(proj_name(layer), proj_shape, [&] {
        return init_proj(*missing, d, model.initializer_range, seed, layer).to(options);
      });
    p.conv = read(conv_name(layer), conv_shape, [&] { return at::zeros({d, 1, 5}, options); });
  }
  return params;
}

void TTTParams::save(const std::filesystem::path& file, const Recipe& recipe) const {
  io::NamedTensors tensors;
  for (const auto& [layer, p] : layers) {
    if (p.proj.defined()) tensors.emplace_back(proj_name(layer), p.proj);
    tensors.emplace_back(conv_name(layer), p.conv);
  }
  std::map<std::string, std::string> metadata = recipe.to_metadata();
  metadata["format"] = "tttmem.ttt_params.v1";
  io::save_tensors(file, tensors, metadata);
}

void TTTParams::zero() {
  for (auto& [layer, p] : layers) {
    if (p.proj.defined()) p.proj.zero_();
    p.conv.zero_();
  }
}

void TTTParams::scale(double alpha) {
  for (auto& [layer, p] : layers) {
    if (p.proj.defined()) p.proj.mul_(alpha);
    p.conv.mul_(alpha);
  }
}

TTTParams TTTParams::snapshot() const {
  TTTParams copy;
  for (const auto& [layer, p] : layers)
    copy.layers[layer] = {p.proj.defined() ? p.proj.clone() : at::Tensor(), p.conv.clone()};
  return copy;
}

void TTTParams::restore(const TTTParams& snapshot) {
  if (snapshot.layers.size() != layers.size())
    fail("TTTParams::restore: the snapshot has " + std::to_string(snapshot.layers.size()) +
         " layers, the parameters have " + std::to_string(layers.size()));
  for (auto& [layer, p] : layers) {
    const LayerParams& s = snapshot.at(layer);
    if (p.proj.defined() != s.proj.defined())
      fail("TTTParams::restore: layer " + std::to_string(layer) + " ttt_proj presence differs");
    if (p.proj.defined()) p.proj.copy_(s.proj);
    p.conv.copy_(s.conv);
  }
}

const LayerParams& TTTParams::at(std::int64_t layer) const {
  auto it = layers.find(layer);
  if (it == layers.end()) {
    std::vector<std::int64_t> have;
    for (const auto& [l, p] : layers) have.push_back(l);
    fail("TTT parameters: no parameters for layer " + std::to_string(layer) + " (have layers " +
         join(have) + ")");
  }
  return it->second;
}

}  // namespace tttmem::ttt
