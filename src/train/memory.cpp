// train: the memory objective (SPEC.md `train`, Objectives). A training example is a benchmark
// conversation and its probes: the conversation is ingested with TTT live, only the fast-weight
// delta is kept (condition B of `run`: no KV cache, tails dropped or flushed), and each probe is
// answered from W0 + delta with the gold answer teacher-forced; the loss is on the answer only.
// The delta is carried as factors (delta = lr V^T Z over the rows that write into W), so the
// probes of one conversation share its ingestion and the gradient reaches it.
#include <ATen/ATen.h>

#include <map>
#include <stdexcept>
#include <utility>

#include "forms.h"
#include "tttmem/bench.h"
#include "tttmem/train.h"

namespace tttmem::train {

namespace {

constexpr std::pair<const char*, Objective> kObjective[] = {
    {"lm", Objective::lm}, {"memory", Objective::memory}, {"mixed", Objective::mixed}};

// A conversation's delta on one TTT layer: delta = lr * v^T z, rows that do not write into W
// zeroed in z. z [B, M, F], v [B, M, D].
struct Factors {
  at::Tensor z, v;
};

const at::Tensor& target_of(const ttt::TTTConfig& config, const model::MlpContext& context) {
  return config.target == ttt::Target::input_embed ? context.embeddings : context.x;
}

}  // namespace

Objective parse_objective(const std::string& name) {
  for (const auto& [text, value] : kObjective)
    if (name == text) return value;
  throw std::invalid_argument("--objective: unknown value '" + name + "' (expected lm, memory, mixed)");
}

std::string to_string(Objective value) {
  for (const auto& [text, v] : kObjective)
    if (v == value) return text;
  return "?";
}

std::int64_t answer_end(const ModelConfig& config, const tokenizer::Tokenizer& tok) {
  if (!config.eos_token_ids.empty()) return config.eos_token_ids.front();
  if (const auto id = tok.eos_id()) return *id;
  throw std::runtime_error("train: neither the model config nor the tokenizer names an eos token "
                           "(the memory objective's answers end with it)");
}

std::vector<MemoryExample> load_memory_examples(const std::filesystem::path& file,
                                                const tokenizer::Tokenizer& tok,
                                                std::int64_t end_id,
                                                const protocol::ProtocolOptions& protocol,
                                                std::optional<std::int64_t> bos) {
  const bench::Benchmark benchmark = bench::load_benchmark(file);
  if (benchmark.samples.empty()) throw std::runtime_error(file.string() + ": no samples");
  if (benchmark.version == "ruler")
    throw std::runtime_error(file.string() + ": a RULER benchmark; the memory objective trains on "
                             "conversation benchmarks (v1, v2)");
  // Condition B's prompt (no conversation); B's ingestion, D's for level 3 (SPEC.md S3.2).
  const protocol::Condition b = protocol::make_condition(protocol::kMemory, protocol);
  const protocol::Condition d = protocol::make_condition(protocol::kDistracted, protocol);
  auto encode = [&](const std::string& text, bool with_bos) {
    const auto ids = tok.encode(text);
    std::vector<std::int64_t> out;
    if (with_bos && bos) out.push_back(*bos);
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  };
  std::vector<MemoryExample> out;
  for (const bench::Sample& sample : benchmark.samples) {
    const protocol::Condition& ingest = sample.level == 3 ? d : b;
    MemoryExample example{sample.sample_id, encode(*protocol::ingest_text(ingest, sample), protocol.ingest_bos), {}};
    const std::size_t limit = protocol::ingest_limit(ingest.ingest, sample);
    if (example.ingest.size() > limit) example.ingest.resize(limit);
    for (const bench::Probe& probe : sample.probes) {
      Row row;
      row.ids = encode(protocol::probe_prompt(b, protocol, sample, probe), true);
      row.labels.assign(row.ids.size(), -100);
      std::vector<std::int64_t> answer = encode(probe.gold_answer, false);
      answer.push_back(end_id);
      row.ids.insert(row.ids.end(), answer.begin(), answer.end());
      row.labels.insert(row.labels.end(), answer.begin(), answer.end());
      example.probes.push_back(std::move(row));
    }
    out.push_back(std::move(example));
  }
  return out;
}

MemoryBatch make_memory_batch(const std::vector<MemoryExample>& examples, std::int64_t first,
                              std::int64_t count, std::int64_t pad_id) {
  const auto total = static_cast<std::int64_t>(examples.size());
  std::vector<Row> ingest, probes;
  std::vector<std::int64_t> conversation;
  for (std::int64_t b = 0; b < count; ++b) {
    const MemoryExample& example = examples[static_cast<std::size_t>((first + b) % total)];
    ingest.push_back({example.ingest, std::vector<std::int64_t>(example.ingest.size(), -100)});
    for (const Row& probe : example.probes) {
      probes.push_back(probe);
      conversation.push_back(b);
    }
  }
  return {make_batch(ingest, 0, count, pad_id),
          make_batch(probes, 0, static_cast<std::int64_t>(probes.size()), pad_id),
          at::tensor(conversation, at::kLong)};
}

// The ingestion's TTT layers: the training form's outputs (the conversation's own chunks update
// as in the LM objective), and per layer the delta the conversation leaves, as factors. `real`
// [B, L, 1]: the real (not padding) rows; `keep` [B, L, 1]: the rows whose chunk writes into W.
class MemoryForward::IngestGraft : public model::MlpOverride, public LayerExtras {
 public:
  IngestGraft(const ttt::TTTConfig& config, const ttt::TTTParams& params, TttForm form,
              at::Tensor real, at::Tensor keep)
      : config_(config), params_(params), form_(form), real_(std::move(real)),
        keep_(std::move(keep)) {}
  bool handles(std::int64_t layer) const override { return config_.is_ttt_layer(layer); }

  at::Tensor forward(const model::MlpContext& context) override {
    const ttt::LayerParams& params = params_.at(context.layer);
    const at::Tensor& w0 = context.weights.down_proj;
    const at::Tensor z = model::mlp_intermediate(context.x, context.weights);
    // Padding rows zeroed before the conv: a flushed partial chunk sees zeros past the
    // conversation's end, as the inference stream's zero-padded flush does.
    const at::Tensor v = ttt_values(config_, params, target_of(config_, context) * real_);
    factors_[context.layer] = {z * keep_, v};
    // The real rows' outputs do not depend on the padding (a chunk holding padding is the
    // conversation's last, and nothing reads its update), so v serves the low-rank form as is.
    if (resolve_form(form_, z.size(1), context.weights) == TttForm::low_rank)
      return low_rank_output(config_, z, v, w0);
    return ttt_training_mlp(config_, params, context.weights, context.x,
                            target_of(config_, context), TttForm::parallel);
  }

  std::vector<at::Tensor> inputs(std::int64_t) override { return {}; }
  void replace_inputs(std::int64_t, std::vector<at::Tensor>) override {}
  std::vector<at::Tensor> outputs(std::int64_t layer) override {
    const auto it = factors_.find(layer);
    if (it == factors_.end()) return {};
    return {it->second.z, it->second.v};
  }
  void replace_outputs(std::int64_t layer, std::vector<at::Tensor> tensors) override {
    factors_[layer] = {std::move(tensors.at(0)), std::move(tensors.at(1))};
  }
  const std::map<std::int64_t, Factors>& factors() const { return factors_; }

 private:
  const ttt::TTTConfig& config_;
  const ttt::TTTParams& params_;
  TttForm form_;
  at::Tensor real_, keep_;
  std::map<std::int64_t, Factors> factors_;
};

// The probes' TTT layers: O = Z (W0 + delta)^T for the first chunk and, unless frozen, the
// probe's own chunk updates on top. The delta's part, Z delta^T = lr (Z z^T) v, is linear, so it
// is added to the training form run from W0. `conversation` [P]: each probe row's ingest row.
class MemoryForward::ProbeGraft : public model::MlpOverride, public LayerExtras {
 public:
  ProbeGraft(const ttt::TTTConfig& config, const ttt::TTTParams& params, TttForm form,
             std::map<std::int64_t, Factors> factors, at::Tensor conversation, bool frozen)
      : config_(config), params_(params), form_(form), factors_(std::move(factors)),
        conversation_(std::move(conversation)), frozen_(frozen) {}
  bool handles(std::int64_t layer) const override { return config_.is_ttt_layer(layer); }

  at::Tensor forward(const model::MlpContext& context) override {
    const model::MlpWeights& weights = context.weights;
    const Factors& memory = factors_.at(context.layer);
    const at::Tensor z = model::mlp_intermediate(context.x, weights);
    at::Tensor own;
    if (frozen_) {
      own = at::linear(z, weights.down_proj);
    } else if (resolve_form(form_, z.size(1), weights) == TttForm::low_rank) {
      own = low_rank_output(config_, z,
                            ttt_values(config_, params_.at(context.layer), target_of(config_, context)),
                            weights.down_proj);
    } else {
      own = ttt_training_mlp(config_, params_.at(context.layer), weights, context.x,
                             target_of(config_, context), TttForm::parallel);
    }
    // The delta's part in the form that is cheaper for the conversation's M rows (the same rule
    // as a stream of M rows): the factors, or the explicit [B, D, F] delta.
    at::Tensor recalled;
    if (resolve_form(form_, memory.z.size(1), weights) == TttForm::low_rank) {
      const at::Tensor scores =
          at::matmul(z, memory.z.index_select(0, conversation_).transpose(1, 2));
      recalled = at::matmul(scores, memory.v.index_select(0, conversation_));
    } else {
      const at::Tensor delta = at::matmul(memory.v.transpose(1, 2), memory.z);  // [B, D, F] / lr
      recalled = at::matmul(z, delta.index_select(0, conversation_).transpose(1, 2));
    }
    return own + recalled * config_.lr;
  }

  std::vector<at::Tensor> inputs(std::int64_t layer) override {
    const auto it = factors_.find(layer);
    if (it == factors_.end()) return {};
    return {it->second.z, it->second.v};
  }
  void replace_inputs(std::int64_t layer, std::vector<at::Tensor> tensors) override {
    factors_[layer] = {std::move(tensors.at(0)), std::move(tensors.at(1))};
  }
  std::vector<at::Tensor> outputs(std::int64_t) override { return {}; }
  void replace_outputs(std::int64_t, std::vector<at::Tensor>) override {}

 private:
  const ttt::TTTConfig& config_;
  const ttt::TTTParams& params_;
  TttForm form_;
  std::map<std::int64_t, Factors> factors_;
  at::Tensor conversation_;
  bool frozen_;
};

MemoryForward::MemoryForward(const ttt::TTTConfig& config, const ttt::TTTParams& params,
                             TttForm form, const protocol::ProtocolOptions& protocol)
    : config_(config), params_(params), form_(form), frozen_(protocol.freeze_while_answering) {
  // As `run` does: the protocol's flush overrides the config's policy.
  if (protocol.flush_partial_chunk) config_.partial_chunk = ttt::PartialChunk::flush;
}

MemoryForward::~MemoryForward() = default;

at::Tensor MemoryForward::logits(model::Decoder& model, const MemoryBatch& batch,
                                 CheckpointedLayers* checkpointing) {
  const at::Device device = model.device();
  const at::Tensor mask = batch.ingest.attention_mask.defined()
                              ? batch.ingest.attention_mask.to(device).ne(0)
                              : at::ones_like(batch.ingest.ids, at::TensorOptions(device).dtype(at::kBool));
  const at::Tensor lengths = mask.sum(1, /*keepdim=*/true);  // right padding: real rows first
  const at::Tensor position = at::arange(mask.size(1), lengths.options()).unsqueeze(0);
  const at::Tensor written =
      config_.partial_chunk == ttt::PartialChunk::flush
          ? lengths
          : lengths.div(config_.chunk, "floor") * config_.chunk;  // full chunks only
  auto rows = [&](const at::Tensor& which) { return which.unsqueeze(-1).to(model.dtype()); };
  probe_.reset();
  ingest_ = std::make_unique<IngestGraft>(config_, params_, form_, rows(position < lengths),
                                          rows(position < written));

  model::ForwardOptions forward;
  forward.attention_mask = batch.ingest.attention_mask;
  forward.mlp_override = ingest_.get();
  forward.layer_hook = checkpointing;
  forward.last_logits_only = true;  // the ingestion's logits are not used
  if (checkpointing != nullptr) checkpointing->set_extras(ingest_.get());
  model.forward(batch.ingest.ids, forward);

  // A fresh context: the probe rows attend to themselves only; the TTT layers start from the delta.
  probe_ = std::make_unique<ProbeGraft>(config_, params_, form_, ingest_->factors(),
                                        batch.conversation.to(device), frozen_);
  forward.attention_mask = batch.probes.attention_mask;
  forward.mlp_override = probe_.get();
  forward.last_logits_only = false;
  if (checkpointing != nullptr) checkpointing->set_extras(probe_.get());
  const at::Tensor logits = model.forward(batch.probes.ids, forward);
  if (checkpointing != nullptr) checkpointing->set_extras(nullptr);
  return logits;
}

}  // namespace tttmem::train
