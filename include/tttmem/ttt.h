// ttt: In-Place TTT (ByteDance-Seed/In-Place-TTT) grafted onto chosen Qwen3 MLP layers: its
// config, its parameters (ttt_proj, ttt_conv), the fast-weight math (sequential chunk loop,
// parallel cumsum form, streaming with pending tails) and TTTState, the per-sequence memory.
// Ground truth: SPEC.md "In-Place TTT reference" (T1-T8); deviations are listed in DECISIONS.md
// `## ttt`.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/model.h"

namespace tttmem::ttt {

// Where the update's target rows come from: the MLP input X, or the raw token embeddings.
enum class Target { hidden_states, input_embed };
// A partial final chunk: `drop` never writes it into W (upstream); `flush` writes it, zero-padded
// like upstream pads it, when the stream ends (Graft::drop_tails, or a stateless call).
enum class PartialChunk { drop, flush };
// `upstream`: W is one dense matrix in the model dtype, rounded in upstream's order after every
// step (bit-faithful in bf16). `fp32`: the delta W - W0 accumulates in fp32, low-rank while small.
enum class Precision { upstream, fp32 };

Target parse_target(const std::string& name);           // throws naming the value and the choices
PartialChunk parse_partial_chunk(const std::string& name);
Precision parse_precision(const std::string& name);
std::string to_string(Target target);
std::string to_string(PartialChunk policy);
std::string to_string(Precision precision);

struct TTTConfig {
  // Defaults are upstream's getattr fallbacks (SPEC.md T1): no layers, chunk 8192, lr 0.3.
  std::vector<std::int64_t> layers;  // sorted, unique
  std::int64_t chunk = 8192;
  double lr = 0.3;
  Target target = Target::hidden_states;
  bool proj = true;  // false: V = conv(T), no ttt_proj tensor
  PartialChunk partial_chunk = PartialChunk::drop;
  Precision precision = Precision::upstream;
  // fp32 precision: the delta stays as factors while their rank is below this; -1 means
  // min(D, F) / 2, 0 means always dense.
  std::int64_t max_low_rank = -1;

  // "paper": every 6th layer of the model, chunk 4096, lr 3. "seed": layers 0,6,...,30,
  // chunk 64, lr 3.0. "gemma3-study": every 6th layer, chunk 2048, lr 0.3 (the Gemma3 adapter
  // study's). "gemma3-global": the same on the config's full-attention layers. Validated
  // against `model`.
  static TTTConfig preset(const std::string& name, const ModelConfig& model);
  static TTTConfig preset_fields(const std::string& name, const ModelConfig& model);  // unvalidated
  // The config.json fields ttt_mode, ttt_layers, ttt_chunk, ttt_lr, ttt_target, ttt_proj (and
  // tttmem's ttt_partial_chunk, ttt_precision); missing fields keep the defaults above.
  // ttt_mode false means no TTT layers. Validated against `model`; errors name `source`.
  static TTTConfig from_json(const nlohmann::json& raw, const ModelConfig& model,
                             const std::string& source);
  // The same without validate(): for callers that override fields first (the CLI's --ttt-*
  // flags) and validate once afterwards. Type errors still throw, naming `source`.
  static TTTConfig fields_from_json(const nlohmann::json& raw, const std::string& source);
  nlohmann::json to_json() const;  // the same field names; round-trips through from_json

  // Throws when a layer is outside [0, num_hidden_layers) (upstream silently drops it), chunk
  // <= 0, lr not finite, or max_low_rank < -1.
  void validate(const ModelConfig& model) const;
  void set_layers(std::vector<std::int64_t> layers);  // stores them sorted and unique
  bool is_ttt_layer(std::int64_t layer) const;
};
std::vector<std::int64_t> parse_layers(const std::string& csv);  // "0,6,12" (flags)
const std::vector<std::string>& preset_names();  // TTTConfig::preset's names

// The slow TTT parameters of one layer, as stored: proj [D, D] ([out, in]), conv [D, 1, 5].
struct LayerParams {
  at::Tensor proj;  // undefined when TTTConfig::proj is false
  at::Tensor conv;
};

enum class Init { dense, diagonal };  // dense: N(0, 0.02^2) (inference code); diagonal: training code's
Init parse_init(const std::string& name);

// How a TTT checkpoint's parameters were made, kept in its safetensors metadata so that `--ttt
// CKPT` needs no flags and a flag that contradicts it is caught (SPEC.md "TTT resolution").
struct Recipe {
  TTTConfig config;
  std::string preset;  // one of preset_names(); empty: none
  std::string init;    // how tensors absent from the starting checkpoint were made; empty: none
  std::map<std::string, std::string> to_metadata() const;
  // std::nullopt when the checkpoint records no recipe (written before recipes, or converted
  // from elsewhere). Throws naming the file and field when a recorded one is malformed.
  static std::optional<Recipe> from_metadata(const io::Checkpoint& checkpoint);
};

std::string proj_name(std::int64_t layer);  // model.layers.{i}.mlp.ttt_proj.weight
std::string conv_name(std::int64_t layer);  // model.layers.{i}.mlp.ttt_conv.weight
// The layers `checkpoint` holds a ttt_proj or ttt_conv tensor for, sorted.
std::vector<std::int64_t> checkpoint_layers(const io::Checkpoint& checkpoint);

class TTTParams {
 public:
  std::map<std::int64_t, LayerParams> layers;

  // Fresh parameters: proj per `init` with std `model.initializer_range`, conv zero (so the
  // graft starts as an exact no-op), drawn on the CPU in fp32 from `seed` then converted.
  static TTTParams init(const TTTConfig& config, const ModelConfig& model, Init init,
                        std::uint64_t seed, const at::Device& device, at::ScalarType dtype);
  // From the model checkpoint or a separate TTT checkpoint. Shapes are checked against the
  // model and values must be finite. A missing tensor is an error, unless `missing` says how to
  // initialise it.
  static TTTParams load(const io::Checkpoint& checkpoint, const TTTConfig& config,
                        const ModelConfig& model, const at::Device& device, at::ScalarType dtype,
                        std::optional<Init> missing = std::nullopt, std::uint64_t seed = 0);
  // HF key names, so the file loads back as a TTT checkpoint; `recipe` goes into its metadata.
  void save(const std::filesystem::path& file, const Recipe& recipe) const;

  void zero();                // the seed's conditions A and C
  void scale(double alpha);   // multiplies every tensor (conv and proj)
  TTTParams snapshot() const; // a deep copy
  void restore(const TTTParams& snapshot);  // copies values back into the existing tensors
  const LayerParams& at(std::int64_t layer) const;  // throws naming the layer
};

// ---- the math (SPEC.md T3). Rows are tokens; every tensor has a leading batch dimension B, and
// each batch row has its own fast weight.

// Depthwise 5-tap cross-correlation along the sequence, each chunk of `chunk` rows on its own
// with 2 zero rows of padding at both edges. t: [B, N*chunk, D] -> same shape. CUDA tensors
// outside a gradient-recording pass go through kernels::chunked_conv5, the rest through
// chunk_conv_libtorch (at::conv1d over the chunks), its twin and oracle.
at::Tensor chunk_conv(const at::Tensor& t, const at::Tensor& conv, std::int64_t chunk);
at::Tensor chunk_conv_libtorch(const at::Tensor& t, const at::Tensor& conv, std::int64_t chunk);
// V^T = Wp^T Tc^T ([..., C, D] -> [..., D, C]), i.e. V = Tc Wp with Wp as stored (SPEC.md T3.3:
// not Tc Wp^T), contracted in upstream's order (SPEC.md T3.4). V = Tc when proj is undefined.
at::Tensor target_values_t(const at::Tensor& tc, const at::Tensor& proj);

// The fast down-projection of one layer: W = W0 + delta, W0 = down_proj [D, F] (never modified).
// Stored tensors are never written in place, so copies of a FastWeight share storage safely.
struct FastWeight {
  at::Tensor full;         // upstream precision: the whole W [B, D, F], model dtype; undefined = W0
  at::Tensor delta;        // fp32 precision, dense: W - W0 [B, D, F] fp32
  at::Tensor left, right;  // fp32 precision, low-rank: W - W0 = left @ right, [B, D, r], [B, r, F]
  std::int64_t updates = 0;

  std::int64_t rank() const;  // columns of `left` (0 when dense or untouched)
  // Z W^T for z [B, M, F] -> [B, M, D] in z's dtype.
  at::Tensor apply(const at::Tensor& z, const at::Tensor& w0) const;
  // W += lr V^T Z for one chunk (vt = V^T [B, D, C], z [B, C, F]), in upstream's contraction and
  // rounding order (SPEC.md T3.4) or in fp32.
  void update(const at::Tensor& vt, const at::Tensor& z, const at::Tensor& w0,
              const TTTConfig& config);
  // W as [B, D, F] ([1, D, F] before any update), fp32 under fp32 precision.
  at::Tensor materialize(const at::Tensor& w0) const;
};

struct ChunkedResult {
  at::Tensor out;  // [B, L, D]
  FastWeight weight;
};
// The inference MLP (SPEC.md T3.2-T3.6): the sequential chunk loop over rows that start at a chunk
// boundary. Chunk k's output uses the weight from before its own update; every full chunk
// updates; a partial final chunk updates only when `flush_partial`.
ChunkedResult chunked_forward(const TTTConfig& config, const LayerParams& params,
                              const model::MlpWeights& weights, const at::Tensor& x,
                              const at::Tensor& t, FastWeight weight, bool flush_partial);
// The training MLP (SPEC.md T3.6): every dW at once, a prefix sum over chunks, one batched product
// for every O_k. Differentiable (no in-place ops, nothing detached). Upstream precision only;
// same outputs and final W as chunked_forward.
ChunkedResult parallel_forward(const TTTConfig& config, const LayerParams& params,
                               const model::MlpWeights& weights, const at::Tensor& x,
                               const at::Tensor& t, bool flush_partial);

// ---- the per-sequence memory

// One TTT layer's streaming state (SPEC.md T4.1): the fast weight and the rows since the last chunk
// boundary (X and target rows; Z is recomputed from X when the chunk completes).
struct LayerState {
  FastWeight weight;
  at::Tensor tail_x, tail_t;  // [B, r, D], undefined when r = 0
  at::Tensor w0;  // the layer's down_proj as last seen (a shared handle, not saved): scale_delta
  std::int64_t tail_rows() const;
};

// The memory of one sequence (a batch row; or B rows that move in lockstep, as `forward` uses
// it): per TTT layer its fast weight and tails, and whether it is frozen. A batch of sequences
// at different positions is a TTTRows, one TTTState per row, so every row has its own fast
// weight, tail length and frozen flag.
class TTTState {
 public:
  std::map<std::int64_t, LayerState> layers;  // created on first use
  bool frozen = false;  // true: no updates and no tail growth (probes leave no trace)

  void reset();                    // fresh: W = W0, no tails, not frozen
  void zero_delta();               // W = W0 again, tails kept
  // W = W0 + alpha (W - W0), tails kept. Under upstream precision W0 must be known (a forward
  // ran since load).
  void scale_delta(double alpha);
  // Keeps the fast weights, discards the pending tails (the seed's KV-stripped clone; the KV
  // cache is the model's). Graft::drop_tails first flushes them under PartialChunk::flush.
  void drop_tails();
  // Cheap (tensors are shared, never written in place); snapshot/restore is copy-assignment.
  TTTState clone() const { return *this; }

  // safetensors via io::save_tensors; the metadata records the update counters (the precision
  // mode is implied by the tensors: `full` upstream, `delta`/`left`/`right` fp32).
  void save(const std::filesystem::path& file) const;
  // Throws naming the file and field when the metadata is malformed, a tensor is not finite or
  // not of its form's dtype (fp32 for the fp32 delta; one float dtype for W and the tails).
  static TTTState load(const std::filesystem::path& file, const at::Device& device);
  // Throws naming `source`, the layer and the tensor unless every layer is one of `config`'s TTT
  // layers, every tensor has the shape this model gives it, the fast weight is of `config`'s
  // precision mode, and W and the tails are in `dtype`, the model's (a state from a differently
  // shaped model, config or run would otherwise fail deep inside the forward, or silently lose
  // its fast weight).
  void check(const TTTConfig& config, const ModelConfig& model, at::ScalarType dtype,
             const std::string& source) const;
};

// A batch's memories, one per row. Copies share tensors (copy-on-write: nothing is written in
// place), so expanding one ingested memory to the probes of its sample costs no weight copy.
using TTTRows = std::vector<TTTState>;
TTTRows expand(const TTTState& state, std::size_t rows);             // `rows` copies of one memory
TTTRows select(const TTTRows& rows, const std::vector<std::size_t>& keep);  // in the given order
TTTRows stack(const std::vector<TTTRows>& parts);                    // concatenated in order

// One streaming step of one TTT layer (SPEC.md T4.2): prepends the tail, runs the chunk loop when
// the stream reaches a chunk boundary, returns the new rows' output and keeps the new tail. `z`,
// when given, is model::mlp_intermediate(x) already computed by the caller (it is not recomputed).
at::Tensor stream_forward(const TTTConfig& config, const LayerParams& params,
                          const model::MlpWeights& weights, LayerState& state,
                          const at::Tensor& x, const at::Tensor& t, bool frozen,
                          const at::Tensor& z = {});
// Writes a pending partial tail into W (zero-padded to a chunk) and clears it.
void flush_tail(const TTTConfig& config, const LayerParams& params,
                const model::MlpWeights& weights, LayerState& state);

// The graft the decoder calls on TTT layers (model::MlpOverride). Binds a config, parameters and
// either one state (every batch row in lockstep) or one state per batch row (TTTRows); all must
// outlive it.
class Graft : public model::MlpOverride {
 public:
  Graft(const TTTConfig& config, const TTTParams& params, TTTState& state);
  // Row b of every forward call streams through rows[b]; the call's batch must be rows.size().
  // Padding among the new tokens is allowed: a live row streams only its real tokens, a frozen
  // row is only read. Z and the base product Z W0^T are one batched op over all rows; each row
  // adds its own fast weight's part.
  Graft(const TTTConfig& config, const TTTParams& params, TTTRows& rows);
  bool handles(std::int64_t layer) const override;
  at::Tensor forward(const model::MlpContext& context) override;
  // The layer runs with `down_proj` as W0 instead of the model's (an ablation's perturbed
  // weight), leaving the model untouched.
  void override_down_proj(std::int64_t layer, at::Tensor down_proj);
  // End of a stream: TTTState::drop_tails on every state, after flushing the tails under
  // PartialChunk::flush (with the layer weights the decoder last passed, which belong to the
  // model).
  void drop_tails();

 private:
  at::Tensor forward_rows(const model::MlpContext& context, const at::Tensor& target);
  // Z W^T for the bound rows `rows` (indices into them, in order) of a call whose
  // Z W0^T is `base`: one batched product per form of fast weight.
  at::Tensor apply_rows(std::int64_t layer, const at::Tensor& z, const at::Tensor& base,
                        const at::Tensor& w0, const std::vector<std::int64_t>& rows);
  // The rows' stacked fast weights of one form, rebuilt only when a part changed.
  struct Stack {
    std::vector<at::Tensor> parts;
    at::Tensor value;
  };
  const at::Tensor& stacked(std::int64_t layer, char form, const std::vector<at::Tensor>& parts,
                            const std::function<at::Tensor()>& build);
  // `rows` as an index tensor on `device`, uploaded once while it is asked for.
  at::Tensor device_index(const std::vector<std::int64_t>& rows, const at::Device& device);
  const TTTConfig& config_;
  const TTTParams& params_;
  TTTState* single_ = nullptr;
  TTTRows* rows_ = nullptr;
  std::map<std::int64_t, at::Tensor> down_proj_;
  std::map<std::int64_t, model::MlpWeights> seen_weights_;  // what each layer last ran with
  std::map<std::pair<std::int64_t, char>, Stack> stacks_;
  std::map<std::vector<std::int64_t>, at::Tensor> indices_;
};

// The batch decoder's per-row TTT memory (model::RowMemory): one TTTState per decoder row,
// streamed through one Graft over the rows of each forward.
class DecoderMemory : public model::RowMemory {
 public:
  DecoderMemory(const TTTConfig& config, const TTTParams& params);
  DecoderMemory(const DecoderMemory&) = delete;  // the graft holds bound_
  DecoderMemory& operator=(const DecoderMemory&) = delete;
  // base_after_prefill: once the row's prompt is read its fast weights go back to W0 and freeze,
  // so its answer is decoded with the model's own down_proj (the adapter study's ttt_paper).
  void add(std::int64_t row, TTTState state, bool base_after_prefill = false);
  void erase(std::int64_t row);
  Graft& graft() { return graft_; }
  model::MlpOverride* bind(const std::vector<std::int64_t>& rows) override;
  void unbind() override;
  void prefilled(const std::vector<std::int64_t>& rows) override;

 private:
  std::map<std::int64_t, TTTState> states_;
  std::set<std::int64_t> base_after_prefill_;
  std::vector<std::int64_t> bound_ids_;
  TTTRows bound_;
  Graft graft_;
};

}  // namespace tttmem::ttt
