// tttmem train-minimal: trains the TTT parameters (or ttt+down, or all) on a frozen base
// (SPEC.md `train`). Flag parsing and model/TTT resolution only; the loop is train::run_training.
#include <ATen/ATen.h>

#include "commands.h"
#include "flag_checks.h"
#include "e2e_flags.h"
#include "ttt_flags.h"
#include "tttmem/config.h"
#include "tttmem/dist.h"
#include "tttmem/experiment.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/model.h"
#include "tttmem/protocol.h"
#include "tttmem/tokenizer.h"
#include "tttmem/train.h"
#include "tttmem/ttt.h"

namespace tttmem::cli {

namespace {

struct Flags {
  std::string model, data, out, tokenizer, eval_data, memory_data, memory_eval_data;
  std::string objective = "lm", memory_protocol = "seed";
  double memory_weight = 1.0;
  std::string schedule = "constant", trainable = "ttt", precision = "fp32-master";
  std::string packing = "truncate", loss_on = "all", ttt_form = "auto", attention = "sdpa";
  std::int64_t steps = 100, warmup = 0, batch_size = 1, grad_accum = 4, seq_len = 512;
  std::int64_t eval_every = 0, save_every = 100;
  double lr = 1e-5, clip = 1.0, weight_decay = 0.01;
  bool no_document_end = false;
  std::vector<double> betas{0.9, 0.95};
  bool grad_checkpointing = false, resume = false, shuffle = false;
  TttFlags ttt_flags;
  E2EFlags e2e_flags;
};
// What a --resume must share with the run that wrote the state (train::LoopOptions::metadata):
// everything that changes what a step computes. Data files by content; steps only where the
// schedule depends on them.
std::map<std::string, std::string> run_identity(const Flags& f, const GlobalOptions& global,
                                                at::ScalarType dtype,
                                                const std::optional<TttSetup>& ttt,
                                                const std::optional<E2ESetup>& e2e) {
  auto number = [](double value) { return nlohmann::json(value).dump(); };
  auto file_hash = [](const std::string& file) {
    return file.empty() ? std::string() : experiment::sha256_file(file);
  };
  std::map<std::string, std::string> id{
      {"model", std::filesystem::weakly_canonical(f.model).string()},
      {"tokenizer", std::filesystem::weakly_canonical(f.tokenizer.empty() ? f.model : f.tokenizer)
                        .string()},
      {"objective", f.objective},
      {"data_sha256", file_hash(f.data)},
      {"eval_data_sha256", file_hash(f.eval_data)},
      {"seq_len", std::to_string(f.seq_len)},
      {"packing", f.packing},
      {"loss_on", f.loss_on},
      {"batch_size", std::to_string(f.batch_size)},
      // Micro-batches per optimizer step over all ranks: a state resumes on any world size that
      // keeps it (and --batch-size), since the steps are then the same.
      {"grad_accum", std::to_string(f.grad_accum * (global.world ? global.world->size() : 1))},
      {"lr", number(f.lr)},
      {"schedule", f.schedule},
      {"warmup", std::to_string(f.warmup)},
      {"clip", number(f.clip)},
      {"weight_decay", number(f.weight_decay)},
      {"betas", number(f.betas[0]) + "," + number(f.betas[1])},
      {"ttt_form", f.ttt_form},
      {"attention", f.attention},
      {"dtype", c10::toString(dtype)},
      {"seed", std::to_string(global.seed)},
      {"order", f.shuffle ? "shuffled by seed" : "file"},
      {"ttt_config", ttt ? ttt->config.to_json().dump() : "none"}};
  if (e2e) id["e2e_config"] = e2e->config.to_json().dump();  // absent: older states resume
  if (f.schedule == "cosine") id["steps"] = std::to_string(f.steps);
  if (f.objective != "lm") {
    id["memory_data_sha256"] = file_hash(f.memory_data);
    id["memory_eval_data_sha256"] = file_hash(f.memory_eval_data);
    id["memory_protocol"] = f.memory_protocol;
  }
  if (f.objective == "mixed") id["memory_weight"] = number(f.memory_weight);
  if (f.no_document_end) id["document_end"] = "none";
  return id;
}

}  // namespace

Action add_train_minimal(CLI::App& app, const GlobalOptions& global) {
  auto* sub = app.add_subcommand(
      "train-minimal", "Train the TTT parameters (ttt_proj, ttt_conv) on a frozen base model");
  auto f = std::make_shared<Flags>();
  sub->add_option("--model", f->model, "Model directory (config.json + safetensors)")->required();
  sub->add_option("--data", f->data,
                  "Training JSONL: one {\"messages\": [...]} (Qwen3 chat template), "
                  "{\"text\": ...} or {\"instruction\", \"input\", \"output\"} (LongAlpaca, "
                  "formatted as the Gemma3 adapter study did) per line (objectives lm and mixed)");
  sub->add_option("--out", f->out,
                  "Output folder: metrics.jsonl, ttt.safetensors (loadable by --ttt; "
                  "e2e.safetensors for --e2e under --memory e2e), state.safetensors (resume), "
                  "loss.png/svg")->required();
  f->ttt_flags.add_to(*sub);
  f->e2e_flags.add_to(*sub);
  sub->add_option("--tokenizer", f->tokenizer, "Tokenizer file or folder (default: --model)");
  sub->add_option("--steps", f->steps, "Optimizer steps (each of --grad-accum micro-batches; the "
                  "seed counted micro-batches)")->capture_default_str()->check(whole_number(1, INT64_MAX));
  sub->add_option("--lr", f->lr, "AdamW learning rate")->capture_default_str();
  sub->add_option("--schedule", f->schedule, "constant or cosine (to 0 at --steps)")
      ->capture_default_str()->check(CLI::IsMember({"constant", "cosine"}));
  sub->add_option("--warmup", f->warmup, "Optimizer steps of linear warmup")->capture_default_str()
      ->check(whole_number(0, INT64_MAX));
  sub->add_option("--batch-size", f->batch_size, "Rows per micro-batch")->capture_default_str()
      ->check(whole_number(1, 1 << 20));
  sub->add_option("--grad-accum", f->grad_accum, "Micro-batches per optimizer step")
      ->capture_default_str()->check(whole_number(1, 1 << 20));
  sub->add_option("--seq-len", f->seq_len, "Tokens per row")->capture_default_str()
      ->check(whole_number(2, 1 << 24));
  sub->add_option("--packing", f->packing,
                  "truncate (one row per document, right-padded; the seed) or pack")
      ->capture_default_str()->check(CLI::IsMember({"pack", "truncate"}));
  sub->add_option("--loss-on", f->loss_on, "all tokens (the seed) or assistant tokens only")
      ->capture_default_str()->check(CLI::IsMember({"all", "assistant"}));
  sub->add_flag("--no-document-end", f->no_document_end,
                "Text and instruction documents end without <|endoftext|> (the Gemma3 adapter "
                "study's rows)");
  sub->add_option("--clip", f->clip, "Max global grad norm (<= 0: none)")->capture_default_str();
  sub->add_option("--weight-decay", f->weight_decay, "AdamW weight decay")->capture_default_str();
  sub->add_option("--betas", f->betas, "AdamW betas")->expected(2)->capture_default_str();
  sub->add_option("--trainable", f->trainable,
                  "ttt (ttt_proj + ttt_conv), ttt+down (plus the TTT layers' down_proj) or all")
      ->capture_default_str()->check(CLI::IsMember({"ttt", "ttt+down", "all"}));
  sub->add_flag("--grad-checkpointing", f->grad_checkpointing,
                "Recompute each decoder layer (--memory e2e: each inner-loop mini-batch) in the "
                "backward pass instead of keeping activations");
  sub->add_option("--precision", f->precision,
                  "fp32-master (fp32 master weights and AdamW state) or seed-bf16 (all bf16, the "
                  "seed)")->capture_default_str()->check(CLI::IsMember({"seed-bf16", "fp32-master"}));
  sub->add_option("--ttt-form", f->ttt_form,
                  "TTT training form: auto, parallel (prefix sum) or low-rank")
      ->capture_default_str()->check(CLI::IsMember({"auto", "parallel", "low-rank"}));
  sub->add_option("--attention", f->attention, "sdpa or math (HF eager)")->capture_default_str()
      ->check(CLI::IsMember({"sdpa", "math"}));
  sub->add_option("--eval-data", f->eval_data, "Evaluation JSONL (same format)");
  sub->add_option("--eval-every", f->eval_every, "Evaluate every N optimizer steps (0: never)")
      ->capture_default_str()->check(whole_number(0, INT64_MAX));
  sub->add_option("--save-every", f->save_every, "Checkpoint every N optimizer steps (0: at the end)")
      ->capture_default_str()->check(whole_number(0, INT64_MAX));
  sub->add_flag("--resume", f->resume, "Continue from OUT/state.safetensors (bit-identical)");
  sub->add_flag("--shuffle", f->shuffle,
                "Train on the rows and memory conversations in an order drawn from --seed "
                "(default: file order, the seed's); --seed also draws the TTT tensors --ttt-init creates");
  sub->add_option("--objective", f->objective,
                  "lm (next-token loss on --data), memory (answer each --memory-data probe from "
                  "the fast weights its conversation left; loss on the gold answer) or mixed "
                  "(lm + --memory-weight x memory)")
      ->capture_default_str()->check(CLI::IsMember({"lm", "memory", "mixed"}));
  auto* memory_data = sub->add_option(
      "--memory-data", f->memory_data,
      "Benchmark JSON (build-benchmark, v1 or v2): every sample is a training conversation");
  auto* memory_eval = sub->add_option("--memory-eval-data", f->memory_eval_data,
                                      "Benchmark JSON for the memory loss at --eval-every");
  auto* memory_weight = sub->add_option("--memory-weight", f->memory_weight,
                                        "mixed: the memory loss's weight")->capture_default_str();
  auto* memory_protocol = sub->add_option(
      "--memory-protocol", f->memory_protocol,
      "Probe protocol of the memory objective, as `run --protocol`: seed (the ingestion's partial "
      "chunk per the TTT config, fast weights live while answering) or fixed (flushed, frozen)")
      ->capture_default_str()->check(CLI::IsMember({"seed", "fixed"}));

  // Checked at parse time (usage errors, exit 2): a flag that would change nothing is an error.
  sub->parse_complete_callback([f, memory_data, memory_eval, memory_weight, memory_protocol] {
    const train::Objective objective = train::parse_objective(f->objective);
    const bool lm = objective != train::Objective::memory;
    const bool memory = objective != train::Objective::lm;
    if (lm && f->data.empty())
      throw CLI::ValidationError("--data", "required by --objective " + f->objective);
    if (!lm && !f->data.empty())
      throw CLI::ValidationError("--data", "--objective memory does not read it");
    if (memory && f->memory_data.empty())
      throw CLI::ValidationError("--memory-data", "required by --objective " + f->objective);
    if (!memory)
      for (const CLI::Option* option : {memory_data, memory_eval, memory_protocol})
        if (option->count() > 0)
          throw CLI::ValidationError(option->get_name(), "only --objective memory or mixed reads it");
    if (objective != train::Objective::mixed && memory_weight->count() > 0)
      throw CLI::ValidationError("--memory-weight", "only --objective mixed reads it");
  });

  return [f, &global]() -> int {
    const train::Objective objective = train::parse_objective(f->objective);
    const at::Device device = model::parse_device(global.device);
    const at::ScalarType dtype = model::parse_compute_dtype(global.dtype, device);
    at::manual_seed(global.seed);  // nothing stochastic runs but --shuffle; recorded in the state
    const ModelConfig config = ModelConfig::load(f->model);
    const io::Checkpoint checkpoint = io::Checkpoint::open(f->model);
    model::Decoder decoder(config, checkpoint, device, dtype,
                            f->attention == "math" ? model::Attention::math
                                                   : model::Attention::sdpa);
    std::optional<ttt::TTTConfig> ttt_config;
    ttt::TTTParams ttt_params;
    std::optional<E2ESetup> e2e_setup =
        f->e2e_flags.setup(config, checkpoint, device, global.seed, f->ttt_flags);
    if (e2e_setup)
      log::info("train: E2E ", e2e_setup->config.to_json().dump(), ", initial weights from ",
                e2e_setup->source);
    std::optional<TttSetup> ttt_setup =
        e2e_setup ? std::nullopt
                  : f->ttt_flags.setup(config, f->model, checkpoint, device, dtype, global.seed);
    if (ttt_setup) {
      ttt_config = ttt_setup->config;
      ttt_params = std::move(ttt_setup->params);
      log::info("train: TTT ", ttt_config->to_json().dump(), ", parameters from ",
                ttt_setup->source);
    }

    const auto tok = tokenizer::Tokenizer::load(f->tokenizer.empty() ? f->model : f->tokenizer);
    const std::optional<std::int64_t> bos = model::sequence_bos(config);
    const train::CorpusOptions corpus{f->seq_len, train::parse_packing(f->packing),
                                      train::parse_loss_on(f->loss_on), bos,
                                      !f->no_document_end};
    const auto protocol = protocol::ProtocolOptions::preset(f->memory_protocol);
    train::TrainingData data;
    if (!f->data.empty()) {
      data.rows = train::load_corpus(f->data, *tok, corpus);
      log::info("train: ", data.rows.size(), " rows of <= ", f->seq_len, " tokens from ", f->data);
    }
    if (!f->eval_data.empty()) data.eval_rows = train::load_corpus(f->eval_data, *tok, corpus);
    if (!f->memory_data.empty()) {
      data.memory =
          train::load_memory_examples(f->memory_data, *tok, train::answer_end(config, *tok), protocol,
                                      bos);
      std::size_t probes = 0;
      for (const auto& example : data.memory) probes += example.probes.size();
      log::info("train: ", data.memory.size(), " conversations, ", probes, " probes from ",
                f->memory_data, " (--memory-protocol ", f->memory_protocol, ")");
    }
    if (!f->memory_eval_data.empty())
      data.memory_eval = train::load_memory_examples(
          f->memory_eval_data, *tok, train::answer_end(config, *tok), protocol, bos);

    if (f->shuffle) train::shuffle_training_order(data, global.seed);

    train::TrainerOptions options;
    options.trainable = train::parse_trainable(f->trainable);
    options.precision = train::parse_precision(f->precision);
    options.grad_checkpointing = f->grad_checkpointing;
    options.ttt_form = train::parse_ttt_form(f->ttt_form);
    options.grad_accum = f->grad_accum;
    options.memory_protocol = protocol;
    options.optimizer = {f->lr, train::parse_schedule(f->schedule), f->warmup, f->steps,
                         f->weight_decay, f->betas[0], f->betas[1], 1e-8, f->clip};
    if (objective != train::Objective::lm && !ttt_config && !e2e_setup)
      throw std::runtime_error("--objective " + f->objective + " needs TTT layers (give --ttt, a "
                               "TTT model, or --ttt-preset/--ttt-layers) or --memory e2e");
    if (e2e_setup) e2e_setup->apply_window(decoder);
    std::optional<train::Trainer> made;
    if (e2e_setup)
      made.emplace(decoder, e2e_setup->config, std::move(e2e_setup->params), options);
    else
      made.emplace(decoder, ttt_config, std::move(ttt_params), options);
    train::Trainer& trainer = *made;
    std::int64_t count = 0;
    for (const auto& [name, master] : trainer.trainable()) count += master.numel();
    log::info("train: ", trainer.trainable().size(), " trainable tensors, ", count,
              " parameters (", f->trainable, ", ", f->precision, ")");

    train::LoopOptions loop;
    loop.out = f->out;
    loop.steps = f->steps;
    loop.batch_size = f->batch_size;
    loop.eval_every = f->eval_every;
    loop.save_every = f->save_every;
    loop.resume = f->resume;
    loop.pad_id = train::end_of_text(*tok);
    loop.objective = objective;
    loop.memory_weight = f->memory_weight;
    loop.metadata = run_identity(*f, global, dtype, ttt_setup, e2e_setup);
    if (ttt_setup) {
      loop.ttt_preset = ttt_setup->preset;
      loop.ttt_init = ttt_setup->init;
    }
    loop.world = global.world;
    loop.model_config = nlohmann::json::parse(io::read_file(std::filesystem::path(f->model) / "config.json"));
    return train::run_training(trainer, data, loop);
  };
}

}  // namespace tttmem::cli
