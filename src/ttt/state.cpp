// ttt: streaming (SPEC.md T4.2), TTTState (the per-sequence memory) and the decoder graft.
#include <ATen/ATen.h>

#include <set>
#include <stdexcept>

#include "tttmem/tensor_io.h"
#include "tttmem/ttt.h"

namespace tttmem::ttt {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

constexpr const char* kStateFormat = "tttmem.ttt_state.v1";

std::int64_t weight_batch(const FastWeight& w) {
  for (const at::Tensor* t : {&w.full, &w.delta, &w.left})
    if (t->defined()) return t->size(0);
  return -1;  // W0 only: any batch
}

at::Tensor append_rows(const at::Tensor& tail, const at::Tensor& rows) {
  return tail.defined() ? at::cat({tail, rows}, 1) : rows;
}

}  // namespace

std::int64_t LayerState::tail_rows() const { return tail_x.defined() ? tail_x.size(1) : 0; }

at::Tensor stream_forward(const TTTConfig& config, const LayerParams& params,
                          const model::MlpWeights& weights, LayerState& state,
                          const at::Tensor& x, const at::Tensor& t, bool frozen) {
  const std::int64_t b = x.size(0), n = x.size(1);
  const std::int64_t have = state.tail_x.defined() ? state.tail_x.size(0) : weight_batch(state.weight);
  if (have >= 0 && have != b)
    fail("TTT state holds batch size " + std::to_string(have) + ", this call has batch size " +
         std::to_string(b) + " (reset the state or start a new one)");
  state.w0 = weights.down_proj;
  if (frozen) return state.weight.apply(intermediate(x, weights), weights.down_proj);

  const at::Tensor present_x = append_rows(state.tail_x, x);
  const at::Tensor present_t = append_rows(state.tail_t, t);
  const std::int64_t lp = present_x.size(1), c = config.chunk;
  if (lp < c) {
    // No boundary reached: Z of the new rows only, no update; the whole stream since the last
    // boundary becomes the tail (copied: the caller's x may be a reused buffer).
    state.tail_x = state.tail_x.defined() ? present_x : x.clone();
    state.tail_t = state.tail_t.defined() ? present_t : t.clone();
    return state.weight.apply(intermediate(x, weights), weights.down_proj);
  }
  ChunkedResult result =
      chunked_forward(config, params, weights, present_x, present_t, state.weight, false);
  state.weight = std::move(result.weight);
  const std::int64_t rest = lp % c;  // SPEC.md T7.12: an exact multiple leaves an EMPTY tail
  state.tail_x = rest ? present_x.narrow(1, lp - rest, rest).clone() : at::Tensor();
  state.tail_t = rest ? present_t.narrow(1, lp - rest, rest).clone() : at::Tensor();
  return result.out.narrow(1, lp - n, n);
}

void flush_tail(const TTTConfig& config, const LayerParams& params,
                const model::MlpWeights& weights, LayerState& state) {
  if (state.tail_rows() == 0) return;
  ChunkedResult result =
      chunked_forward(config, params, weights, state.tail_x, state.tail_t, state.weight, true);
  state.weight = std::move(result.weight);
  state.tail_x = state.tail_t = at::Tensor();
}

void TTTState::reset() {
  layers.clear();
  frozen = false;
}

void TTTState::zero_delta() {
  for (auto& [layer, s] : layers) s.weight = FastWeight{};
}

void TTTState::scale_delta(double alpha) {
  for (auto& [layer, s] : layers) {
    FastWeight& w = s.weight;
    if (w.full.defined()) {
      if (!s.w0.defined())
        fail("TTTState::scale_delta: layer " + std::to_string(layer) +
             " holds a full fast weight but W0 is unknown (run a forward after loading)");
      // W0 + alpha (W - W0), formed in fp32 and rounded once.
      const at::Tensor w0 = s.w0.to(at::kFloat);
      w.full = (w0 + (w.full.to(at::kFloat) - w0) * alpha).to(w.full.scalar_type());
    }
    if (w.delta.defined()) w.delta = w.delta * alpha;
    if (w.left.defined()) w.left = w.left * alpha;
  }
}

void TTTState::drop_kv() {
  for (auto& [layer, s] : layers) s.tail_x = s.tail_t = at::Tensor();
}

void TTTState::save(const std::filesystem::path& file) const {
  io::NamedTensors tensors;
  std::map<std::string, std::string> metadata{{"format", kStateFormat},
                                              {"frozen", frozen ? "1" : "0"}};
  std::string layer_list;
  for (const auto& [layer, s] : layers) {
    const std::string prefix = "layers." + std::to_string(layer) + ".";
    layer_list += (layer_list.empty() ? "" : ",") + std::to_string(layer);
    metadata[prefix + "updates"] = std::to_string(s.weight.updates);
    const std::pair<const char*, const at::Tensor*> parts[] = {
        {"full", &s.weight.full}, {"delta", &s.weight.delta}, {"left", &s.weight.left},
        {"right", &s.weight.right}, {"tail_x", &s.tail_x}, {"tail_t", &s.tail_t}};
    for (const auto& [name, tensor] : parts)
      if (tensor->defined()) tensors.emplace_back(prefix + name, *tensor);
  }
  metadata["layers"] = layer_list;
  io::save_tensors(file, tensors, metadata);
}

TTTState TTTState::load(const std::filesystem::path& file, const at::Device& device) {
  const auto source = io::SafetensorsFile::open(file);
  const auto& metadata = source->metadata();
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = metadata.find(key);
    if (it == metadata.end())
      fail("TTT state " + file.string() + ": metadata lacks '" + key + "' (expected a file " +
           "written by TTTState::save, format " + kStateFormat + ")");
    return it->second;
  };
  if (meta("format") != kStateFormat)
    fail("TTT state " + file.string() + ": format '" + meta("format") + "', expected " +
         kStateFormat);
  TTTState state;
  state.frozen = meta("frozen") == "1";
  for (std::int64_t layer : meta("layers").empty() ? std::vector<std::int64_t>{}
                                                    : parse_layers(meta("layers")))
    state.layers[layer].weight.updates =
        std::stoll(meta("layers." + std::to_string(layer) + ".updates"));
  for (auto& [name, tensor] : io::load_tensors(file, device)) {
    const auto dot1 = name.find('.'), dot2 = name.find('.', dot1 + 1);
    std::int64_t layer = -1;
    if (name.rfind("layers.", 0) == 0 && dot2 != std::string::npos)
      layer = parse_layers(name.substr(dot1 + 1, dot2 - dot1 - 1)).front();
    auto it = state.layers.find(layer);
    if (it == state.layers.end())
      fail("TTT state " + file.string() + ": tensor '" + name + "' belongs to no listed layer");
    LayerState& s = it->second;
    const std::string part = name.substr(dot2 + 1);
    at::Tensor* slot = part == "full"     ? &s.weight.full
                       : part == "delta"  ? &s.weight.delta
                       : part == "left"   ? &s.weight.left
                       : part == "right"  ? &s.weight.right
                       : part == "tail_x" ? &s.tail_x
                       : part == "tail_t" ? &s.tail_t
                                          : nullptr;
    if (!slot) fail("TTT state " + file.string() + ": unknown tensor '" + name + "'");
    *slot = tensor;
  }
  for (const auto& [layer, s] : state.layers)
    if (s.weight.left.defined() != s.weight.right.defined() ||
        s.tail_x.defined() != s.tail_t.defined())
      fail("TTT state " + file.string() + ": layer " + std::to_string(layer) +
           " is incomplete (left/right or tail_x/tail_t without its partner)");
  return state;
}

Graft::Graft(const TTTConfig& config, const TTTParams& params, TTTState& state)
    : config_(config), params_(params), state_(state) {
  for (std::int64_t layer : config.layers) params.at(layer);  // fail now, not mid-forward
}

bool Graft::handles(std::int64_t layer) const { return config_.is_ttt_layer(layer); }

at::Tensor Graft::forward(const model::MlpContext& context) {
  if (!handles(context.layer))
    fail("TTT graft called for layer " + std::to_string(context.layer) +
         ", which is not a TTT layer");
  // Pad rows would enter the fast-weight stream and shift the chunk boundaries of their row
  // (SPEC.md S9.16); until updates mask them, padded batches are refused, not mixed in.
  if (context.padded)
    fail("TTT graft: padded batches are not supported (pad rows would enter the fast-weight "
         "updates); run sequences of different lengths unpadded, one per call or per state");
  seen_weights_[context.layer] = &context.weights;
  const at::Tensor& target =
      config_.target == Target::hidden_states ? context.x : context.embeddings;
  return stream_forward(config_, params_.at(context.layer), context.weights,
                        state_.layers[context.layer], context.x, target, state_.frozen);
}

void Graft::drop_kv() {
  if (config_.partial_chunk == PartialChunk::flush)
    for (auto& [layer, s] : state_.layers) {
      if (s.tail_rows() == 0) continue;
      auto it = seen_weights_.find(layer);
      if (it == seen_weights_.end())
        fail("TTT graft: cannot flush layer " + std::to_string(layer) +
             ": the decoder never passed its weights through this graft");
      flush_tail(config_, params_.at(layer), *it->second, s);
    }
  state_.drop_kv();
}

}  // namespace tttmem::ttt
