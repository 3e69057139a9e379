// tttmem run: answers the benchmark's probes under one condition (or all), one JSONL record per
// probe as it goes, resumable; the engine is src/experiment (SPEC.md "run").
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "commands.h"
#include "e2e_flags.h"
#include "flag_checks.h"
#include "git_commit.h"
#include "ttt_flags.h"
#include "tttmem/bench.h"
#include "tttmem/config.h"
#include "tttmem/dist.h"
#include "tttmem/experiment.h"
#include "tttmem/io.h"
#include "tttmem/kernels.h"
#include "tttmem/log.h"
#include "tttmem/model.h"
#include "tttmem/protocol.h"
#include "tttmem/tokenizer.h"

namespace tttmem::cli {

namespace {

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), out;
  for (char c : raw) out += c == '\0' ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// sha256 of every file of the model folder that defines it: config.json and the safetensors.
nlohmann::ordered_json model_hashes(const std::filesystem::path& dir) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name == "config.json" || entry.path().extension() == ".safetensors" ||
        name == "model.safetensors.index.json")
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) out[file.filename().string()] = experiment::sha256_file(file);
  return out;
}

nlohmann::ordered_json path_hashes(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path)) return model_hashes(path);
  return {{path.filename().string(), experiment::sha256_file(path)}};
}

// --condition's help: each accepted value of the condition table with its description.
std::string condition_help() {
  std::string out;
  for (const protocol::ConditionValue& value : protocol::condition_values())
    out += (out.empty() ? "" : ", ") + value.name + " (" + value.description + ")";
  return out;
}

std::vector<std::string> condition_names() {
  std::vector<std::string> out;
  for (const protocol::ConditionValue& value : protocol::condition_values())
    out.push_back(value.name);
  return out;
}

}  // namespace

Action add_run(CLI::App& app, const GlobalOptions& global) {
  auto* sub = app.add_subcommand(
      "run", "Answer the benchmark's probes under a condition (A, B, C, D, all, or an ablation)");
  struct Options {
    std::string model, benchmark, condition, out, tokenizer, protocol = "seed", samples;
    std::int64_t limit = 0;
    std::string batch_size = "auto";
    std::string max_new_tokens = "32";
    std::int64_t attention_window = 0;
    bool resume = false;
    bool flush_partial_chunk = false, freeze_while_answering = false, distractor_in_a_c = false,
         trained_ttt_in_a_c = false, chat_template = false, stop_at_newline = false,
         ingest_bos = false;
    std::string paper_decode = "auto";
    std::vector<double> noise_scales{0.01, 0.05, 0.1, 0.2, 0.5};
    std::vector<double> alphas{0.1, 0.2, 0.3, 0.5, 0.7, 1.0};
    TttFlags ttt_flags;
    E2EFlags e2e_flags;
  };
  auto o = std::make_shared<Options>();
  sub->add_option("--model", o->model, "Model folder (config.json + safetensors)")->required();
  sub->add_option("--benchmark", o->benchmark, "Benchmark JSON (build-benchmark output)")->required();
  sub->add_option("--condition", o->condition, condition_help())
      ->required()
      ->check(CLI::IsMember(condition_names()));
  sub->add_option("--out", o->out, "Result folder: condition_<x>.jsonl/.json and run.json")
      ->required();
  sub->add_option("--tokenizer", o->tokenizer,
                  "Tokenizer (.tiktoken, tokenizer.json/.model or a folder); default: --model");
  o->ttt_flags.add_to(*sub);
  o->e2e_flags.add_to(*sub);
  sub->add_option("--protocol", o->protocol,
                  "seed: the original protocol exactly; fixed: also flush the partial chunk, "
                  "freeze while answering, distractor in A and C, trained TTT in A and C (DECISIONS.md "
                  "`## run`)")
      ->check(CLI::IsMember({"seed", "fixed"}))
      ->capture_default_str();
  auto* limit = sub->add_option("--limit", o->limit,
                                 "Only the first N samples of each level (file order)")
                     ->check(whole_number(1, INT64_MAX));
  auto* samples = sub->add_option("--samples", o->samples, "Only these sample ids, comma-separated");
  sub->add_option("--batch-size", o->batch_size,
                  "Probes decoded together: a number, or auto (the largest power of two up to 64 "
                  "whose rows fit the free memory of the device; run.json records it)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            std::string copy = text;
            if (text == "auto" || whole_number(1, 1 << 16)(copy).empty()) return {};
            return "expected auto or a whole number from 1 to 65536, got '" + text + "'";
          },
          "auto|N"))
      ->capture_default_str();
  sub->add_flag("--resume", o->resume, "Continue a killed run in --out without redoing a probe");
  sub->add_flag("--flush-partial-chunk", o->flush_partial_chunk,
                "Write the ingested text's partial last chunk into the fast weights");
  sub->add_flag("--freeze-while-answering", o->freeze_while_answering,
                "No fast-weight updates while a probe is answered");
  sub->add_flag("--distractor-in-a-c", o->distractor_in_a_c,
                "Level 3: the distractor also in the context of A and C");
  sub->add_flag("--trained-ttt-in-a-c", o->trained_ttt_in_a_c,
                "A and C keep the trained TTT parameters (live) instead of zeroing them");
  sub->add_flag("--chat-template", o->chat_template, "Qwen3 chat template, thinking off");
  sub->add_flag("--ingest-bos", o->ingest_bos,
                "Ingested texts start with the model's BOS, as its prompts do (Gemma3; Qwen3 has "
                "none)");
  sub->add_option("--paper-decode", o->paper_decode,
                  std::string(protocol::kTttPaper) +
                      ": how the answer is decoded after the prefill: base (the model's own "
                      "down_proj, as the Gemma3 adapter study's generate), live (the prompt's "
                      "fast weights keep applying and updating, as the seed and ByteDance's "
                      "inference cache), or auto (base on a RULER or HELMET file, live otherwise)")
      ->check(CLI::IsMember({"auto", "base", "live"}))
      ->capture_default_str();
  sub->add_flag("--stop-at-newline", o->stop_at_newline, "Stop at the first generated newline");
  sub->add_option("--max-new-tokens", o->max_new_tokens,
                  "Greedy tokens per probe: a number, or ruler (a RULER file's own budget for its "
                  "task: vt 30, cwe 120, fwe 50, niah 128; the Gemma3 adapter study used 16)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            std::string copy = text;
            return text == "ruler" ? std::string() : whole_number(1, 1 << 20)(copy);
          },
          "N|ruler"))
      ->capture_default_str();
  sub->add_option("--noise-scales", o->noise_scales,
                  std::string(protocol::kNoise) + ": relative noise scales")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--alphas", o->alphas,
                  std::string(protocol::kScaled) + ": factors on the trained TTT parameters")
      ->delimiter(',')
      ->capture_default_str();
  add_attention_window(*sub, o->attention_window);
  sub->final_callback([o, samples] {
    // An empty list would silently mean every sample.
    if (samples->count() > 0) {
      std::string ids = "," + o->samples + ",";
      if (o->samples.find_first_not_of(", ") == std::string::npos || ids.find(",,") != std::string::npos)
        throw CLI::ValidationError("--samples", "expected comma-separated sample ids, got '" +
                                                    o->samples + "'");
    }
    // scroll forgets by the window: without one the conversation would never leave the context.
    const protocol::ConditionKind* kind = protocol::find_kind(o->condition);  // null for all
    if (kind && kind->filler_until_out_of_window && o->attention_window == 0)
      throw CLI::ValidationError("--condition " + o->condition,
                                 "needs --attention-window N: the conversation scrolls out of a "
                                 "sliding attention window of N tokens");
  });

  return [o, limit, &global]() -> int {
    const std::optional<std::int64_t> level_limit =
        limit->count() ? std::optional<std::int64_t>(o->limit) : std::nullopt;
    const auto started = std::chrono::steady_clock::now();
    protocol::ProtocolOptions protocol = protocol::ProtocolOptions::preset(o->protocol);
    protocol.flush_partial_chunk |= o->flush_partial_chunk;
    protocol.freeze_while_answering |= o->freeze_while_answering;
    protocol.distractor_in_a_c |= o->distractor_in_a_c;
    protocol.trained_ttt_in_a_c |= o->trained_ttt_in_a_c;
    protocol.chat_template = o->chat_template;
    protocol.stop_at_newline = o->stop_at_newline;
    protocol.ingest_bos = o->ingest_bos;
    const bench::Benchmark benchmark = bench::load_benchmark(o->benchmark);
    // Each source's own decoding by default: the study's files are RULER's format.
    protocol.paper_decode_base_down =
        o->paper_decode == "base" || (o->paper_decode == "auto" && benchmark.version == "ruler");
    // run.json and the identity record a sweep's list only for the condition that sweeps it.
    const protocol::ConditionKind* kind = protocol::find_kind(o->condition);  // null for all
    const protocol::Sweep sweep = kind ? kind->sweep : protocol::Sweep::none;
    std::vector<std::string> sample_ids;
    for (std::stringstream in(o->samples); in.good();) {
      std::string id;
      std::getline(in, id, ',');
      if (!id.empty()) sample_ids.push_back(id);
    }

    if (o->max_new_tokens != "ruler") {
      protocol.max_new_tokens = std::stoll(o->max_new_tokens);
    } else if (benchmark.tokens_to_generate > 0) {
      protocol.max_new_tokens = benchmark.tokens_to_generate;
    } else {
      throw std::invalid_argument("--max-new-tokens ruler: " + o->benchmark + " is a " +
                                  benchmark.version +
                                  " benchmark, which names no generation budget (a --format "
                                  "ruler or helmet file does)");
    }
    const std::vector<protocol::Condition> conditions =
        protocol::make_conditions(o->condition, protocol, o->noise_scales, o->alphas);
    const at::Device device = model::parse_device(global.device);
    const at::ScalarType dtype = model::parse_compute_dtype(global.dtype, device);
    const ModelConfig config = ModelConfig::load(o->model);
    const io::Checkpoint checkpoint = io::Checkpoint::open(o->model);
    model::Decoder decoder(config, checkpoint, device, dtype);
    if (o->attention_window > 0) decoder.set_attention_window(o->attention_window);
    const auto tok = tokenizer::Tokenizer::load(o->tokenizer.empty() ? o->model : o->tokenizer);
    std::optional<E2ESetup> e2e =
        o->e2e_flags.setup(config, checkpoint, device, global.seed, o->ttt_flags);
    // Under --memory e2e the model carries no In-Place graft.
    std::optional<TttSetup> ttt =
        e2e ? std::nullopt
            : o->ttt_flags.setup(config, o->model, checkpoint, device, dtype, global.seed);
    if (e2e) e2e->apply_window(decoder, o->attention_window);

    // What a resumed condition must share with the run that wrote its records.
    nlohmann::ordered_json identity;
    identity["model_sha256"] = model_hashes(o->model);
    identity["ttt"] = ttt ? nlohmann::ordered_json{{"config", ttt->config.to_json()},
                                                   {"config_sources", ttt->sources},
                                                   {"preset", ttt->preset},
                                                   {"init", ttt->init},
                                                   {"sha256", o->ttt_flags.checkpoint.empty()
                                                                  ? nlohmann::ordered_json("model")
                                                                  : path_hashes(o->ttt_flags.checkpoint)}}
                          : nlohmann::ordered_json();
    if (e2e)  // absent under In-Place TTT, so earlier folders still resume
      identity["e2e"] = {{"config", e2e->config.to_json()},
                         {"sha256", o->e2e_flags.checkpoint.empty()
                                        ? nlohmann::ordered_json(e2e->source)
                                        : path_hashes(o->e2e_flags.checkpoint)}};
    identity["benchmark_sha256"] = experiment::sha256_file(o->benchmark);
    identity["tokenizer"] =
        std::filesystem::weakly_canonical(o->tokenizer.empty() ? o->model : o->tokenizer).string();
    identity["protocol_options"] = protocol.to_json();
    identity["dtype"] = c10::toString(dtype);
    identity["attention_windows"] = decoder.attention_windows();
    if (sweep == protocol::Sweep::noise_scales) identity["noise_scales"] = o->noise_scales;
    if (sweep == protocol::Sweep::alphas) identity["alphas"] = o->alphas;

    // Under a launch of several ranks each answers its shard of the samples into its own folder;
    // rank 0 merges them at the end (SPEC.md "Scale-out").
    dist::World one_process;
    dist::World& world = global.world ? *global.world : one_process;
    experiment::check_world(o->out, world.size());
    const std::filesystem::path records_dir =
        world.distributed() ? experiment::rank_dir(o->out, world.rank(), world.size())
                            : std::filesystem::path(o->out);
    experiment::EngineOptions engine_options{o->resume, records_dir, protocol, identity,
                                             model::kPrefillPiece,
                                             [&world] { world.check_peers(); },
                                             e2e ? &e2e->config : nullptr,
                                             e2e ? &e2e->params : nullptr};
    experiment::Engine engine(decoder, *tok, ttt ? &ttt->config : nullptr,
                              ttt ? &ttt->params : nullptr, engine_options);
    // Each condition's samples, and the most one of its rows holds: the batch size is sized to
    // the worst (SPEC.md "run", batch size), checked before a long run starts.
    std::vector<std::vector<const bench::Sample*>> condition_samples, rank_samples;
    std::int64_t row = 0;
    experiment::RowNeeds longest;
    for (const protocol::Condition& condition : conditions) {
      condition_samples.push_back(
          protocol::select_samples(benchmark, sample_ids, level_limit, condition.level3_only));
      rank_samples.push_back(
          experiment::shard(condition_samples.back(), world.rank(), world.size()));
      const experiment::RowNeeds needs = engine.row_needs(condition, rank_samples.back());
      // An E2E row holds its dynamic weights (fp32) beside what row_bytes counts.
      const std::int64_t e2e_bytes = e2e && needs.fast_weights ? e2e->config.row_bytes(config) : 0;
      row = std::max(row, e2e_bytes + experiment::row_bytes(config, ttt ? &ttt->config : nullptr,
                                                            dtype, needs, protocol.max_new_tokens));
      longest.ingest_tokens = std::max(longest.ingest_tokens, needs.ingest_tokens);
      longest.answer_tokens = std::max(longest.answer_tokens, needs.answer_tokens);
    }
    const experiment::BatchChoice batch =
        o->batch_size == "auto" ? experiment::default_batch_size(row, device)
                                : experiment::BatchChoice{std::stoll(o->batch_size), "--batch-size"};
    const std::int64_t rows_bytes = batch.size * row;
    log::info("run: batch size ", batch.size, " (", batch.reason, "); its rows take at most ",
              static_cast<double>(rows_bytes) / (1 << 30), " GiB beside the weights (longest ",
              "ingested stream ", longest.ingest_tokens, " tokens, longest answering row ",
              longest.answer_tokens, ")");
    if (longest.answer_tokens + protocol.max_new_tokens > config.max_position_embeddings)
      log::warn("run: the longest answering row (", longest.answer_tokens,
                " tokens) plus --max-new-tokens ", protocol.max_new_tokens,
                " exceeds the model's max_position_embeddings (", config.max_position_embeddings,
                "): an answer that long is generated at positions the model was not trained for");

    std::filesystem::create_directories(records_dir);
    nlohmann::ordered_json timings = nlohmann::ordered_json::array();
    for (std::size_t c = 0; c < conditions.size(); ++c)
      timings.push_back(engine.run(conditions[c], rank_samples[c], batch.size).to_json());
    // What the arithmetic above is checked against on a GPU: the allocator's peak, weights
    // included, over the whole process.
    const nlohmann::ordered_json device_peak =
        device.is_cuda()
            ? nlohmann::ordered_json(kernels::device_peak_allocated(device.has_index() ? device.index() : 0))
            : nlohmann::ordered_json();
    nlohmann::ordered_json world_json = {{"size", world.size()}};
    if (world.distributed()) {
      std::vector<std::string> names;
      for (const protocol::Condition& condition : conditions) names.push_back(condition.name);
      const std::vector<std::string> reports = world.gather_at_leader(
          "run", experiment::rank_report(world.rank(), records_dir, names, timings, device_peak));
      if (!world.leader()) return 0;
      world_json["backend"] = world.backend();
      timings = experiment::merge_reports(o->out, names, condition_samples, identity, reports,
                                          world_json["ranks"]);
      log::info("run: merged the records of ", world.size(), " ranks into ", o->out);
    }

    nlohmann::ordered_json run;
    run["command"] = command_line();
    run["tttmem_commit"] = TTTMEM_GIT_COMMIT;
    run["condition"] = o->condition;
    run["protocol"] = o->protocol;
    run["protocol_options"] = protocol.to_json();
    run["batch_size"] = batch.size;
    run["batch_size_source"] = batch.reason;
    run["batch_rows_worst_case_bytes"] = rows_bytes;
    run["longest_ingest_tokens"] = longest.ingest_tokens;
    run["longest_answer_tokens"] = longest.answer_tokens;
    run["attention_windows"] = decoder.attention_windows();  // per layer, 0 = full attention
    run["limit"] = level_limit ? nlohmann::ordered_json(*level_limit) : nlohmann::ordered_json();
    run["samples"] = sample_ids;
    if (sweep == protocol::Sweep::noise_scales) run["noise_scales"] = o->noise_scales;
    if (sweep == protocol::Sweep::alphas) run["alphas"] = o->alphas;
    run["device"] = global.device;
    run["dtype"] = c10::toString(dtype);
    run["seed"] = global.seed;
    run["model"] = {{"path", o->model}, {"sha256", identity["model_sha256"]}};
    run["ttt"] = ttt ? nlohmann::ordered_json{{"source", ttt->source},
                                              {"config", identity["ttt"]["config"]},
                                              {"config_sources", ttt->sources},
                                              {"preset", ttt->preset},
                                              {"init", ttt->init},
                                              {"sha256", identity["ttt"]["sha256"]}}
                     : nlohmann::ordered_json();
    run["memory"] = o->e2e_flags.memory;
    run["e2e"] = e2e ? describe(*e2e) : nlohmann::ordered_json();
    run["benchmark"] = {{"path", o->benchmark}, {"sha256", identity["benchmark_sha256"]}};
    run["tokenizer"] = o->tokenizer.empty() ? o->model : o->tokenizer;
    run["conditions"] = timings;
    run["device_peak_allocated_bytes"] = device_peak;  // rank 0's under a distributed launch
    run["world"] = world_json;
    run["seconds"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    io::atomic_write_file(std::filesystem::path(o->out) / "run.json", run.dump(2) + "\n");
    return 0;
  };
}

}  // namespace tttmem::cli
