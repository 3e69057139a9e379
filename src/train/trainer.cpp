// train: the trainer (SPEC.md `train`): trainable sets over HF-named tensors, master weights,
// libtorch's AdamW and clip_grad_norm_, the lr schedule and a resumable state file.
#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <stdexcept>

#include "tttmem/io.h"
#include "tttmem/train.h"

namespace tttmem::train {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

template <class Enum, std::size_t N>
Enum parse_choice(const std::string& name, const std::pair<const char*, Enum> (&choices)[N],
                  const char* what) {
  std::string list;
  for (const auto& [text, value] : choices) {
    if (name == text) return value;
    list += list.empty() ? text : std::string(", ") + text;
  }
  throw std::invalid_argument(std::string(what) + ": unknown value '" + name + "' (expected " +
                              list + ")");
}

template <class Enum, std::size_t N>
std::string choice_name(Enum value, const std::pair<const char*, Enum> (&choices)[N]) {
  for (const auto& [text, v] : choices)
    if (v == value) return text;
  return "?";
}

constexpr std::pair<const char*, Trainable> kTrainable[] = {
    {"ttt", Trainable::ttt}, {"ttt+down", Trainable::ttt_down}, {"all", Trainable::all}};
constexpr std::pair<const char*, Precision> kPrecision[] = {
    {"seed-bf16", Precision::seed_bf16}, {"fp32-master", Precision::fp32_master}};
constexpr std::pair<const char*, Schedule> kSchedule[] = {
    {"constant", Schedule::constant}, {"cosine", Schedule::cosine}};
constexpr std::pair<const char*, TttForm> kForm[] = {
    {"auto", TttForm::automatic}, {"parallel", TttForm::parallel}, {"low-rank", TttForm::low_rank}};

// "model.layers.12.mlp.down_proj.weight" -> 12; -1 for tensors outside the layers.
std::int64_t layer_of(const std::string& name) {
  static const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return -1;
  return std::stoll(name.substr(prefix.size()));
}

const std::string kExpAvg = "optimizer.exp_avg/", kExpAvgSq = "optimizer.exp_avg_sq/",
                  kAdamStep = "optimizer.step/", kRngState = "rng.cpu";

}  // namespace

Trainable parse_trainable(const std::string& name) { return parse_choice(name, kTrainable, "--trainable"); }
Precision parse_precision(const std::string& name) { return parse_choice(name, kPrecision, "--precision"); }
Schedule parse_schedule(const std::string& name) { return parse_choice(name, kSchedule, "--schedule"); }
TttForm parse_ttt_form(const std::string& name) { return parse_choice(name, kForm, "--ttt-form"); }
std::string to_string(Trainable value) { return choice_name(value, kTrainable); }
std::string to_string(Precision value) { return choice_name(value, kPrecision); }
std::string to_string(Schedule value) { return choice_name(value, kSchedule); }
std::string to_string(TttForm value) { return choice_name(value, kForm); }

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels) {
  const at::Tensor shifted =
      at::constant_pad_nd(labels.to(logits.device(), at::kLong), {0, 1}, -100).narrow(1, 1, labels.size(1));
  return at::cross_entropy_loss(logits.to(model::at_least_fp32(logits.scalar_type())).reshape({-1, logits.size(-1)}),
                                shifted.reshape({-1}), {}, at::Reduction::Mean, -100);
}

double learning_rate(const OptimizerOptions& o, std::int64_t step) {
  if (step < o.warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup);
  if (o.schedule == Schedule::constant) return o.lr;
  // Hugging Face's cosine-with-warmup: 0.5 (1 + cos(pi progress)), progress over the steps after
  // the warmup.
  const double span = static_cast<double>(std::max<std::int64_t>(1, o.total_steps - o.warmup));
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup) / span);
  return o.lr * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

Trainer::Trainer(model::Decoder& model, std::optional<ttt::TTTConfig> ttt_config,
                 ttt::TTTParams ttt_params, TrainerOptions options)
    : Trainer(model, std::move(ttt_config), std::move(ttt_params), std::nullopt, {},
              std::move(options)) {}

Trainer::Trainer(model::Decoder& model, e2e::E2EConfig e2e_config, e2e::E2EParams e2e_params,
                 TrainerOptions options)
    : Trainer(model, std::nullopt, {}, std::move(e2e_config), std::move(e2e_params),
              std::move(options)) {}

Trainer::Trainer(model::Decoder& model, std::optional<ttt::TTTConfig> ttt_config,
                 ttt::TTTParams ttt_params, std::optional<e2e::E2EConfig> e2e_config,
                 e2e::E2EParams e2e_params, TrainerOptions options)
    : model_(model), ttt_config_(std::move(ttt_config)), ttt_params_(std::move(ttt_params)),
      e2e_config_(std::move(e2e_config)), e2e_params_(std::move(e2e_params)),
      options_(std::move(options)) {
  if (options_.grad_accum < 1) fail("train: --grad-accum must be >= 1");
  if (e2e_config_ && options_.precision != Precision::fp32_master)
    fail("train: --memory e2e trains fp32 masters (its dynamic weights are fp32): --precision "
         "fp32-master");
  if (!ttt_config_ && !e2e_config_ && options_.trainable != Trainable::all)
    fail("train: --trainable " + to_string(options_.trainable) +
         " needs TTT layers (give --ttt, a TTT model, or --ttt-preset/--ttt-layers)");
  if (ttt_config_ && options_.grad_checkpointing && options_.trainable == Trainable::all &&
      ttt_config_->target == ttt::Target::input_embed)
    fail("train: --grad-checkpointing with --trainable all and ttt target input_embed is not "
         "supported (the embeddings would reach the layers outside the checkpointed inputs)");
  const at::ScalarType master_type =
      options_.precision == Precision::fp32_master ? at::kFloat : at::kBFloat16;
  auto add = [&](const std::string& name, at::Tensor* slot) {
    masters_.emplace_back(name, slot->detach().to(master_type, /*non_blocking=*/false,
                                                  /*copy=*/true).requires_grad_(true));
    slots_.push_back(slot);
    slot_layer_.push_back(layer_of(name));
  };
  for (auto& [name, slot] : model_.named_weights()) {
    const std::int64_t layer = layer_of(name);
    const bool down = name.ends_with(".mlp.down_proj.weight") &&
                      ((ttt_config_ && ttt_config_->is_ttt_layer(layer)) ||
                       (e2e_config_ && e2e_config_->is_e2e_layer(layer)));
    if (options_.trainable == Trainable::all ||
        (options_.trainable == Trainable::ttt_down && down))
      add(name, slot);
  }
  if (ttt_config_) {
    for (auto& [layer, params] : ttt_params_.layers) {
      if (params.proj.defined()) add(ttt::proj_name(layer), &params.proj);
      add(ttt::conv_name(layer), &params.conv);
    }
    graft_ = std::make_unique<TrainingGraft>(*ttt_config_, ttt_params_, options_.ttt_form);
    memory_ = std::make_unique<MemoryForward>(*ttt_config_, ttt_params_, options_.ttt_form,
                                              options_.memory_protocol);
  }
  if (e2e_config_)
    for (auto& [name, slot] : e2e_params_.named()) add(name, slot);
  // E2E checkpoints whole mini-batches of its inner loop instead (e2e::IngestOptions::checkpoint).
  if (options_.grad_checkpointing && !e2e_config_) {
    checkpointing_ = std::make_unique<CheckpointedLayers>([this](std::int64_t layer) {
      std::vector<at::Tensor> inputs;
      for (std::size_t k = 0; k < slots_.size(); ++k)
        if (slot_layer_[k] == layer) inputs.push_back(*slots_[k]);
      return inputs;
    });
  }
  std::vector<at::Tensor> params;
  for (const auto& [name, master] : masters_) params.push_back(master);
  const OptimizerOptions& o = options_.optimizer;
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      params, torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(
                  o.weight_decay));
}

Trainer::~Trainer() = default;

void Trainer::bind(bool with_grad) {
  for (std::size_t k = 0; k < slots_.size(); ++k) {
    // Each slot keeps its dtype: the model's, or fp32 for E2E's theta.
    const at::ScalarType dtype = slots_[k]->scalar_type();
    const at::Tensor& master = masters_[k].second;
    *slots_[k] = with_grad ? master.to(dtype) : master.detach().to(dtype);
  }
}

at::Tensor Trainer::loss_of(const Batch& batch, bool training) {
  if (e2e_config_) return e2e_lm_loss(model_, *e2e_config_, e2e_params_, batch, training,
                                     options_.grad_checkpointing);
  model::ForwardOptions forward;
  forward.attention_mask = batch.attention_mask;
  forward.mlp_override = graft_.get();
  if (training) forward.layer_hook = checkpointing_.get();
  return causal_lm_loss(model_.forward(batch.ids, forward), batch.labels);
}

at::Tensor Trainer::loss_of(const MemoryBatch& batch, bool training) {
  if (e2e_config_) return e2e_memory_loss(model_, *e2e_config_, e2e_params_, batch, training,
                                         options_.grad_checkpointing);
  if (!memory_) fail("train: the memory objective needs TTT layers");
  return causal_lm_loss(memory_->logits(model_, batch, training ? checkpointing_.get() : nullptr),
                        batch.probes.labels);
}

double Trainer::backward(const at::Tensor& loss, double weight) {
  (loss * weight / static_cast<double>(options_.grad_accum)).backward();
  if (checkpointing_) checkpointing_->clear();
  return loss.item<double>();
}

double Trainer::accumulate(const Batch& batch, double weight) {
  bind(true);
  return backward(loss_of(batch, true), weight);
}

double Trainer::accumulate(const MemoryBatch& batch, double weight) {
  bind(true);
  return backward(loss_of(batch, true), weight);
}

double Trainer::evaluate(const Batch& batch) {
  at::NoGradGuard no_grad;
  bind(false);
  return loss_of(batch, false).item<double>();
}

double Trainer::evaluate(const MemoryBatch& batch) {
  at::NoGradGuard no_grad;
  bind(false);
  return loss_of(batch, false).item<double>();
}

StepReport Trainer::step() {
  std::vector<at::Tensor> params;
  for (const auto& [name, master] : masters_) params.push_back(master);
  const double max_norm = options_.optimizer.clip > 0 ? options_.optimizer.clip
                                                      : std::numeric_limits<double>::infinity();
  StepReport report;
  report.grad_norm = torch::nn::utils::clip_grad_norm_(params, max_norm);
  report.lr = learning_rate(options_.optimizer, steps_done_);
  if (std::isfinite(report.grad_norm)) {  // a non-finite gradient never reaches the weights
    for (auto& group : optimizer_->param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(report.lr);
    optimizer_->step();
    report.step = ++steps_done_;
  } else {
    report.step = steps_done_;
  }
  optimizer_->zero_grad();
  return report;
}

io::NamedTensors Trainer::model_weights() const {
  at::NoGradGuard no_grad;
  std::map<std::string, const at::Tensor*> trained;
  for (const auto& [name, master] : masters_) trained[name] = &master;
  io::NamedTensors out;
  for (const auto& [name, slot] : model_.named_weights()) {
    const auto it = trained.find(name);
    out.emplace_back(name, it == trained.end() ? slot->detach()
                                               : it->second->detach().to(model_.dtype(), false, true));
  }
  for (const auto& [layer, params] : ttt_params().layers) {
    if (params.proj.defined()) out.emplace_back(ttt::proj_name(layer), params.proj);
    out.emplace_back(ttt::conv_name(layer), params.conv);
  }
  for (auto& named : e2e_params().tensors()) out.push_back(std::move(named));
  return out;
}

ttt::TTTParams Trainer::ttt_params() const {
  ttt::TTTParams out;
  at::NoGradGuard no_grad;
  for (std::size_t k = 0; k < masters_.size(); ++k) {
    const std::string& name = masters_[k].first;
    const std::int64_t layer = slot_layer_[k];
    const at::Tensor value = masters_[k].second.detach().to(model_.dtype(), false, true);
    if (name == ttt::proj_name(layer)) out.layers[layer].proj = value;
    if (name == ttt::conv_name(layer)) out.layers[layer].conv = value;
  }
  return out;
}

e2e::E2EParams Trainer::e2e_params() const {
  e2e::E2EParams out;
  at::NoGradGuard no_grad;
  std::map<std::string, const at::Tensor*> trained;
  for (const auto& [name, master] : masters_) trained[name] = &master;
  for (const auto& [layer, p] : e2e_params_.layers)
    out.layers[layer] = {trained.at(e2e::gate_name(layer))->detach().clone(),
                         trained.at(e2e::up_name(layer))->detach().clone(),
                         trained.at(e2e::down_name(layer))->detach().clone()};
  return out;
}

void Trainer::save_state(const std::filesystem::path& file,
                         const std::map<std::string, std::string>& metadata) const {
  io::NamedTensors tensors;
  for (const auto& [name, master] : masters_) {
    tensors.emplace_back(name, master.detach());
    const auto it = optimizer_->state().find(master.unsafeGetTensorImpl());
    if (it == optimizer_->state().end()) continue;
    const auto& state = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    tensors.emplace_back(kExpAvg + name, state.exp_avg());
    tensors.emplace_back(kExpAvgSq + name, state.exp_avg_sq());
    tensors.emplace_back(kAdamStep + name, at::tensor({state.step()}, at::kLong));
  }
  tensors.emplace_back(kRngState, at::detail::getDefaultCPUGenerator().get_state());
  std::map<std::string, std::string> meta = metadata;
  meta["format"] = "tttmem.train_state.v1";
  meta["steps_done"] = std::to_string(steps_done_);
  meta["trainable"] = to_string(options_.trainable);
  meta["precision"] = to_string(options_.precision);
  io::save_tensors(file, tensors, meta);
}

std::map<std::string, std::string> Trainer::load_state(const std::filesystem::path& file) {
  const auto st = io::SafetensorsFile::open(file);
  const auto& meta = st->metadata();
  auto field = [&](const std::string& key) {
    const auto it = meta.find(key);
    if (it == meta.end()) fail("train state " + file.string() + ": no metadata field " + key);
    return it->second;
  };
  if (field("format") != "tttmem.train_state.v1")
    fail("train state " + file.string() + ": not a tttmem train state (format " + field("format") + ")");
  if (field("trainable") != to_string(options_.trainable) ||
      field("precision") != to_string(options_.precision))
    fail("train state " + file.string() + " was written with --trainable " + field("trainable") +
         " --precision " + field("precision") + ", this run has " + to_string(options_.trainable) +
         " / " + to_string(options_.precision));
  auto tensor = [&](const std::string& name, const at::Tensor& like) -> at::Tensor {
    const io::TensorView* view = st->find(name);
    if (view == nullptr) return {};
    io::expect_tensor(*view, like.sizes().vec(), io::from_scalar_type(like.scalar_type()));
    return io::load_tensor(*view, like.device(), like.scalar_type());
  };
  at::NoGradGuard no_grad;
  for (const auto& [name, master] : masters_) {
    const at::Tensor value = tensor(name, master);
    if (!value.defined()) fail("train state " + file.string() + " lacks tensor " + name);
    master.detach().copy_(value);
    const at::Tensor exp_avg = tensor(kExpAvg + name, master);
    if (!exp_avg.defined()) continue;
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->exp_avg(exp_avg);
    state->exp_avg_sq(tensor(kExpAvgSq + name, master));
    state->step(tensor(kAdamStep + name, at::zeros({1}, at::kLong)).item<std::int64_t>());
    optimizer_->state()[master.unsafeGetTensorImpl()] = std::move(state);
  }
  if (const io::TensorView* rng = st->find(kRngState)) {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    generator.set_state(io::as_tensor(*rng).clone());
  }
  steps_done_ = std::stoll(field("steps_done"));
  return meta;
}

}  // namespace tttmem::train
