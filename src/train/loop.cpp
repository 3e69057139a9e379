// train: the training loop of `tttmem train-minimal` (SPEC.md `train`): micro-batches, metrics,
// divergence stop, checkpoints and resume, the loss plot.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <optional>

#include "tttmem/dist.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/train.h"

namespace tttmem::train {

namespace {

namespace fs = std::filesystem;

constexpr double kDivergenceFactor = 3.0;   // a loss above 3x the running median is a spike
constexpr std::size_t kMedianWindow = 50;   // over the last 50 steps' losses
constexpr std::size_t kMedianMinimum = 5;   // ... once there are at least 5
constexpr std::size_t kSpikeSteps = 3;      // spikes in a row that stop the run (the message says "third")

double median(std::vector<double> values) {
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  return values[mid];
}

double norm_of(const at::Tensor& t) { return t.detach().to(at::kDouble).norm().item<double>(); }

// Checkpoint files: the resumable state last, so a state always has its weight files beside it.
void save_checkpoint(const Trainer& trainer, const LoopOptions& options,
                     std::int64_t data_position, std::int64_t memory_position) {
  if (trainer.ttt_config())
    trainer.ttt_params().save(options.out / "ttt.safetensors",
                              {*trainer.ttt_config(), options.ttt_preset, options.ttt_init});
  if (trainer.e2e_config()) trainer.e2e_params().save(options.out / "e2e.safetensors", *trainer.e2e_config());
  if (trainer.options().trainable != Trainable::ttt) {
    const fs::path folder = options.out / "model";
    fs::create_directories(folder);
    nlohmann::json config = options.model_config;
    if (trainer.ttt_config()) config.update(trainer.ttt_config()->to_json());
    if (trainer.e2e_config()) config.update(trainer.e2e_config()->to_json());
    io::save_tensors(folder / "model.safetensors", trainer.model_weights());
    io::atomic_write_file(folder / "config.json", config.dump(2) + "\n");
  }
  std::map<std::string, std::string> meta = options.metadata;
  meta["data_position"] = std::to_string(data_position);
  meta["memory_position"] = std::to_string(memory_position);
  trainer.save_state(options.out / "state.safetensors", meta);
  log::info("train: checkpoint at step ", trainer.steps_done(), " in ", options.out.string());
}

// Keeps the metrics lines of steps <= `steps` (a resumed run rewrites what came after its state).
std::vector<double> trim_metrics(const fs::path& file, std::int64_t steps) {
  std::vector<double> losses;
  if (!fs::exists(file)) return losses;
  std::istringstream in(io::read_file(file));
  std::string line, kept;
  while (std::getline(in, line)) {
    const auto record = nlohmann::json::parse(line);
    if (record.at("step").get<std::int64_t>() > steps) break;
    losses.push_back(record.at("loss").get<double>());
    kept += line + "\n";
  }
  io::atomic_write_file(file, kept);
  return losses;
}

// loss.png and loss.svg from metrics.jsonl through gnuplot; a warning when it is missing.
void plot(const LoopOptions& options) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    log::warn("train: gnuplot not found; no loss plot (metrics.jsonl has the numbers)");
    return;
  }
  const fs::path data = options.out / "loss.dat";
  bool has_eval = false;
  {
    std::ifstream in(options.out / "metrics.jsonl");
    std::ofstream out(data);
    std::string line;
    while (std::getline(in, line)) {
      const auto r = nlohmann::json::parse(line);
      has_eval |= r.contains("eval_loss");
      out << r.at("step").get<std::int64_t>() << " " << r.at("loss").get<double>() << " "
          << (r.contains("eval_loss") ? std::to_string(r["eval_loss"].get<double>()) : "NaN")
          << "\n";
    }
  }
  const fs::path script = options.out / "loss.gp";
  std::string gp;
  for (const auto& [term, ext] : {std::pair{"pngcairo size 900,500", "png"},
                                  {"svg size 900,500", "svg"}}) {
    gp += std::string("set terminal ") + term + "\nset output '" +
          (options.out / (std::string("loss.") + ext)).string() + "'\n" +
          "set xlabel 'optimizer step'\nset ylabel 'loss'\nset grid\n"
          "plot '" + data.string() + "' using 1:2 with lines title 'train'" +
          (has_eval ? ", '' using 1:3 with points pt 7 title 'eval'" : "") + "\n";
  }
  io::atomic_write_file(script, gp);
  if (std::system(("gnuplot '" + script.string() + "' 2>/dev/null").c_str()) != 0) {
    // pngcairo may be missing (gnuplot-nox): fall back to the png terminal
    std::string plain = gp;
    plain.replace(plain.find("pngcairo"), 8, "png");
    io::atomic_write_file(script, plain);
    if (std::system(("gnuplot '" + script.string() + "'").c_str()) != 0)
      log::warn("train: gnuplot failed; no loss plot");
  }
  fs::remove(data);
  fs::remove(script);
}

// The memory loss over every labelled token of `examples` (not a mean of batch means: batches
// hold different numbers of answer tokens).
double memory_eval_loss(Trainer& trainer, const std::vector<MemoryExample>& examples,
                        const LoopOptions& options) {
  const auto n = static_cast<std::int64_t>(examples.size());
  double sum = 0;
  std::int64_t count = 0;
  for (std::int64_t first = 0; first < n; first += options.batch_size) {
    const MemoryBatch batch =
        make_memory_batch(examples, first, std::min(options.batch_size, n - first), options.pad_id);
    const at::Tensor& labels = batch.probes.labels;  // the loss predicts labels 1.. (shifted)
    const std::int64_t labelled =
        labels.narrow(1, 1, labels.size(1) - 1).ne(-100).sum().item<std::int64_t>();
    sum += trainer.evaluate(batch) * static_cast<double>(labelled);
    count += labelled;
  }
  return sum / static_cast<double>(count);
}

// A resumed run continues the one that wrote the state, or it would mix two runs in one
// metrics file and overwrite the state with a hybrid.
void check_same_run(const fs::path& state_file, const std::map<std::string, std::string>& saved,
                    const std::map<std::string, std::string>& current) {
  std::string differ, unrecorded;
  for (const auto& [key, value] : current) {
    const auto it = saved.find(key);
    if (it == saved.end())
      unrecorded += (unrecorded.empty() ? "" : ", ") + key;
    else if (it->second != value)
      differ += (differ.empty() ? "" : "; ") + key + ": the state has '" + it->second +
                "', this run '" + value + "'";
  }
  if (!differ.empty())
    throw std::runtime_error("--resume: " + state_file.string() +
                             " was written by another run (" + differ +
                             "): resume with the same settings, or train into a new --out");
  if (!unrecorded.empty())
    log::warn("train: ", state_file.string(), " does not record ", unrecorded,
              " (written by an older tttmem); resuming without checking them");
}

// Rank 0's values on every rank.
std::vector<double> from_leader(dist::World& world, std::vector<double> values) {
  if (!world.distributed()) return values;
  std::vector<at::Tensor> size{at::tensor({static_cast<double>(values.size())}, at::kDouble)};
  world.broadcast(size);
  values.resize(static_cast<std::size_t>(size[0].item<double>()));
  if (values.empty()) return values;
  std::vector<at::Tensor> data{at::tensor(values, at::kDouble)};
  world.broadcast(data);
  const at::Tensor& got = data[0];
  return std::vector<double>(got.data_ptr<double>(), got.data_ptr<double>() + got.numel());
}

}  // namespace

std::string loss_divergence(double loss, const std::vector<double>& history) {
  if (!std::isfinite(loss)) return "the loss is " + std::to_string(loss);
  std::vector<double> losses = history;
  losses.push_back(loss);
  // The running median before step i (empty optional: too little history).
  auto median_before = [&](std::size_t i) -> std::optional<double> {
    const std::size_t n = std::min(i, kMedianWindow);
    if (n < kMedianMinimum) return std::nullopt;
    return median(std::vector<double>(losses.begin() + static_cast<std::ptrdiff_t>(i - n),
                                      losses.begin() + static_cast<std::ptrdiff_t>(i)));
  };
  if (losses.size() < kSpikeSteps) return {};
  double running = 0;
  for (std::size_t i = losses.size() - kSpikeSteps; i < losses.size(); ++i) {
    const std::optional<double> before = median_before(i);
    if (!before || losses[i] <= kDivergenceFactor * *before) return {};
    running = *before;
  }
  return "the loss " + std::to_string(loss) + " is above 3x its running median " +
         std::to_string(running) + ", the third step in a row";
}

int run_training(Trainer& trainer, const TrainingData& data, const LoopOptions& options) {
  const bool lm = options.objective != Objective::memory;
  const bool memory = options.objective != Objective::lm;
  if ((lm && data.rows.empty()) || (memory && data.memory.empty()))
    throw std::invalid_argument("train: --objective " + to_string(options.objective) +
                                " has no training data");
  const double memory_weight = options.objective == Objective::mixed ? options.memory_weight : 1.0;
  dist::World one_process;
  dist::World& world = options.world ? *options.world : one_process;
  const bool writer = world.leader();  // of metrics and checkpoints
  fs::create_directories(options.out);
  const fs::path metrics_file = options.out / "metrics.jsonl";
  const fs::path state_file = options.out / "state.safetensors";
  std::int64_t position = 0;         // rows consumed
  std::int64_t memory_position = 0;  // conversations consumed
  std::int64_t last_saved = -1;
  std::vector<double> losses;
  if (options.resume) {
    if (!fs::exists(state_file))
      throw std::runtime_error("--resume: " + state_file.string() + " does not exist");
    const auto meta = trainer.load_state(state_file);
    check_same_run(state_file, meta, options.metadata);
    position = std::stoll(meta.at("data_position"));
    if (const auto it = meta.find("memory_position"); it != meta.end())
      memory_position = std::stoll(it->second);
    losses = writer ? trim_metrics(metrics_file, trainer.steps_done())
                    : std::vector<double>();
    last_saved = trainer.steps_done();
    log::info("train: resumed at step ", trainer.steps_done(), ", data row ", position);
  } else if (writer) {
    io::atomic_write_file(metrics_file, "");
  }
  // The trainable tensors (handles: the trainer updates them in place).
  std::vector<at::Tensor> masters;
  for (const auto& [name, master] : trainer.trainable()) masters.push_back(master);
  // Every rank starts from rank 0's weights, as DDP does, and with its loss history: the
  // divergence rule must stop every rank at the same step.
  {
    at::NoGradGuard no_grad;
    world.broadcast(masters);
    losses = from_leader(world, std::move(losses));
  }
  std::map<std::string, double> initial_norms;
  double initial_total = 0;
  for (const auto& [name, master] : trainer.trainable()) {
    initial_norms[name] = norm_of(master);
    initial_total += initial_norms[name] * initial_norms[name];
  }
  // Relative size of the update so far: ||theta - theta_0|| / ||theta_0|| over the trainable set
  // (theta_0: this process's start, i.e. the resumed state after a resume).
  std::vector<at::Tensor> start;
  for (const auto& [name, master] : trainer.trainable()) start.push_back(master.detach().clone());

  std::ofstream metrics;
  if (writer) metrics.open(metrics_file, std::ios::app);
  const std::int64_t accum = trainer.options().grad_accum;
  // Rows of one micro-batch over all ranks; this rank's start at its offset in them.
  const std::int64_t global_rows = options.batch_size * world.size();
  const std::int64_t offset = options.batch_size * world.rank();
  log::Progress progress("train", options.steps - trainer.steps_done(), "steps");
  const auto t_start = std::chrono::steady_clock::now();
  while (trainer.steps_done() < options.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    double lm_loss = 0, memory_loss = 0;
    std::int64_t tokens = 0;
    for (std::int64_t m = 0; m < accum; ++m) {
      if (lm) {
        const Batch batch =
            make_batch(data.rows, position + offset, options.batch_size, options.pad_id);
        position += global_rows;
        lm_loss += trainer.accumulate(batch) / static_cast<double>(accum);
        tokens += batch.attention_mask.sum().item<std::int64_t>();
      }
      if (memory) {
        const MemoryBatch batch = make_memory_batch(data.memory, memory_position + offset,
                                                    options.batch_size, options.pad_id);
        memory_position += global_rows;
        memory_loss += trainer.accumulate(batch, memory_weight) / static_cast<double>(accum);
        tokens += batch.ingest.attention_mask.sum().item<std::int64_t>() +
                  batch.probes.attention_mask.sum().item<std::int64_t>();
      }
    }
    if (world.distributed()) {  // the global batch's losses and token count
      std::vector<at::Tensor> sums{at::tensor({lm_loss, memory_loss, static_cast<double>(tokens)},
                                              at::kDouble)};
      world.allreduce_sum(sums);
      lm_loss = sums[0][0].item<double>() / world.size();
      memory_loss = sums[0][1].item<double>() / world.size();
      tokens = static_cast<std::int64_t>(sums[0][2].item<double>());
    }
    const double loss = !memory ? lm_loss : !lm ? memory_loss : lm_loss + memory_weight * memory_loss;
    const std::int64_t step_number = trainer.steps_done() + 1;
    std::string diverged = loss_divergence(loss, losses);
    StepReport report;
    if (diverged.empty()) {
      world.average_gradients(masters);
      report = trainer.step();
      if (!std::isfinite(report.grad_norm))
        diverged = "the gradient norm is " + std::to_string(report.grad_norm);
    }
    if (!diverged.empty()) {
      log::error("train: diverged at step ", step_number, ": ", diverged, "; stopping. ",
                 last_saved < 0 ? std::string("No checkpoint was written yet.")
                                : "The last good checkpoint (step " + std::to_string(last_saved) +
                                      ") stays in " + options.out.string());
      progress.finish();
      return 1;
    }
    losses.push_back(loss);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json line{{"step", report.step},
                        {"loss", loss},
                        {"grad_norm", report.grad_norm},
                        {"lr", report.lr},
                        {"tokens", tokens},
                        {"tokens_per_s", static_cast<double>(tokens) / seconds},
                        {"elapsed", std::chrono::duration<double>(
                                        std::chrono::steady_clock::now() - t_start).count()}};
    double delta = 0;
    nlohmann::json ttt_norms = nlohmann::json::object();
    {
      at::NoGradGuard no_grad;
      std::size_t k = 0;
      for (const auto& [name, master] : trainer.trainable()) {
        const double d = norm_of(master - start[k++]);
        delta += d * d;
        if (name.find(".ttt_") != std::string::npos) ttt_norms[name] = norm_of(master);
      }
    }
    if (lm) line["lm_loss"] = lm_loss;
    if (memory) line["memory_loss"] = memory_loss;
    line["param_delta_rel"] = initial_total > 0 ? std::sqrt(delta / initial_total) : NAN;
    line["ttt_norms"] = ttt_norms;
    const bool evaluating = writer && options.eval_every > 0 && report.step % options.eval_every == 0;
    if (evaluating && !data.eval_rows.empty()) {
      double eval = 0;
      const auto n = static_cast<std::int64_t>(data.eval_rows.size());
      std::int64_t batches = 0;
      for (std::int64_t first = 0; first < n; first += options.batch_size, ++batches)
        eval += trainer.evaluate(make_batch(data.eval_rows, first,
                                            std::min(options.batch_size, n - first), options.pad_id));
      line["eval_loss"] = eval / static_cast<double>(batches);
    }
    if (evaluating && !data.memory_eval.empty())
      line["eval_memory_loss"] = memory_eval_loss(trainer, data.memory_eval, options);
    if (writer) metrics << line.dump() << "\n" << std::flush;
    progress.advance();
    const bool last = trainer.steps_done() == options.steps;
    if (writer && (last || (options.save_every > 0 && report.step % options.save_every == 0))) {
      save_checkpoint(trainer, options, position, memory_position);
      last_saved = report.step;
    }
  }
  progress.finish();
  if (!writer) return 0;
  metrics.close();
  if (!losses.empty()) plot(options);
  return 0;
}

}  // namespace tttmem::train
