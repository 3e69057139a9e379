// model: the decoder of every model family (src/model/transformer.cpp runs it; one file per
// family says what a layer computes: qwen3.cpp, gemma3.cpp), its KV cache and the batch decoder
// (src/model/decoder.cpp).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tttmem/config.h"
#include "tttmem/io.h"

namespace tttmem::model {

// The gate's activation: SwiGLU (Qwen3) or GeGLU with tanh-approximated GELU (Gemma3).
enum class Activation { silu, gelu_tanh };

// The weights of one gated MLP, as stored: gate/up [F, D], down [D, F].
struct MlpWeights {
  at::Tensor gate_proj, up_proj, down_proj;
  Activation activation = Activation::silu;
};

// What the decoder hands a replacement MLP for one layer and one forward call.
struct MlpContext {
  std::int64_t layer = 0;
  const at::Tensor& x;           // the MLP's input (after the pre-MLP norm), [B, L, D], new rows
  const at::Tensor& embeddings;  // token embeddings of the same rows as the model scales them
                                 // (Gemma3: times sqrt(D)), [B, L, D], no norm
  const MlpWeights& weights;
  bool padded = false;  // some row holds padding, in this call or in the KV cache
  // [B, L] bool: which new rows are real tokens (not padding); undefined when all are. `valid`
  // on the model's device, `valid_host` the same on the host (for decisions without a read).
  at::Tensor valid = {};
  at::Tensor valid_host = {};
};

// The seam the TTT graft plugs into: the decoder asks `handles(layer)` and, when true, uses
// `forward` instead of the plain MLP. The model knows nothing else about TTT.
class MlpOverride {
 public:
  virtual ~MlpOverride() = default;
  virtual bool handles(std::int64_t layer) const = 0;
  virtual at::Tensor forward(const MlpContext& context) = 0;  // returns [B, L, D]
};

// The gate's activation: silu (Qwen3) or tanh-approximated gelu (Gemma3).
at::Tensor gate_activation(const at::Tensor& gate, Activation activation);
// act(gate(x)) * up(x), [.., F]: what down_proj multiplies, in HF's op order.
at::Tensor mlp_intermediate(const at::Tensor& x, const MlpWeights& weights);
// The plain MLP: down(act(gate(x)) * up(x)), the exact op order of HF Qwen3MLP / Gemma3MLP.
at::Tensor mlp_forward(const at::Tensor& x, const MlpWeights& weights);


// ---- checkpoint layout -------------------------------------------------------------------------

// How a random-initialised checkpoint fills a tensor: HF's normal(0, initializer_range), or a
// constant (norm weights: 1 for x * w, 0 for Gemma's x * (1 + w)).
enum class Init { normal, ones, zeros };

// One tensor of a checkpoint as Hugging Face names and shapes it.
struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  Init init = Init::normal;
  std::int64_t numel() const;
};
// Every tensor of the config's model family's checkpoint in Hugging Face state-dict order
// (embed, layers, norm, lm_head unless tied). Allocates nothing.
std::vector<TensorSpec> tensor_specs(const ModelConfig& config);

// HF-like random init (TensorSpec::init) in config.torch_dtype on the CPU, drawn from a CPU
// generator seeded with `seed`, tensor by tensor in spec order.
std::vector<std::pair<std::string, at::Tensor>> init_weights(const ModelConfig& config,
                                                             std::uint64_t seed);

// ---- attention backends ------------------------------------------------------------------------

enum class Attention {
  sdpa,  // at::scaled_dot_product_attention (fused kernels where the device has them)
  math,  // HF "eager": matmul, additive mask, fp32 softmax cast back, matmul (checking on CPU)
};

// ---- KV cache ----------------------------------------------------------------------------------

// Preallocated keys/values [B, kv_heads, capacity, head_dim] per layer (post-RoPE, as HF caches
// them). All rows share slot indices; padding is tracked per slot in `valid` so rows with left
// or right padding attend only to their real tokens and take positions from their own count.
class KVCache {
 public:
  KVCache() = default;
  KVCache(std::int64_t num_layers, std::int64_t batch, std::int64_t kv_heads,
          std::int64_t capacity, std::int64_t head_dim, at::ScalarType dtype, at::Device device);

  std::int64_t length() const { return length_; }      // slots filled
  std::int64_t capacity() const { return capacity_; }
  std::int64_t batch() const { return batch_; }
  std::int64_t num_layers() const { return static_cast<std::int64_t>(keys_.size()); }
  const at::Tensor& valid() const { return valid_; }              // [B, capacity] bool
  const at::Tensor& valid_host() const { return valid_host_; }    // the same, on the host
  const at::Tensor& real_counts() const { return real_counts_; }  // [B] int64: real tokens so far
  bool has_padding() const { return padded_; }  // some filled slot is not a real token

  // Writes k, v [B, kv_heads, L, head_dim] at slots [length, length + L) of `layer` and returns
  // the filled views [B, kv_heads, length + L, head_dim]. `length` moves only in `advance`,
  // so every layer of one forward call writes to the same slots.
  std::pair<at::Tensor, at::Tensor> write(std::int64_t layer, const at::Tensor& k,
                                          const at::Tensor& v);
  // Ends a forward call of L new slots; `new_valid_host` [B, L] bool, on the host, marks the
  // real tokens. The cache keeps a host mirror of its validity, so that padding bookkeeping
  // (has_padding, compact) never reads the device.
  void advance(const at::Tensor& new_valid_host);

  // Views of `layer`'s keys and values at slots [from, from + count).
  std::pair<at::Tensor, at::Tensor> slots(std::int64_t layer, std::int64_t from,
                                          std::int64_t count) const;
  void crop(std::int64_t length);  // forget every slot from `length` on

  // Continuous batching (rows come and go; slots stay shared). Row `row` forgets its slots and
  // takes `source`'s row `source_row` (its keys, values and validity) at slots [0, n), n =
  // source.length(); the shared length grows to n when shorter (other rows see padding there).
  void assign_row(std::int64_t row, const KVCache& source, std::int64_t source_row = 0);
  // Moves each row's real slots to the front (order kept) and shortens the shared length to the
  // longest row: frees the slots padding took, so decoding can go on within the capacity.
  void compact();
  // Writes replace each layer's buffers out of place instead of writing into them, so a
  // backward pass through attention over cached keys stays valid after later writes (an in-place
  // write bumps the version of tensors a backward saved): the E2E inner loop's mode. keep_graph:
  // later calls' gradients flow into earlier calls' keys and values (meta-learning); otherwise
  // the stored buffers are detached once the call has them.
  void set_out_of_place(bool keep_graph);
  KVCache clone() const;           // deep copy
  void reset();                    // empty, keeps the memory
  void release();                  // empty, frees the memory (capacity 0)

 private:
  bool host_padded() const;
  std::vector<at::Tensor> keys_, values_;
  at::Tensor valid_, valid_host_, real_counts_;
  std::int64_t batch_ = 0, capacity_ = 0, length_ = 0;
  bool padded_ = false;
  bool out_of_place_ = false, keep_graph_ = false;
};

// ---- the decoder -------------------------------------------------------------------------------

// Runs one decoder layer for a trainer: `body` maps the layer's input [B, L, D] to its output. It
// is pure (reads x and the weights, writes nothing) and stays callable after forward() returned,
// so a hook may run it again, as activation checkpointing does in the backward pass.
class LayerHook {
 public:
  using Body = std::function<at::Tensor(const at::Tensor&)>;
  virtual ~LayerHook() = default;
  virtual at::Tensor run(std::int64_t layer, const at::Tensor& x, const Body& body) = 0;
};

struct ForwardOptions {
  at::Tensor attention_mask;            // [B, L], nonzero = real token; undefined: all real
  MlpOverride* mlp_override = nullptr;  // replaces the MLP of the layers it handles
  bool last_logits_only = false;        // logits [B, 1, V] of each row's last real new token
  // When set, receives num_layers + 1 tensors [B, L, D] in the activation dtype, as HF's
  // output_hidden_states: the embeddings, each layer's output, the last one after the final norm.
  std::vector<at::Tensor>* hidden_states = nullptr;
  // Set: every layer runs through the hook, and the KV cache must be empty and is neither read
  // nor written (attention sees the call's own keys and values only).
  LayerHook* layer_hook = nullptr;
};

class Family;  // what one model family's layers compute (src/model/family.h)

// The decoder of every supported family (config.json's model_type: qwen3, gemma3_text). It owns
// what the families share: token positions under padding, causal and sliding-window masks, RoPE
// tables, the KV cache, the attention kernels, the layer loop with its hooks, the logits; the
// family's file says what an embedding, a layer and the head compute.
class Decoder {
 public:
  // Loads and checks every tensor of `checkpoint` against `config` (a missing tensor or a
  // wrong shape throws naming the tensor and both shapes) and converts it to `dtype` on
  // `device`. Tensors the decoder does not use (e.g. a TTT graft's) are left for their owner.
  Decoder(const ModelConfig& config, const io::Checkpoint& checkpoint, at::Device device,
          at::ScalarType dtype, Attention attention = Attention::sdpa);
  ~Decoder();
  Decoder(Decoder&&) noexcept;
  Decoder& operator=(Decoder&&) noexcept;

  const ModelConfig& config() const { return config_; }
  at::Device device() const { return device_; }
  at::ScalarType dtype() const { return dtype_; }
  Attention attention() const { return attention_; }
  void set_attention(Attention attention) { attention_ = attention; }
  // Sliding-window attention (SPEC.md `model`): a query at position p attends only to the keys
  // at positions p - window + 1 .. p, itself included (transformers' sliding_window), positions
  // counted in the query's own row. One window per layer, 0 = full attention; from config.json
  // (ModelConfig::attention_windows) unless set here. The KV cache keeps every slot and masks.
  const std::vector<std::int64_t>& attention_windows() const { return windows_; }
  // `tokens` > 0: every layer attends to the last `tokens` positions (--attention-window).
  void set_attention_window(std::int64_t tokens);
  const MlpWeights& mlp_weights(std::int64_t layer) const;
  MlpWeights& mlp_weights(std::int64_t layer);  // e.g. a_prime's noise on down_proj
  // Every weight the decoder holds, under its Hugging Face name, in checkpoint order (lm_head
  // absent when tied): a trainer swaps in tensors that require grad, or casts of its master
  // weights, before a forward.
  std::vector<std::pair<std::string, at::Tensor*>> named_weights();

  KVCache make_cache(std::int64_t batch, std::int64_t capacity) const;

  // ids [B, L] int64 (new tokens after what `cache` holds) -> logits [B, L, V] (or [B, 1, V])
  // in the activation dtype; appends the new keys/values to `cache`.
  at::Tensor forward(const at::Tensor& ids, KVCache& cache, const ForwardOptions& options = {});
  // One-shot forward with a cache sized to the input.
  at::Tensor forward(const at::Tensor& ids, const ForwardOptions& options = {});

 private:
  ModelConfig config_;
  at::Device device_;
  at::ScalarType dtype_;
  Attention attention_;
  std::unique_ptr<Family> family_;
  std::vector<at::Tensor> inv_freqs_;  // the family's RoPE tables, on the device
  std::vector<std::int64_t> windows_;  // per layer, 0 = full attention
};

// HF's fp32 upcast for norms and softmax, which keeps an fp64 model in fp64 (finite-difference
// checks need every operation in fp64).
at::ScalarType at_least_fp32(at::ScalarType type);
// RMSNorm in HF Qwen3's op order: fp32 mean of squares, rsqrt(var + eps), cast back, times
// weight. (Gemma3's (1 + w) form, which multiplies before the cast, is in gemma3.cpp.)
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// The CLI's --device/--dtype: "cpu" | "cuda" | "cuda:N"; "auto" (bf16 on cuda, fp32 on cpu) |
// "bf16" | "fp16" | "fp32". Throws naming the flag value; cuda without a device throws too.
at::Device parse_device(const std::string& name);
at::ScalarType parse_compute_dtype(const std::string& name, const at::Device& device);

// ---- the batch decoder (src/model/decoder.cpp): the project's only decode loop ---------------

// The default tokens per prefill forward: a 1,024-token piece's activations at Qwen3-8B shapes
// are 136 MiB a row (SPEC.md "run", batch size).
constexpr std::int64_t kPrefillPiece = 1024;

// Stop ids: the config's eos ids plus the family's end-of-turn tokens (Qwen3: <|endoftext|>
// 151643 and <|im_end|> 151645; Gemma3: <end_of_turn> 106).
std::vector<std::int64_t> default_stop_ids(const ModelConfig& config);

// The token a prompt or training row starts with, where the family's Hugging Face tokenizer adds
// one (add_special_tokens): Gemma3's config bos_token_id; Qwen3: none. Ingested documents do not
// get it unless --ingest-bos (DECISIONS.md `## ttt`).
std::optional<std::int64_t> sequence_bos(const ModelConfig& config);

// Rows of ids as one left-padded [n, width] batch on the host (pad id 0; each row's last token
// at the end), and its mask, true on real tokens: undefined when no row is padded.
struct LeftPadded {
  at::Tensor ids, mask;
};
LeftPadded left_pad(const std::vector<const std::vector<std::int64_t>*>& rows);
// Feeds `batch` into `cache` in forwards of at most `piece` tokens, so that a prefill's
// activations stay those of one piece; returns the last forward's logits (under last_logits_only
// each row's last token's, since every row ends in the last column).
at::Tensor forward_in_pieces(Decoder& model, const LeftPadded& batch, KVCache& cache,
                             ForwardOptions options, std::int64_t piece);

// One row to decode greedily: a prompt, after an optional starting KV cache.
struct DecodeRow {
  std::int64_t id = 0;               // the caller's handle (RowMemory::bind, DecodedRow)
  std::vector<std::int64_t> prompt;  // the new tokens, at least one
  std::shared_ptr<const KVCache> prefix;  // the row starts from this cache's row `prefix_row`
  std::int64_t prefix_row = 0;
  std::int64_t max_new_tokens = 32;
};

struct DecodedRow {
  std::int64_t id = 0;
  std::vector<std::int64_t> generated;  // the stopping token included
  std::string stop_reason;              // DecoderOptions::stop's reason, or "max_new_tokens"
};

// What a row carries besides its KV slots, kept by the caller (the TTT fast weights): before
// every forward the decoder names the call's rows in batch order and takes the MLP override that
// computes them; `unbind` follows when the forward returned.
class RowMemory {
 public:
  virtual ~RowMemory() = default;
  virtual MlpOverride* bind(const std::vector<std::int64_t>& rows) = 0;
  virtual void unbind() {}
  // The rows' prompts have been read (their first token is chosen); decoding follows.
  virtual void prefilled(const std::vector<std::int64_t>& rows) { (void)rows; }
};

// One override for every row, e.g. a TTT graft over one state that a single row streams through.
class SharedOverride : public RowMemory {
 public:
  explicit SharedOverride(MlpOverride& override) : override_(override) {}
  MlpOverride* bind(const std::vector<std::int64_t>&) override { return &override_; }

 private:
  MlpOverride& override_;
};

struct DecoderOptions {
  std::int64_t batch_size = 1;  // rows decoded together
  // Why token `id` ends a row ("" when it does not); unset: default_stop_ids end it, "stop_token".
  std::function<std::string(std::int64_t id)> stop;
  // Decode steps between reads of the generated ids, the decoder's only device-to-host reads
  // besides one per prefill: a row that stopped inside a window decodes to its end and its extra
  // tokens are dropped, and rows leave and join between windows. 0: 1 on the CPU, where a read
  // costs nothing, 8 on a GPU. Outputs do not depend on it.
  std::int64_t read_every = 0;
  // Tokens per forward of a prefill (forward_in_pieces). Outputs do not depend on it.
  std::int64_t prefill_piece = kPrefillPiece;
};

struct DecoderStats {
  std::int64_t prefills = 0, decode_steps = 0, windows = 0, kv_compactions = 0;
};

// Continuous batching: rows are pulled in whenever a slot is free, prefill together (left-padded
// after their starting caches), decode together, and leave as they stop. Each row's output is
// what it would generate alone.
class BatchDecoder {
 public:
  BatchDecoder(Decoder& model, DecoderOptions options, RowMemory* memory = nullptr);
  // Decodes until `next` returns nothing and every row stopped; `done` receives each row as it
  // stops.
  void run(const std::function<std::optional<DecodeRow>()>& next,
           const std::function<void(DecodedRow)>& done);
  // The same over a list (each row's id becomes its position in it): the results in its order.
  std::vector<DecodedRow> run(std::vector<DecodeRow> rows);
  const DecoderStats& stats() const { return stats_; }

 private:
  struct Live;
  // One forward over `rows` (their memory bound): each row's next token, on the device.
  at::Tensor next_ids(const at::Tensor& ids, KVCache& cache, const std::vector<Live>& rows,
                      const at::Tensor& mask_host);
  // Prefills `requests` together; their rows with their first token, and their cache.
  std::pair<std::vector<Live>, KVCache> prefill(const std::vector<DecodeRow>& requests);
  std::string stop_reason(const Live& row) const;

  Decoder& model_;
  DecoderOptions options_;
  RowMemory* memory_;
  std::vector<std::int64_t> stop_ids_;
  DecoderStats stats_;
};

}  // namespace tttmem::model
