// ttt: streaming (SPEC.md T4.2), TTTState (the per-sequence memory) and the decoder graft.
#include <ATen/ATen.h>

#include <algorithm>
#include <charconv>
#include <functional>
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
  const at::Tensor z_new = z.defined() ? z : model::mlp_intermediate(x, weights);
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
  model::MlpWeights& weights = seen_weights_[context.layer] = context.weights;
  if (auto it = down_proj_.find(context.layer); it != down_proj_.end()) weights.down_proj = it->second;
  const model::MlpContext own{context.layer, context.x, context.embeddings, weights,
                              context.padded, context.valid, context.valid_host};
  const at::Tensor& target =
      config_.target == Target::hidden_states ? context.x : context.embeddings;
  if (rows_) return forward_rows(own, target);
  // Rows in lockstep share one tail: pad rows would enter the fast-weight stream and shift the
  // chunk boundaries of their row (SPEC.md S9.16). A frozen state is only read, so padding is
  // harmless there; per-row states (TTTRows) stream only each row's real tokens.
  if (context.padded && !single_->frozen)
    fail("TTT graft: padded batches need one state per row (TTTRows) unless frozen: pad rows "
         "would enter the shared fast-weight updates");
  return stream_forward(config_, params_.at(context.layer), weights,
                        single_->layers[context.layer], context.x, target, single_->frozen);
}

void Graft::override_down_proj(std::int64_t layer, at::Tensor down_proj) {
  if (!handles(layer))
    fail("TTT graft: cannot override down_proj of layer " + std::to_string(layer) +
         ", which is not a TTT layer");
  down_proj_[layer] = std::move(down_proj);
}

at::Tensor Graft::device_index(const std::vector<std::int64_t>& rows,
                                     const at::Device& device) {
  // An upload from pageable host memory waits for the GPU's queue; a decode window's steps ask
  // for the same index lists, so each is uploaded once per window.
  auto it = indices_.find(rows);
  if (it == indices_.end()) {
    if (indices_.size() >= 256) indices_.clear();
    it = indices_.emplace(rows, at::tensor(rows, at::kLong).to(device)).first;
  }
  return it->second;
}

const at::Tensor& Graft::stacked(std::int64_t layer, char form, const std::vector<at::Tensor>& parts,
                                 const std::function<at::Tensor()>& build) {
  // A decode step's rows and their fast weights are usually the previous step's: the stack is
  // reused while the parts are the same tensors (they are never written in place, and the cache
  // holds them, so a match cannot be a new tensor at a freed address).
  Stack& stack = stacks_[{layer, form}];
  const bool same = stack.parts.size() == parts.size() &&
                    std::equal(parts.begin(), parts.end(), stack.parts.begin(),
                               [](const at::Tensor& a, const at::Tensor& b) { return a.is_same(b); });
  if (!same) {
    stack.parts = parts;
    stack.value = build();
  }
  return stack.value;
}

at::Tensor Graft::apply_rows(std::int64_t layer, const at::Tensor& z, const at::Tensor& base,
                             const at::Tensor& w0, const std::vector<std::int64_t>& rows) {
  // Rows grouped by the form of their fast weight.
  std::vector<std::int64_t> plain, full, delta, low;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const FastWeight& w = (*rows_)[static_cast<std::size_t>(rows[i])].layers.at(layer).weight;
    (w.full.defined() ? full : w.delta.defined() ? delta : w.left.defined() ? low : plain)
        .push_back(static_cast<std::int64_t>(i));
  }
  const auto batch = static_cast<std::int64_t>(rows.size());
  const bool everyone = batch == base.size(0);  // rows are 0..B-1 in order (forward_rows)
  if (plain.size() == rows.size()) return everyone ? base : base.index_select(0, device_index(rows, z.device()));
  const auto weights_of = [&](const std::vector<std::int64_t>& group,
                              at::Tensor FastWeight::*part) {
    std::vector<at::Tensor> out;
    for (std::int64_t i : group)
      out.push_back((*rows_)[static_cast<std::size_t>(rows[static_cast<std::size_t>(i)])]
                        .layers.at(layer).weight.*part);
    return out;
  };
  const auto batch_rows = [&](const std::vector<std::int64_t>& group) {
    std::vector<std::int64_t> out;
    for (std::int64_t i : group) out.push_back(rows[static_cast<std::size_t>(i)]);
    return device_index(out, z.device());
  };
  at::Tensor out = at::empty({batch, z.size(1), w0.size(0)}, base.options());
  if (!plain.empty())
    out.index_copy_(0, device_index(plain, z.device()), base.index_select(0, batch_rows(plain)));
  // Dense forms: one product per distinct W, over every row holding it (the probes of one
  // sample share their memory's W until they update it). Not stacked: each W is read once per
  // call either way, and a stack would double the largest tensors the batch holds.
  const auto per_weight = [&](const std::vector<std::int64_t>& group, at::Tensor FastWeight::*part,
                              const std::function<void(const std::vector<std::int64_t>&,
                                                       const at::Tensor&)>& apply) {
    std::vector<std::pair<at::Tensor, std::vector<std::int64_t>>> by_weight;
    const std::vector<at::Tensor> parts = weights_of(group, part);
    for (std::size_t i = 0; i < group.size(); ++i) {
      auto it = std::find_if(by_weight.begin(), by_weight.end(),
                             [&](const auto& entry) { return entry.first.is_same(parts[i]); });
      if (it == by_weight.end()) it = by_weight.insert(by_weight.end(), {parts[i], {}});
      it->second.push_back(group[i]);
    }
    for (const auto& [w, members] : by_weight) apply(members, w);
  };
  per_weight(full, &FastWeight::full, [&](const std::vector<std::int64_t>& members, const at::Tensor& w) {
    out.index_copy_(0, device_index(members, z.device()),  // upstream precision: Z W^T
                    at::matmul(z.index_select(0, batch_rows(members)), w.transpose(-1, -2)));
  });
  // fp32 precision: Z W0^T (shared) plus Z (W - W0)^T in fp32, rounded once.
  const auto add_correction = [&](const std::vector<std::int64_t>& group, const at::Tensor& correction) {
    const at::Tensor index = batch_rows(group);
    out.index_copy_(0, device_index(group, z.device()),
                    (base.index_select(0, index).to(at::kFloat) + correction).to(z.scalar_type()));
  };
  per_weight(delta, &FastWeight::delta, [&](const std::vector<std::int64_t>& members, const at::Tensor& d) {
    add_correction(members, at::matmul(z.index_select(0, batch_rows(members)).to(at::kFloat),
                                       d.transpose(-1, -2)));
  });
  if (!low.empty()) {
    // Factors zero-padded to the longest rank: the padding adds exact zeros.
    const std::vector<at::Tensor> lefts = weights_of(low, &FastWeight::left);
    const std::vector<at::Tensor> rights = weights_of(low, &FastWeight::right);
    std::int64_t rank = 0;
    for (const at::Tensor& l : lefts) rank = std::max(rank, l.size(-1));
    const at::Tensor& left = stacked(layer, 'l', lefts, [&] {
      std::vector<at::Tensor> padded;
      for (const at::Tensor& l : lefts) padded.push_back(at::constant_pad_nd(l, {0, rank - l.size(-1)}));
      return at::cat(padded, 0);
    });
    const at::Tensor& right = stacked(layer, 'r', rights, [&] {
      std::vector<at::Tensor> padded;
      for (const at::Tensor& r : rights)
        padded.push_back(at::constant_pad_nd(r, {0, 0, 0, rank - r.size(-2)}));
      return at::cat(padded, 0);
    });
    const at::Tensor zf = z.index_select(0, batch_rows(low)).to(at::kFloat);
    add_correction(low, at::matmul(at::matmul(zf, right.transpose(-1, -2)), left.transpose(-1, -2)));
  }
  return out;
}

at::Tensor Graft::forward_rows(const model::MlpContext& context, const at::Tensor& target) {
  TTTRows& rows = *rows_;
  const at::Tensor& x = context.x;
  const std::int64_t batch = x.size(0), n = x.size(1);
  if (static_cast<std::size_t>(batch) != rows.size())
    fail("TTT graft: the forward call has batch " + std::to_string(batch) + " but " +
         std::to_string(rows.size()) + " row states are bound");
  const model::MlpWeights& weights = context.weights;
  const at::Tensor& w0 = weights.down_proj;
  const LayerParams& params = params_.at(context.layer);
  // One batched Z and one base product Z W0^T for every row.
  const at::Tensor z = model::mlp_intermediate(x, weights);
  const at::Tensor base = at::linear(z, w0);
  const at::Tensor& valid = context.valid_host;  // decisions on the host: no device read
  // Rows that only read their fast weight in this call share one batched application: frozen
  // rows, and live rows whose stream does not reach a chunk boundary (their real tokens join the
  // tail, as stream_forward keeps them). A live row reaching a boundary runs its chunk loop alone.
  std::vector<std::int64_t> reading;
  // A streaming row and the positions of its real tokens (undefined: every position is real).
  std::vector<std::pair<std::int64_t, at::Tensor>> streaming;
  for (std::int64_t b = 0; b < batch; ++b) {
    TTTState& row = rows[static_cast<std::size_t>(b)];
    LayerState& s = row.layers[context.layer];
    s.w0 = w0;
    if (row.frozen) {
      reading.push_back(b);
      continue;
    }
    const bool all_real = !valid.defined() || valid[b].all().item<bool>();  // host tensor
    const at::Tensor real =
        all_real ? at::Tensor() : valid[b].nonzero().view(-1).to(x.device(), /*non_blocking=*/true);
    const std::int64_t count = all_real ? n : valid[b].sum().item<std::int64_t>();  // host tensor
    if (s.tail_rows() + count >= config_.chunk) {
      streaming.emplace_back(b, real);
      continue;
    }
    reading.push_back(b);
    if (count == 0) continue;
    const at::Tensor xb = all_real ? x.narrow(0, b, 1) : x.narrow(0, b, 1).index_select(1, real);
    const at::Tensor tb =
        all_real ? target.narrow(0, b, 1) : target.narrow(0, b, 1).index_select(1, real);
    // Copied when new: the caller's x may be a reused buffer.
    s.tail_x = s.tail_x.defined() ? at::cat({s.tail_x, xb}, 1) : xb.clone();
    s.tail_t = s.tail_t.defined() ? at::cat({s.tail_t, tb}, 1) : tb.clone();
  }
  if (streaming.empty()) return apply_rows(context.layer, z, base, w0, reading);
  at::Tensor out = base.clone();
  if (!reading.empty())
    out.index_copy_(0, device_index(reading, x.device()),
                    apply_rows(context.layer, z, base, w0, reading));
  for (const auto& [b, real] : streaming) {
    LayerState& s = rows[static_cast<std::size_t>(b)].layers[context.layer];
    const at::Tensor zb = z.narrow(0, b, 1);
    if (!real.defined()) {
      out.narrow(0, b, 1).copy_(stream_forward(config_, params, weights, s, x.narrow(0, b, 1),
                                               target.narrow(0, b, 1), false, zb));
      continue;
    }
    // A live row with padding streams its real tokens only; its pad rows keep the base output
    // (they are masked out of attention, so nothing reads them).
    out.narrow(0, b, 1).index_copy_(
        1, real,
        stream_forward(config_, params, weights, s, x.narrow(0, b, 1).index_select(1, real),
                       target.narrow(0, b, 1).index_select(1, real), false,
                       zb.index_select(1, real)));
  }
  return out;
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
        flush_tail(config_, params_.at(layer), it->second, s);
      }
    state.drop_tails();
  };
  if (single_) finish(*single_);
  if (rows_)
    for (TTTState& state : *rows_) finish(state);
}

DecoderMemory::DecoderMemory(const TTTConfig& config, const TTTParams& params)
    : graft_(config, params, bound_) {}

void DecoderMemory::add(std::int64_t row, TTTState state, bool base_after_prefill) {
  if (!states_.emplace(row, std::move(state)).second)
    fail("TTT decoder memory: row " + std::to_string(row) + " is already held");
  if (base_after_prefill) base_after_prefill_.insert(row);
}

void DecoderMemory::erase(std::int64_t row) {
  states_.erase(row);
  base_after_prefill_.erase(row);
}

void DecoderMemory::prefilled(const std::vector<std::int64_t>& rows) {
  for (std::int64_t row : rows) {
    if (base_after_prefill_.erase(row) == 0) continue;
    TTTState& state = states_.at(row);
    state.zero_delta();
    state.frozen = true;
  }
}

model::MlpOverride* DecoderMemory::bind(const std::vector<std::int64_t>& rows) {
  bound_.clear();
  bound_.reserve(rows.size());
  for (std::int64_t row : rows) {
    auto it = states_.find(row);
    if (it == states_.end()) fail("TTT decoder memory: no state for row " + std::to_string(row));
    bound_.push_back(std::move(it->second));
  }
  bound_ids_ = rows;
  return &graft_;
}

void DecoderMemory::unbind() {
  for (std::size_t i = 0; i < bound_ids_.size(); ++i)
    states_.at(bound_ids_[i]) = std::move(bound_[i]);
  bound_.clear();
  bound_ids_.clear();
}

}  // namespace tttmem::ttt
