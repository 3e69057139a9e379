// ttt: streaming (SPEC.md T4.2), TTTState (the per-sequence memory) and the decoder graft.
#include <ATen/ATen.h>

#include <charconv>
#include <optional>
#include <set>
#include <stdexcept>

#include "tttmem/host_read.h"
#include "tttmem/parse.h"

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

std::string dtype_name(at::ScalarType type) {
  return std::string(io::dtype_name(io::from_scalar_type(type)));
}

at::Tensor append_rows(const at::Tensor& tail, const at::Tensor& rows) {
  return tail.defined() ? at::cat({tail, rows}, 1) : rows;
}

}  // namespace

std::int64_t LayerState::tail_rows() const { return tail_x.defined() ? tail_x.size(1) : 0; }

at::Tensor stream_forward(const TTTConfig& config, const LayerParams& params,
                          const model::MlpWeights& weights, LayerState& state,
                          const at::Tensor& x, const at::Tensor& t, bool frozen,
                          const at::Tensor& z) {
  const std::int64_t b = x.size(0), n = x.size(1);
  const std::int64_t have = state.tail_x.defined() ? state.tail_x.size(0) : weight_batch(state.weight);
  if (have >= 0 && have != b)
    fail("TTT state holds batch size " + std::to_string(have) + ", this call has batch size " +
         std::to_string(b) + " (reset the state or start a new one)");
  state.w0 = weights.down_proj;
  const at::Tensor z_new = z.defined() ? z : intermediate(x, weights);
  if (frozen) return state.weight.apply(z_new, weights.down_proj);

  const at::Tensor present_x = append_rows(state.tail_x, x);
  const at::Tensor present_t = append_rows(state.tail_t, t);
  const std::int64_t lp = present_x.size(1), c = config.chunk;
  if (lp < c) {
    // No boundary reached: Z of the new rows only, no update; the whole stream since the last
    // boundary becomes the tail (copied: the caller's x may be a reused buffer).
    state.tail_x = state.tail_x.defined() ? present_x : x.clone();
    state.tail_t = state.tail_t.defined() ? present_t : t.clone();
    return state.weight.apply(z_new, weights.down_proj);
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

void TTTState::drop_tails() {
  for (auto& [layer, s] : layers) s.tail_x = s.tail_t = at::Tensor();
}

TTTRows expand(const TTTState& state, std::size_t rows) { return TTTRows(rows, state); }

TTTRows select(const TTTRows& rows, const std::vector<std::size_t>& keep) {
  TTTRows out;
  out.reserve(keep.size());
  for (std::size_t i : keep) {
    if (i >= rows.size())
      fail("TTT rows: select row " + std::to_string(i) + " of " + std::to_string(rows.size()));
    out.push_back(rows[i]);
  }
  return out;
}

TTTRows stack(const std::vector<TTTRows>& parts) {
  TTTRows out;
  for (const TTTRows& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
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
  // A whole number >= 0 from a metadata field or a tensor name's layer part; -1 when it is not.
  const auto whole = [](const std::string& text) -> std::int64_t {
    std::int64_t value = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size() && value >= 0 ? value : -1;
  };
  TTTState state;
  const std::string& frozen = meta("frozen");
  if (frozen != "0" && frozen != "1")
    fail("TTT state " + file.string() + ": metadata 'frozen' is '" + frozen + "', expected 0 or 1");
  state.frozen = frozen == "1";
  std::vector<std::int64_t> listed;
  try {
    listed = parse_int_list(meta("layers"), "metadata 'layers'");
  } catch (const std::invalid_argument& e) {
    fail("TTT state " + file.string() + ": " + e.what());
  }
  for (std::int64_t layer : listed) {
    const std::string key = "layers." + std::to_string(layer) + ".updates";
    const std::int64_t updates = whole(meta(key));
    if (layer < 0 || updates < 0)
      fail("TTT state " + file.string() + ": metadata 'layers' lists " + std::to_string(layer) +
           " with '" + key + "' = '" + meta(key) + "', expected a layer >= 0 with a whole number "
           "of updates");
    state.layers[layer].weight.updates = updates;
  }
  // The first tensor in the model's dtype, which all others in it must share (one run wrote them).
  std::optional<std::pair<std::string, at::ScalarType>> model_dtype;
  for (auto& [name, tensor] : io::load_tensors(file, device)) {
    const auto dot1 = name.find('.'), dot2 = name.find('.', dot1 + 1);
    std::int64_t layer = -1;
    if (name.rfind("layers.", 0) == 0 && dot2 != std::string::npos)
      layer = whole(name.substr(dot1 + 1, dot2 - dot1 - 1));
    if (at::isFloatingType(tensor.scalar_type()) && !model::host_scalar<bool>(at::isfinite(tensor).all()))
      fail("TTT state " + file.string() + ": tensor '" + name + "' holds NaN or infinite values");
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
    // SPEC.md "Fast weight": the fp32 precision's W - W0 (delta, left, right) is fp32; the
    // upstream precision's W (full) and the pending tails are in the dtype the model ran in.
    const at::ScalarType type = tensor.scalar_type();
    const std::string is =
        "TTT state " + file.string() + ": tensor '" + name + "' is " + dtype_name(type);
    if (slot == &s.weight.delta || slot == &s.weight.left || slot == &s.weight.right) {
      if (type != at::kFloat)
        fail(is + ", expected F32 (the fp32 precision mode keeps W - W0 in fp32)");
    } else if (type != at::kBFloat16 && type != at::kHalf && type != at::kFloat) {
      fail(is + ", expected the model's dtype, BF16, F16 or F32 (the upstream precision mode's W "
           "and the pending tails are in the dtype the model runs in)");
    } else if (!model_dtype) {
      model_dtype.emplace(name, type);
    } else if (model_dtype->second != type) {
      fail(is + ", expected " + dtype_name(model_dtype->second) + " like '" + model_dtype->first +
           "' (W and the pending tails are all in the model's dtype)");
    }
    *slot = tensor;
  }
  for (const auto& [layer, s] : state.layers)
    if (s.weight.left.defined() != s.weight.right.defined() ||
        s.tail_x.defined() != s.tail_t.defined())
      fail("TTT state " + file.string() + ": layer " + std::to_string(layer) +
           " is incomplete (left/right or tail_x/tail_t without its partner)");
  return state;
}

void TTTState::check(const TTTConfig& config, const ModelConfig& model, at::ScalarType dtype,
                     const std::string& source) const {
  const std::int64_t D = model.hidden_size, F = model.intermediate_size;
  for (const auto& [layer, s] : layers) {
    const std::string where = "TTT state " + source + ": layer " + std::to_string(layer);
    if (!config.is_ttt_layer(layer))
      fail(where + " is not a TTT layer of this model (the model has " +
           std::to_string(model.num_hidden_layers) + " layers; check ttt_layers / --ttt-layers)");
    // The upstream precision's W and the tails are in the dtype the model ran in: a state
    // continues only a run of its own --dtype (libtorch would fail mid-forward otherwise).
    for (const auto& [name, tensor] : {std::pair<const char*, const at::Tensor*>{"full", &s.weight.full},
                                       {"tail_x", &s.tail_x},
                                       {"tail_t", &s.tail_t}})
      if (tensor->defined() && tensor->scalar_type() != dtype)
        fail(where + ": tensor '" + name + "' is " + dtype_name(tensor->scalar_type()) +
             ", expected " + dtype_name(dtype) +
             ", the dtype the model runs in (a state continues only a run of its own --dtype)");
    // The tensors say which precision mode wrote the state. Under the other mode the fast weight
    // or the new updates would be silently lost: each mode's update writes only its own form.
    const FastWeight& w = s.weight;
    const bool upstream = config.precision == Precision::upstream;
    const char* writer = upstream ? "fp32" : "upstream";
    const char* foreign = !upstream          ? (w.full.defined() ? "full" : nullptr)
                          : w.delta.defined() ? "delta"
                          : w.left.defined()  ? "left"
                                              : nullptr;
    if (foreign)
      fail(where + ": tensor '" + foreign + "' is a fast weight of the " + writer +
           " precision mode, but this run's TTT precision is " + to_string(config.precision) +
           "; continue the state with --ttt-precision " + writer + " (config.json ttt_precision)");
    std::int64_t batch = -1;
    // Each tensor's expected shape; -1: any size (the batch once, the rank, the tail rows).
    const auto expect = [&](const char* name, const at::Tensor& t, std::vector<std::int64_t> shape) {
      if (!t.defined()) return;
      if (shape[0] == -1) shape[0] = batch;
      bool ok = t.dim() == static_cast<std::int64_t>(shape.size());
      for (std::size_t i = 0; ok && i < shape.size(); ++i)
        ok = shape[i] < 0 || t.size(static_cast<std::int64_t>(i)) == shape[i];
      if (!ok) {
        std::string want = "[";
        for (std::size_t i = 0; i < shape.size(); ++i)
          want += (i ? ", " : "") + (shape[i] < 0 ? std::string("*") : std::to_string(shape[i]));
        fail(where + ": tensor '" + name + "' has shape " + c10::str(t.sizes()) + ", expected " +
             want + "] for this model (hidden_size " + std::to_string(D) +
             ", intermediate_size " + std::to_string(F) + ")");
      }
      if (batch < 0) batch = t.size(0);
    };
    expect("full", s.weight.full, {-1, D, F});
    expect("delta", s.weight.delta, {-1, D, F});
    expect("left", s.weight.left, {-1, D, -1});
    expect("right", s.weight.right, {-1, s.weight.left.defined() ? s.weight.left.size(-1) : -1, F});
    expect("tail_x", s.tail_x, {-1, -1, D});
    expect("tail_t", s.tail_t, {-1, s.tail_rows(), D});
    if (s.tail_rows() >= config.chunk)
      fail(where + ": the pending tail holds " + std::to_string(s.tail_rows()) +
           " rows, expected fewer than the chunk size " + std::to_string(config.chunk));
  }
}

Graft::Graft(const TTTConfig& config, const TTTParams& params, TTTState& state)
    : config_(config), params_(params), single_(&state) {
  for (std::int64_t layer : config.layers) params.at(layer);  // fail now, not mid-forward
}

Graft::Graft(const TTTConfig& config, const TTTParams& params, TTTRows& rows)
    : config_(config), params_(params), rows_(&rows) {
  for (std::int64_t layer : config.layers) params.at(layer);
}

bool Graft::handles(std::int64_t layer) const { return config_.is_ttt_layer(layer); }

at::Tensor Graft::forward(const model::MlpContext& context) {
  if (!handles(context.layer))
    fail("TTT graft called for layer " + std::to_string(context.layer) +
         ", which is not a TTT layer");
  seen_weights_[context.layer] = &context.weights;
  const at::Tensor& target =
      config_.target == Target::hidden_states ? context.x : context.embeddings;
  if (rows_) return forward_rows(context, target);
  // Rows in lockstep share one tail: pad rows would enter the fast-weight stream and shift the
  // chunk boundaries of their row (SPEC.md S9.16). A frozen state is only read, so padding is
  // harmless there; per-row states (TTTRows) stream only each row's real tokens.
  if (context.padded && !single_->frozen)
    fail("TTT graft: padded batches need one state per row (TTTRows) unless frozen: pad rows "
         "would enter the shared fast-weight updates");
  return stream_forward(config_, params_.at(context.layer), context.weights,
                        single_->layers[context.layer], context.x, target, single_->frozen);
}

at::Tensor Graft::forward_rows(const model::MlpContext& context, const at::Tensor& target) {
  TTTRows& rows = *rows_;
  const at::Tensor& x = context.x;
  const std::int64_t batch = x.size(0);
  if (static_cast<std::size_t>(batch) != rows.size())
    fail("TTT graft: the forward call has batch " + std::to_string(batch) + " but " +
         std::to_string(rows.size()) + " row states are bound");
  const model::MlpWeights& weights = context.weights;
  const at::Tensor& w0 = weights.down_proj;
  const LayerParams& params = params_.at(context.layer);
  // One batched Z and one base product for every row; rows whose fast weight is still W0 and
  // that stream no update take their output from it.
  const at::Tensor z = intermediate(x, weights);
  const at::Tensor base = at::linear(z, w0);
  const at::Tensor& valid = context.valid_host;  // decisions on the host: no device read
  std::vector<at::Tensor> outs;
  outs.reserve(static_cast<std::size_t>(batch));
  for (std::int64_t b = 0; b < batch; ++b) {
    TTTState& row = rows[static_cast<std::size_t>(b)];
    LayerState& s = row.layers[context.layer];
    s.w0 = w0;
    const FastWeight& w = s.weight;
    const bool untouched = !w.full.defined() && !w.delta.defined() && !w.left.defined();
    const at::Tensor zb = z.narrow(0, b, 1);
    if (row.frozen) {
      outs.push_back(untouched ? base.narrow(0, b, 1) : w.apply(zb, w0));
      continue;
    }
    const bool all_real = !valid.defined() || valid[b].all().item<bool>();  // host tensor
    if (all_real) {
      outs.push_back(stream_forward(config_, params, weights, s, x.narrow(0, b, 1),
                                    target.narrow(0, b, 1), false, zb));
      continue;
    }
    // A live row with padding streams its real tokens only; its pad rows get the base output
    // (they are masked out of attention, so nothing reads them).
    const at::Tensor real = valid[b].nonzero().view(-1).to(x.device());
    at::Tensor out = base.narrow(0, b, 1).clone();
    if (real.numel() > 0)
      out.index_copy_(1, real,
                      stream_forward(config_, params, weights, s,
                                     x.narrow(0, b, 1).index_select(1, real),
                                     target.narrow(0, b, 1).index_select(1, real), false,
                                     zb.index_select(1, real)));
    outs.push_back(out);
  }
  return at::cat(outs, 0);
}

void Graft::drop_tails() {
  auto finish = [&](TTTState& state) {
    if (config_.partial_chunk == PartialChunk::flush)
      for (auto& [layer, s] : state.layers) {
        if (s.tail_rows() == 0) continue;
        auto it = seen_weights_.find(layer);
        if (it == seen_weights_.end())
          fail("TTT graft: cannot flush layer " + std::to_string(layer) +
               ": the decoder never passed its weights through this graft");
        flush_tail(config_, params_.at(layer), *it->second, s);
      }
    state.drop_tails();
  };
  if (single_) finish(*single_);
  if (rows_)
    for (TTTState& state : *rows_) finish(state);
}

}  // namespace tttmem::ttt
