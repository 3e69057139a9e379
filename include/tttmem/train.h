// train: `tttmem train-minimal` (SPEC.md `train`). The differentiable TTT graft (the training
// form of the fast-weight MLP), per-layer activation checkpointing, the trainer (trainable sets,
// master weights, AdamW, clipping, schedule, resumable state) and the JSONL corpus.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tttmem/e2e.h"
#include "tttmem/model.h"
#include "tttmem/protocol.h"
#include "tttmem/tensor_io.h"
#include "tttmem/tokenizer.h"
#include "tttmem/ttt.h"

namespace torch::optim {
class AdamW;
}

namespace tttmem::dist {
class World;
}

namespace tttmem::train {

// ttt: ttt_proj + ttt_conv (the seed). ttt_down: plus the TTT layers' down_proj. all: every weight.
enum class Trainable { ttt, ttt_down, all };
// seed_bf16: the trainable tensors and AdamW's state in bf16, as the seed trained (updates below
// half an ulp round away). fp32_master: fp32 master copies and state, cast to the model dtype for
// every forward. DECISIONS.md `## train` says why fp32_master is the default.
enum class Precision { seed_bf16, fp32_master };
enum class Schedule { constant, cosine };
// The TTT MLP's training form: `parallel` is spec 3.6 (every dW, a prefix sum over chunks, one
// batched product); `low_rank` never forms a D x F matrix: O = Z W0^T + lr * causal-chunk(Z Z^T) V,
// cheaper while L < D F / (D + F). `automatic` picks the one with fewer multiply-adds.
enum class TttForm { automatic, parallel, low_rank };

Trainable parse_trainable(const std::string& name);  // "ttt" | "ttt+down" | "all"
Precision parse_precision(const std::string& name);  // "seed-bf16" | "fp32-master"
Schedule parse_schedule(const std::string& name);    // "constant" | "cosine"
TttForm parse_ttt_form(const std::string& name);     // "auto" | "parallel" | "low-rank"
std::string to_string(Trainable value);
std::string to_string(Precision value);
std::string to_string(Schedule value);
std::string to_string(TttForm value);

// The TTT MLP of one layer in its training form: stateless, differentiable (nothing in place,
// nothing detached), target X or the embeddings per config.target. Same outputs as the inference
// loop; right padding only changes padding rows (a chunk's update reaches later chunks only).
at::Tensor ttt_training_mlp(const ttt::TTTConfig& config, const ttt::LayerParams& params,
                            const model::MlpWeights& weights, const at::Tensor& x,
                            const at::Tensor& target, TttForm form);

// model::MlpOverride for training: binds the config and the parameter tensors (read at every
// call, so a trainer may rebind them between steps).
class TrainingGraft : public model::MlpOverride {
 public:
  TrainingGraft(const ttt::TTTConfig& config, const ttt::TTTParams& params, TttForm form)
      : config_(config), params_(params), form_(form) {}
  bool handles(std::int64_t layer) const override { return config_.is_ttt_layer(layer); }
  at::Tensor forward(const model::MlpContext& context) override;

 private:
  const ttt::TTTConfig& config_;
  const ttt::TTTParams& params_;
  TttForm form_;
};

// What a layer body reads or leaves besides its input, its output and the layer's weights: the
// memory objective's fast-weight factors (an ingestion layer leaves them, the probe's same layer
// reads them). Checkpointing passes `inputs` into its autograd node and returns `outputs` from it
// (then `replace_outputs` swaps in the node's outputs), so their gradients flow through the
// recomputed layer.
class LayerExtras {
 public:
  virtual ~LayerExtras() = default;
  // Tensors the body of `layer` reads that may need gradients.
  virtual std::vector<at::Tensor> inputs(std::int64_t layer) = 0;
  // Makes the body of `layer` read `tensors` instead of `inputs(layer)`. The recomputation reads
  // detached copies, so that its inner backward stops at them: the graph that produced the
  // inputs is differentiated once, by the outer backward, with the gradients the node returns.
  virtual void replace_inputs(std::int64_t layer, std::vector<at::Tensor> tensors) = 0;
  // Tensors the last body call of `layer` left for later computation (empty: none).
  virtual std::vector<at::Tensor> outputs(std::int64_t layer) = 0;
  virtual void replace_outputs(std::int64_t layer, std::vector<at::Tensor> tensors) = 0;
};

// Activation checkpointing per decoder layer (libtorch C++ has no torch.utils.checkpoint): the
// layer runs without keeping activations and runs again inside the backward pass, through a
// custom autograd function whose inputs are the layer input and the tensors `layer_inputs(i)`
// names (the layer's weights that require grad), so their gradients flow out of it.
class CheckpointedLayers : public model::LayerHook {
 public:
  explicit CheckpointedLayers(std::function<std::vector<at::Tensor>(std::int64_t)> layer_inputs)
      : layer_inputs_(std::move(layer_inputs)) {}
  at::Tensor run(std::int64_t layer, const at::Tensor& x, const Body& body) override;
  void clear() { calls_.clear(); }  // after the backward pass: drops the kept closures
  // The extras of the forward calls that follow (null: none); they must outlive the backward.
  void set_extras(LayerExtras* extras) { extras_ = extras; }

  struct Call {  // what the backward pass of one layer needs besides the saved tensors
    Body body;
    LayerExtras* extras;
    std::int64_t layer;
    std::size_t extra_inputs;  // the last inputs of the node that came from extras->inputs(layer)
  };

 private:
  std::function<std::vector<at::Tensor>(std::int64_t)> layer_inputs_;
  LayerExtras* extras_ = nullptr;
  std::deque<Call> calls_;  // stable addresses: the autograd nodes point into it
};

// HF's causal-LM loss: logits in fp32, labels shifted left, mean over labels != -100.
at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels);

struct Batch {
  at::Tensor ids;             // [B, L] int64
  at::Tensor attention_mask;  // [B, L], 0 = padding (right padding only); undefined: none
  at::Tensor labels;          // [B, L] int64, -100 = no loss
};

struct OptimizerOptions {
  double lr = 1e-5;
  Schedule schedule = Schedule::constant;
  std::int64_t warmup = 0;       // optimizer steps of linear warmup from 0
  std::int64_t total_steps = 0;  // optimizer steps (the cosine decays to 0 at the last one)
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double clip = 1.0;  // max global grad norm; <= 0: no clipping
};
// The learning rate of optimizer step `step` (0-based).
double learning_rate(const OptimizerOptions& options, std::int64_t step);

struct TrainerOptions {
  Trainable trainable = Trainable::ttt;
  Precision precision = Precision::fp32_master;
  bool grad_checkpointing = false;
  TttForm ttt_form = TttForm::automatic;
  std::int64_t grad_accum = 1;
  OptimizerOptions optimizer;
  // The memory objective's probe protocol (`run`'s): flush_partial_chunk and
  // freeze_while_answering are read; the rest does not apply.
  protocol::ProtocolOptions memory_protocol;
};

struct MemoryBatch;
class MemoryForward;

struct StepReport {
  std::int64_t step = 0;   // optimizer steps done, this one included
  double grad_norm = 0;    // global norm before clipping
  double lr = 0;
};

class Trainer {
 public:
  // `ttt_params` is moved in and owned; `ttt_config` null: no TTT (only `all` is then trainable).
  // The model must outlive the trainer; its trainable weights are replaced by the trainer's.
  Trainer(model::Decoder& model, std::optional<ttt::TTTConfig> ttt_config,
          ttt::TTTParams ttt_params, TrainerOptions options);
  // TTT-E2E's meta-learning (SPEC.md "e2e", Outer loss): `ttt` trains theta, `ttt+down` also the
  // E2E layers' down_proj, `all` every weight; both objectives differentiate through the inner
  // loop. fp32 masters only; --grad-checkpointing checkpoints the inner loop's mini-batches.
  Trainer(model::Decoder& model, e2e::E2EConfig e2e_config, e2e::E2EParams e2e_params,
          TrainerOptions options);
  ~Trainer();

  // One micro-batch: forward, backward of weight * loss / grad_accum (gradients add up); the loss.
  double accumulate(const Batch& batch, double weight = 1.0);
  // The memory objective's micro-batch (memory_logits), the same way; needs TTT layers.
  double accumulate(const MemoryBatch& batch, double weight = 1.0);
  // Loss without gradients (evaluation).
  double evaluate(const Batch& batch);
  double evaluate(const MemoryBatch& batch);
  // Clip, set the scheduled lr, one AdamW step, zero the gradients.
  StepReport step();

  // The trainable tensors (masters, fp32 or bf16), HF names, checkpoint order. Gradients on them.
  const io::NamedTensors& trainable() const { return masters_; }
  std::int64_t steps_done() const { return steps_done_; }
  const TrainerOptions& options() const { return options_; }
  const std::optional<ttt::TTTConfig>& ttt_config() const { return ttt_config_; }
  // The TTT tensors of the current masters, in the model dtype.
  ttt::TTTParams ttt_params() const;
  const std::optional<e2e::E2EConfig>& e2e_config() const { return e2e_config_; }
  e2e::E2EParams e2e_params() const;  // theta from the masters, fp32
  // Every weight of the model, trained ones from the masters, and the TTT tensors, in the model
  // dtype with HF names: the safetensors of a complete model folder.
  io::NamedTensors model_weights() const;

  // Masters + AdamW state + step counter in one safetensors file (atomic); `metadata` is added.
  void save_state(const std::filesystem::path& file,
                  const std::map<std::string, std::string>& metadata) const;
  // Restores what save_state wrote (names, shapes and dtypes must match); returns its metadata.
  std::map<std::string, std::string> load_state(const std::filesystem::path& file);

 private:
  Trainer(model::Decoder& model, std::optional<ttt::TTTConfig> ttt_config,
          ttt::TTTParams ttt_params, std::optional<e2e::E2EConfig> e2e_config,
          e2e::E2EParams e2e_params, TrainerOptions options);
  void bind(bool with_grad);  // puts (casts of) the masters into the model and the TTT params
  at::Tensor loss_of(const Batch& batch, bool training);
  at::Tensor loss_of(const MemoryBatch& batch, bool training);
  double backward(const at::Tensor& loss, double weight);  // the accumulate step; the loss

  model::Decoder& model_;
  std::optional<ttt::TTTConfig> ttt_config_;
  ttt::TTTParams ttt_params_;
  std::optional<e2e::E2EConfig> e2e_config_;
  e2e::E2EParams e2e_params_;
  TrainerOptions options_;
  io::NamedTensors masters_;
  std::vector<at::Tensor*> slots_;  // where each master goes, same order
  std::vector<std::int64_t> slot_layer_;  // the decoder layer each master belongs to, -1: none
  std::unique_ptr<TrainingGraft> graft_;
  std::unique_ptr<MemoryForward> memory_;  // with TTT layers
  std::unique_ptr<CheckpointedLayers> checkpointing_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::int64_t steps_done_ = 0;
};

// ---- the corpus

enum class Packing { pack, truncate };
enum class LossOn { all, assistant };
Packing parse_packing(const std::string& name);  // "pack" | "truncate"
LossOn parse_loss_on(const std::string& name);   // "all" | "assistant"

// One training row per entry, already cut to seq_len: ids and their labels (-100 = no loss).
struct Row {
  std::vector<std::int64_t> ids, labels;
};

struct CorpusOptions {
  std::int64_t seq_len = 512;
  Packing packing = Packing::pack;
  LossOn loss_on = LossOn::all;
  // Each document starts with it, never a label (model::sequence_bos: Gemma3's BOS, as the
  // adapter study's training rows; Qwen3 none).
  std::optional<std::int64_t> bos;
  // Text and instruction documents end with <|endoftext|> (the seed); false: with nothing, as
  // the adapter study's rows (a chat keeps its template's <|im_end|> either way).
  bool end_documents = true;
};

// <|endoftext|> (Qwen's document end and pad), else the tokenizer's eos; throws if neither.
std::int64_t end_of_text(const tokenizer::Tokenizer& tok);

// A JSONL file, one document per line: {"messages": [{"role", "content"}, ...]} rendered with the
// Qwen3 chat template, {"text": "..."} (TinyStories' rows), or {"instruction", "input",
// "output"} in the adapter study's LongAlpaca format (the response is the assistant part for
// --loss-on assistant). pack: documents (each followed by <|endoftext|> unless !end_documents,
// the template's own <|im_end|> for chats) are concatenated and cut into seq_len rows, the
// remainder dropped. truncate: one row per document, cut to seq_len. Errors name file and line.
std::vector<Row> load_corpus(const std::filesystem::path& file, const tokenizer::Tokenizer& tok,
                             const CorpusOptions& options);

// Rows [first, first + count) modulo the corpus (the seed's sequential walk, no shuffling), right
// padded with `pad_id` to the longest, attention mask 0 and labels -100 on padding.
Batch make_batch(const std::vector<Row>& rows, std::int64_t first, std::int64_t count,
                 std::int64_t pad_id);

// ---- the memory objective (SPEC.md `train`, Objectives)

// lm: next-token loss on --data (the seed). memory: ingest a conversation, drop the KV cache,
// answer its probes from the fast weights alone; loss on the gold answers. mixed: lm + w * memory.
enum class Objective { lm, memory, mixed };
Objective parse_objective(const std::string& name);  // "lm" | "memory" | "mixed"
std::string to_string(Objective value);

// One benchmark sample as the memory objective trains on it: the ids its ingestion reads
// (condition B's text, D's for level 3, truncated as `run` truncates) and one row per probe:
// condition B's prompt, then the gold answer and the end token, labels on those only.
struct MemoryExample {
  std::string sample_id;
  std::vector<std::int64_t> ingest;
  std::vector<Row> probes;
};

// The answer's end token: the model config's first eos id, else the tokenizer's eos.
std::int64_t answer_end(const ModelConfig& config, const tokenizer::Tokenizer& tok);

// Every sample of a v1/v2 benchmark (bench::load_benchmark) in file order. The prompt follows
// `protocol` (probe_prompt of condition b); the probe row's ids are `bos`, encode(prompt),
// encode(gold) and `end_id`, so the prompt's ids are the ones `run` feeds (the ingestion gets
// `bos` only under protocol.ingest_bos, as in `run`).
std::vector<MemoryExample> load_memory_examples(const std::filesystem::path& file,
                                                const tokenizer::Tokenizer& tok,
                                                std::int64_t end_id,
                                                const protocol::ProtocolOptions& protocol,
                                                std::optional<std::int64_t> bos);

// `count` conversations from `first` (modulo, in order) and all their probes.
struct MemoryBatch {
  Batch ingest;               // [B, Lc] the ingested texts, right-padded (labels unused)
  Batch probes;               // [P, Lp] the probe rows, right-padded, labels on the answers
  at::Tensor conversation;    // [P] int64: the ingest row of each probe row
};
MemoryBatch make_memory_batch(const std::vector<MemoryExample>& examples, std::int64_t first,
                              std::int64_t count, std::int64_t pad_id);

// The memory objective's forward (SPEC.md `train`, Objectives), differentiable: the ingest rows
// run through the TTT training form and each leaves its fast-weight delta (full chunks; the
// partial last chunk too under flush); the probe rows then run from W0 + their conversation's
// delta with a fresh context, updating over their own chunks unless `protocol` freezes them.
class MemoryForward {
 public:
  // `params` is read at every call (a trainer rebinds its tensors between steps).
  MemoryForward(const ttt::TTTConfig& config, const ttt::TTTParams& params, TttForm form,
                const protocol::ProtocolOptions& protocol);
  ~MemoryForward();
  // The probe rows' logits [P, Lp, V]. `checkpointing`: null, or the hook every decoder layer
  // runs through (the conversations' factors then pass through its autograd nodes). This object
  // must outlive the backward pass of anything computed from the result: checkpointing reruns
  // its layers then, and the next call replaces them.
  at::Tensor logits(model::Decoder& model, const MemoryBatch& batch,
                    CheckpointedLayers* checkpointing);

 private:
  class IngestGraft;
  class ProbeGraft;
  ttt::TTTConfig config_;
  const ttt::TTTParams& params_;
  TttForm form_;
  bool frozen_;
  std::unique_ptr<IngestGraft> ingest_;
  std::unique_ptr<ProbeGraft> probe_;
};

// ---- TTT-E2E's objectives (src/train/e2e_objectives.cpp)

// The LM objective: each row of [B, L] (right padding allowed, labels on every real token) is a
// document that runs the inner loop from theta (`params`, read at the call) on its own; the
// loss is the mean next-token cross-entropy over every pair of the batch. `training`: the loop
// stays differentiable (create_graph); `checkpoint` (with training): each mini-batch runs again
// in the backward pass (e2e::IngestOptions::checkpoint).
at::Tensor e2e_lm_loss(model::Decoder& model, const e2e::E2EConfig& config,
                       const e2e::E2EParams& params, const Batch& batch, bool training,
                       bool checkpoint = false);
// The memory objective: each conversation runs the inner loop from theta on its own; each probe
// row then reads, in a fresh context, with its conversation's final weights (frozen), and the
// loss is the answer tokens' cross-entropy.
at::Tensor e2e_memory_loss(model::Decoder& model, const e2e::E2EConfig& config,
                           const e2e::E2EParams& params, const MemoryBatch& batch, bool training,
                           bool checkpoint = false);

// ---- the training loop (what `tttmem train-minimal` runs)

struct LoopOptions {
  std::filesystem::path out;       // metrics.jsonl, state.safetensors, ttt.safetensors, loss.png/svg
  std::int64_t steps = 100;        // optimizer steps (each of grad_accum micro-batches)
  std::int64_t batch_size = 1;     // rows (memory objective: conversations) per micro-batch
  Objective objective = Objective::lm;
  double memory_weight = 1.0;      // mixed: loss = lm + memory_weight * memory
  std::int64_t eval_every = 0;     // 0: no evaluation
  std::int64_t save_every = 100;   // 0: only at the end
  bool resume = false;             // continue from OUT/state.safetensors
  std::int64_t pad_id = tokenizer::kQwenEndOfText;  // train::end_of_text of the tokenizer
  // Recorded in every train state: what defines the run (model, data, hyperparameters). A
  // --resume whose metadata differs from the state's in any of these keys is refused.
  std::map<std::string, std::string> metadata;
  std::string ttt_preset, ttt_init;  // ttt.safetensors' recipe besides the config (ttt::Recipe)
  // The base model's config.json; with --trainable ttt+down or all every checkpoint also writes
  // OUT/model/ (this config with the TTT fields of the run + every weight), a model folder.
  nlohmann::json model_config;
  // Data-parallel ranks (null: one process). Each takes its batch_size rows of every micro-batch
  // of the global batch (batch_size x ranks rows), gradients are averaged over ranks before each
  // step, and rank 0 alone writes metrics and checkpoints (SPEC.md "Scale-out").
  dist::World* world = nullptr;
};

// What the objectives read: the LM corpus (--data, --eval-data) and the memory objective's
// conversations (--memory-data, --memory-eval-data). Eval sets may be empty.
struct TrainingData {
  std::vector<Row> rows, eval_rows;
  std::vector<MemoryExample> memory, memory_eval;
};

// Puts the training rows and the memory conversations (not the eval sets) in an order drawn from
// `seed` (Fisher-Yates over std::mt19937_64, whose output the standard fixes, so the order is the
// same on every platform): what a training seed varies (train-minimal --shuffle).
void shuffle_training_order(TrainingData& data, std::uint64_t seed);

// Why a step's loss means divergence, given the losses of the steps before it: non-finite, or
// the third step in a row whose loss is above 3x the median of the 50 before it (once there are
// 5). Empty: no divergence. One hard batch is a spike, not a divergence: at a memory loss near
// 0.07, a batch of four conversations at 0.27 stopped a healthy run.
std::string loss_divergence(double loss, const std::vector<double>& history);

// Trains until options.steps optimizer steps are done, writing one metrics line per step and a
// checkpoint every save_every steps and at the end. Stops at the first divergence (non-finite loss
// or gradient, or a loss above 3x the running median), keeping the last good checkpoint, and
// returns 1 then; 0 otherwise.
int run_training(Trainer& trainer, const TrainingData& data, const LoopOptions& options);

}  // namespace tttmem::train
