// experiment: the batched engine. Rows are probes; the batch is refilled as rows stop
// (continuous batching); each row has its own KV slots and its own TTT state, and the probes of
// one sample start from the one memory its ingestion left (SPEC.md S2.4, S2.8, S3.2).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include "tttmem/experiment.h"
#include "tttmem/host_read.h"
#include "tttmem/io.h"
#include "tttmem/log.h"

namespace tttmem::experiment {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

// The window a condition scrolls its ingested text out of: the model's, which must be one size
// on every layer (a full-attention layer would never let the text go).
std::int64_t scroll_window(const model::Qwen3Model& model, const Condition& condition) {
  const std::vector<std::int64_t>& windows = model.attention_windows();
  const std::int64_t window = windows.front();
  if (window == 0 || std::count(windows.begin(), windows.end(), window) !=
                         static_cast<std::ptrdiff_t>(windows.size()))
    throw std::invalid_argument("condition " + condition.name +
                                " scrolls the conversation out of the attention window, but the "
                                "model has no sliding window on every layer: give "
                                "--attention-window N");
  return window;
}

// a_prime (SPEC.md S3.2): Gaussian noise of Frobenius norm s * ||W||_F on down_proj of each TTT
// layer, drawn in layer order from one CPU fp32 generator seeded 0 for every scale (so every
// scale has the same direction), cast to W's dtype and added; the destructor restores W.
class DownProjNoise {
 public:
  DownProjNoise(model::Qwen3Model& model, const std::vector<std::int64_t>& layers, double scale)
      : model_(model) {
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(0);
    for (std::int64_t layer : layers) {
      at::Tensor& w = model.mlp_weights(layer).down_proj;
      saved_.emplace_back(layer, w);
      const at::Tensor w32 = model::to_host(w).to(at::kFloat);
      at::Tensor noise = at::randn(w32.sizes(), generator, at::TensorOptions().dtype(at::kFloat));
      const double w_norm = w32.norm().item<double>();        // host tensor
      const double noise_norm = noise.norm().item<double>();  // host tensor
      noise = noise * (scale * w_norm / noise_norm);
      w = w + noise.to(w.device(), w.scalar_type());  // a new tensor: the saved one stays intact
    }
  }
  ~DownProjNoise() {
    for (auto& [layer, w] : saved_) model_.mlp_weights(layer).down_proj = w;
  }
  DownProjNoise(const DownProjNoise&) = delete;
  DownProjNoise& operator=(const DownProjNoise&) = delete;

 private:
  model::Qwen3Model& model_;
  std::vector<std::pair<std::int64_t, at::Tensor>> saved_;
};

// Appends records to the JSONL file, one flushed line each, so a killed run loses at most the
// line being written (read_records cuts a torn last line).
class RecordWriter {
 public:
  explicit RecordWriter(const std::filesystem::path& path) : path_(path) {
    file_ = std::fopen(path.c_str(), "ab");
    if (!file_) fail("cannot open " + path.string() + " for appending");
    if (const char* limit = std::getenv("TTTMEM_TEST_EXIT_AFTER_RECORDS"))
      exit_after_ = std::atoll(limit);
  }
  ~RecordWriter() { std::fclose(file_); }
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;
  void write(const Record& record) {
    const std::string line = record.to_json().dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace) + "\n";
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
      fail("cannot write to " + path_.string());
    // Tests kill the run here, abruptly, to check that --resume continues it exactly.
    if (exit_after_ > 0 && ++written_ == exit_after_) std::_Exit(137);
  }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  long long exit_after_ = 0, written_ = 0;
};

}  // namespace

struct Engine::Row {
  const bench::Sample* sample = nullptr;
  const bench::Probe* probe = nullptr;
  std::int64_t prompt_tokens = 0;
  std::vector<std::int64_t> generated;
  Clock::time_point start;
  std::int64_t ingested_tokens = 0, ingest_truncated_from = 0;
};

Engine::Engine(model::Qwen3Model& model, const tokenizer::Tokenizer& tokenizer,
               const ttt::TTTConfig* ttt_config, ttt::TTTParams* params, EngineOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      ttt_config_(ttt_config),
      params_(params),
      options_(std::move(options)),
      stop_ids_(model::default_stop_ids(model.config())) {
  if ((ttt_config_ == nullptr) != (params_ == nullptr))
    throw std::invalid_argument("Engine: a TTT config needs its parameters and vice versa");
  if (options_.batch_size < 1) throw std::invalid_argument("--batch-size: must be >= 1");
  if (options_.protocol.max_new_tokens < 1)
    throw std::invalid_argument("--max-new-tokens: must be >= 1");
  if (params_) trained_ = params_->snapshot();
  for (const tokenizer::AddedToken& token : tokenizer.added_tokens())
    if (token.special) special_ids_.insert(token.id);
}

std::vector<std::int64_t> Engine::encode(const std::string& text) const {
  const auto ids = tokenizer_.encode(text);
  return {ids.begin(), ids.end()};
}

Engine::Stream Engine::ingest_ids(const Condition& condition, const bench::Sample& sample) const {
  const std::optional<std::string> text = ingest_text(condition, sample);
  if (!text) fail("condition " + condition.name + " ingests nothing");
  Stream stream{encode(*text), 0};
  std::vector<std::int64_t>& ids = stream.ids;
  if (ids.size() > ingest_limit(condition.ingest)) {
    stream.truncated_from = static_cast<std::int64_t>(ids.size());
    ids.resize(ingest_limit(condition.ingest));
    log::warn("run ", condition.name, ": sample ", sample.sample_id, "'s ingested text has ",
              stream.truncated_from, " tokens; only the first ", ids.size(),
              " are ingested (the seed's limit, SPEC.md S2.6)");
  }
  if (condition.filler_until_out_of_window) {
    const std::vector<std::int64_t> filler =
        scroll_filler(sample, tokenizer_, scroll_window(model_, condition));
    ids.insert(ids.end(), filler.begin(), filler.end());
  }
  const std::int64_t context = model_.config().max_position_embeddings;
  if (static_cast<std::int64_t>(ids.size()) > context)
    fail("run " + condition.name + ": sample " + sample.sample_id + " streams " +
         std::to_string(ids.size()) + " tokens into the memory, more than the model's "
         "max_position_embeddings (" + std::to_string(context) + ")");
  return stream;
}

Engine::Memory Engine::ingest(const Condition& condition, const std::vector<std::int64_t>& ids,
                              const ttt::TTTConfig* config) {
  // SPEC.md S3.2: a fresh TTT cache, one forward of the raw text (logits discarded), then the
  // KV-stripped clone: fast weights kept, tails dropped (or flushed first, under the fix). A
  // continued stream keeps its KV cache and its tails instead.
  Memory memory;
  std::optional<ttt::Graft> graft;
  model::ForwardOptions forward;
  if (config) forward.mlp_override = &graft.emplace(*config, *params_, memory.state);
  forward.last_logits_only = true;
  const auto n = static_cast<std::int64_t>(ids.size());
  const at::Tensor input = at::tensor(ids, at::kLong).view({1, n});
  if (condition.continue_stream) {
    memory.cache = model_.make_cache(1, n);
    model_.forward(input, memory.cache, forward);
  } else {
    model_.forward(input, forward);
    if (graft) graft->drop_tails();
  }
  return memory;
}

Record Engine::finish(const Row& row, const std::string& stop_reason) const {
  // Special tokens are skipped (skip_special_tokens), and so are ids past the tokenizer's
  // vocabulary: the embedding's padding rows (151669..151935 for Qwen3), which Hugging Face's
  // decode drops too; only a random model ever generates them.
  std::vector<tokenizer::TokenId> kept;
  for (std::int64_t id : row.generated)
    if (!special_ids_.count(id) && id < static_cast<std::int64_t>(tokenizer_.vocab_size()))
      kept.push_back(static_cast<tokenizer::TokenId>(id));
  std::string text = tokenizer_.decode(kept);
  if (stop_reason == "newline") text = text.substr(0, text.find('\n'));
  Record record;
  record.sample_id = row.sample->sample_id;
  record.level = row.sample->level;
  record.probe_id = row.probe->probe_id;
  record.question = row.probe->question;
  record.gold = row.probe->gold_answer;
  record.predicted = python_strip(text);
  record.output_ids = row.generated;
  record.prompt_tokens = row.prompt_tokens;
  record.generated_tokens = static_cast<std::int64_t>(row.generated.size());
  record.ingested_tokens = row.ingested_tokens;
  record.ingest_truncated_from = row.ingest_truncated_from;
  record.stop_reason = stop_reason;
  record.seconds = std::chrono::duration<double>(Clock::now() - row.start).count();
  return record;
}

namespace {

// Records continued by --resume must come from the same experiment: a folder whose records were
// written with another model, TTT checkpoint, benchmark, protocol, dtype or window is refused,
// naming what differs. The file is (re)written whenever there are no records to continue.
void check_identity(const std::filesystem::path& file, const std::filesystem::path& records,
                    const nlohmann::ordered_json& identity) {
  if (identity.is_null()) return;
  if (std::filesystem::exists(records)) {
    if (!std::filesystem::exists(file)) {
      log::warn(records.string(), ": continued without ", file.filename().string(),
                " (written by an older tttmem), so not checked against this run's model, "
                "benchmark and protocol");
      return;
    }
    const nlohmann::ordered_json recorded = nlohmann::ordered_json::parse(io::read_file(file));
    std::string differ;
    for (const auto& [key, value] : identity.items())
      if (!recorded.contains(key) || recorded.at(key) != value) differ += (differ.empty() ? "" : ", ") + key;
    for (const auto& [key, value] : recorded.items())
      if (!identity.contains(key)) differ += (differ.empty() ? "" : ", ") + key;
    if (!differ.empty())
      fail("--resume: " + records.string() + " was written by a run with another " + differ +
           " (" + file.string() + "); continuing it would mix two experiments: rerun with that "
           "run's arguments, or choose another --out");
    return;
  }
  io::atomic_write_file(file, identity.dump(2) + "\n");
}

}  // namespace

ConditionStats Engine::run(const Condition& condition,
                           const std::vector<const bench::Sample*>& samples) {
  const c10::InferenceMode inference;
  const auto started = Clock::now();
  ConditionStats stats;
  stats.name = condition.name;
  const ProtocolOptions& protocol = options_.protocol;
  const std::filesystem::path jsonl = options_.out_dir / ("condition_" + condition.name + ".jsonl");
  if (!options_.resume && std::filesystem::exists(jsonl))
    fail(jsonl.string() + " exists: continue it with --resume, or choose another --out");

  // Which probes are left (benchmark order), after what a killed run already wrote.
  std::map<std::pair<std::string, std::string>, bool> wanted;
  for (const bench::Sample* sample : samples)
    for (const bench::Probe& probe : sample->probes) wanted[{sample->sample_id, probe.probe_id}] = false;
  for (const Record& record : read_records(jsonl)) {
    auto it = wanted.find({record.sample_id, record.probe_id});
    if (it == wanted.end())
      fail(jsonl.string() + ": probe " + record.sample_id + "/" + record.probe_id +
           " is not in this run's selection (another benchmark, --limit or --samples?)");
    it->second = true;
    ++stats.skipped;
  }
  const bool graft_on = ttt_config_ != nullptr;  // without TTT, zero-parameter conditions run plainly
  if (condition.filler_until_out_of_window) scroll_window(model_, condition);  // fail early
  // A sample is ingested when its memory is fast weights (TTT on) or a continued stream.
  const bool ingests =
      condition.ingest != Ingest::nothing && (graft_on || condition.continue_stream);
  struct Pending {
    const bench::Sample* sample;
    const bench::Probe* probe;
    std::vector<std::int64_t> prompt;
  };
  std::vector<Pending> pending;
  std::map<const bench::Sample*, std::size_t> left_per_sample;
  std::map<const bench::Sample*, Stream> streams;  // what each sample ingests
  std::map<const bench::Sample*, std::pair<std::int64_t, std::int64_t>> ingested;  // for records
  std::size_t longest_prompt = 1, longest_stream = 0;
  const std::int64_t context = model_.config().max_position_embeddings;
  for (const bench::Sample* sample : samples)
    for (const bench::Probe& probe : sample->probes) {
      if (wanted.at({sample->sample_id, probe.probe_id})) continue;
      pending.push_back({sample, &probe, encode(probe_prompt(condition, protocol, *sample, probe))});
      const std::size_t prompt = pending.back().prompt.size();
      longest_prompt = std::max(longest_prompt, prompt);
      if (ingests && ++left_per_sample[sample] == 1) {
        const Stream& stream = streams[sample] = ingest_ids(condition, *sample);
        ingested[sample] = {static_cast<std::int64_t>(stream.ids.size()), stream.truncated_from};
        if (condition.continue_stream) longest_stream = std::max(longest_stream, stream.ids.size());
      }
      // Positions the prompt follows: a continued stream's.
      const auto before =
          static_cast<std::size_t>(condition.continue_stream ? ingested.at(sample).first : 0);
      // Checked before anything is allocated or written: a prompt past the context would
      // otherwise allocate for it (gigabytes for a pasted book) and run off the RoPE range.
      if (static_cast<std::int64_t>(before + prompt) > context)
        fail("run " + condition.name + ": the prompt of probe " + sample->sample_id + "/" +
             probe.probe_id + " has " + std::to_string(prompt) + " tokens" +
             (before ? " after " + std::to_string(before) + " streamed ones" : std::string()) +
             ", more than the model's max_position_embeddings (" + std::to_string(context) + ")");
    }
  check_identity(options_.out_dir / ("identity_" + condition.name + ".json"), jsonl,
                 options_.identity);

  // TTT parameters of this condition (SPEC.md S2.3, S3.2); the trained values come back from
  // the snapshot each time, so conditions never see each other's changes.
  if (condition.params == Params::trained && !graft_on)
    fail("condition " + condition.name + " needs trained TTT parameters: give --ttt CKPT or a "
         "model whose config.json enables TTT");
  if (condition.noise_scale && !ttt_config_)
    fail("condition " + condition.name + " adds noise to the TTT layers' down_proj, but the "
         "model has no TTT layers");
  if (params_) {
    params_->restore(*trained_);
    if (condition.params == Params::zero) params_->zero();
    if (condition.alpha != 1.0) params_->scale(condition.alpha);
  }
  std::unique_ptr<DownProjNoise> noise;
  if (condition.noise_scale)
    noise = std::make_unique<DownProjNoise>(model_, ttt_config_->layers, *condition.noise_scale);
  ttt::TTTConfig ttt_config = ttt_config_ ? *ttt_config_ : ttt::TTTConfig{};
  if (protocol.flush_partial_chunk) ttt_config.partial_chunk = ttt::PartialChunk::flush;

  RecordWriter writer(jsonl);
  log::Progress progress("run " + condition.name, static_cast<std::int64_t>(pending.size()),
                         "probes");
  const std::int64_t max_new = protocol.max_new_tokens;
  // A row needs at most longest_stream + longest_prompt + max_new slots; another max_new of room
  // means compact() (one gather of the cache) runs at most once per max_new decode steps.
  const std::int64_t capacity =
      static_cast<std::int64_t>(longest_stream + longest_prompt) + 2 * max_new;
  // Shared by the probes of a sample until the last of them has been prefilled.
  std::map<const bench::Sample*, std::shared_ptr<const Memory>> memories;

  auto stop_reason = [&](const Row& row) -> std::string {
    const std::int64_t id = row.generated.back();
    if (std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end()) return "stop_token";
    if (protocol.stop_at_newline && id < static_cast<std::int64_t>(tokenizer_.vocab_size()) &&
        tokenizer_.id_to_token(static_cast<tokenizer::TokenId>(id)).find('\n') != std::string::npos)
      return "newline";
    if (static_cast<std::int64_t>(row.generated.size()) >= max_new) return "max_new_tokens";
    return "";
  };
  auto complete = [&](const Row& row, const std::string& reason) {
    const Record record = finish(row, reason);
    stats.generated_tokens += record.generated_tokens;
    ++stats.probes;
    writer.write(record);
    progress.advance();
  };
  auto argmax_ids = [](const at::Tensor& logits) {
    // The decode loop's one read per step: its stop rules need the ids.
    const at::Tensor next = model::to_host(logits.select(1, 0).argmax(-1));
    return std::vector<std::int64_t>(next.data_ptr<std::int64_t>(),
                                     next.data_ptr<std::int64_t>() + next.numel());
  };

  std::vector<Row> rows;
  ttt::TTTRows states;
  model::KVCache cache;
  std::size_t next = 0;
  while (next < pending.size() || !rows.empty()) {
    // Admit new probes into the free rows: one padded prefill for all of them, each row with its
    // own TTT state (a copy of its sample's memory, sharing its tensors).
    std::vector<Row> incoming;
    ttt::TTTRows incoming_states;
    std::vector<std::vector<std::int64_t>> prompts;
    std::vector<std::shared_ptr<const Memory>> incoming_memories;
    while (rows.size() + incoming.size() < static_cast<std::size_t>(options_.batch_size) &&
           next < pending.size()) {
      const Pending& p = pending[next++];
      std::shared_ptr<const Memory> memory;
      ttt::TTTState state;
      if (ingests) {
        auto it = memories.find(p.sample);
        if (it == memories.end()) {
          const ttt::TTTConfig* config = graft_on ? &ttt_config : nullptr;
          it = memories.emplace(p.sample, std::make_shared<const Memory>(ingest(
                                              condition, streams.at(p.sample).ids, config)))
                   .first;
          streams.erase(p.sample);
          ++stats.samples_ingested;
        }
        memory = it->second;
        state = memory->state;
        state.frozen = condition.frozen;
        if (--left_per_sample.at(p.sample) == 0) memories.erase(p.sample);
      }
      const auto ingest_info = ingested.find(p.sample);
      incoming.push_back({p.sample, p.probe, static_cast<std::int64_t>(p.prompt.size()), {},
                          Clock::now(),
                          ingest_info == ingested.end() ? 0 : ingest_info->second.first,
                          ingest_info == ingested.end() ? 0 : ingest_info->second.second});
      incoming_states.push_back(std::move(state));
      incoming_memories.push_back(std::move(memory));
      prompts.push_back(p.prompt);
    }
    model::KVCache incoming_cache;
    if (!incoming.empty()) {
      const auto n = static_cast<std::int64_t>(incoming.size());
      std::int64_t width = 0, prefix = 0;
      for (const auto& prompt : prompts) width = std::max<std::int64_t>(width, prompt.size());
      for (const auto& memory : incoming_memories)
        if (memory) prefix = std::max(prefix, memory->cache.length());
      at::Tensor ids = at::zeros({n, width}, at::kLong), mask = at::zeros({n, width}, at::kLong);
      for (std::int64_t r = 0; r < n; ++r) {  // left padding: every row's last token at the end
        const auto& prompt = prompts[static_cast<std::size_t>(r)];
        const auto len = static_cast<std::int64_t>(prompt.size());
        ids[r].narrow(0, width - len, len).copy_(at::tensor(prompt, at::kLong));
        mask[r].narrow(0, width - len, len).fill_(1);
      }
      // A continued stream's row starts from its sample's KV cache (slots [0, its length); a
      // shorter one sees padding up to `prefix`), then takes its prompt after it.
      incoming_cache = model_.make_cache(n, prefix + width);
      for (std::int64_t r = 0; r < n; ++r)
        if (const auto& memory = incoming_memories[static_cast<std::size_t>(r)];
            memory && memory->cache.length() > 0)
          incoming_cache.assign_row(r, memory->cache);
      std::optional<ttt::Graft> graft;
      model::ForwardOptions forward;
      if (graft_on) forward.mlp_override = &graft.emplace(ttt_config, *params_, incoming_states);
      forward.last_logits_only = true;
      if (!mask.all().item<bool>()) forward.attention_mask = mask;  // host tensor
      const std::vector<std::int64_t> first = argmax_ids(model_.forward(ids, incoming_cache, forward));
      for (std::size_t r = 0; r < incoming.size(); ++r) incoming[r].generated.push_back(first[r]);
    }

    // Rows that stopped leave; the rest, old and new, form the next batch.
    std::vector<std::pair<const model::KVCache*, std::int64_t>> sources;
    std::vector<Row> kept;
    ttt::TTTRows kept_states;
    auto keep_or_finish = [&](Row& row, ttt::TTTState& state, const model::KVCache* source,
                              std::int64_t index) {
      if (const std::string reason = stop_reason(row); !reason.empty()) {
        complete(row, reason);
        return;
      }
      sources.emplace_back(source, index);
      kept.push_back(std::move(row));
      kept_states.push_back(std::move(state));
    };
    for (std::size_t r = 0; r < rows.size(); ++r)
      keep_or_finish(rows[r], states[r], &cache, static_cast<std::int64_t>(r));
    for (std::size_t r = 0; r < incoming.size(); ++r)
      keep_or_finish(incoming[r], incoming_states[r], &incoming_cache, static_cast<std::int64_t>(r));
    if (kept.empty()) {
      rows.clear();
      states.clear();
      cache = model::KVCache();
      continue;
    }
    if (!incoming.empty() || kept.size() != rows.size()) {
      model::KVCache merged = model_.make_cache(static_cast<std::int64_t>(kept.size()), capacity);
      if (cache.length() + 1 > capacity) {
        cache.compact();
        ++stats.kv_compactions;
      }
      for (std::size_t r = 0; r < sources.size(); ++r)
        merged.assign_row(static_cast<std::int64_t>(r), *sources[r].first, sources[r].second);
      cache = std::move(merged);
    }
    rows = std::move(kept);
    states = std::move(kept_states);

    // One decode step for every row.
    if (cache.length() + 1 > cache.capacity()) {
      cache.compact();
      ++stats.kv_compactions;
    }
    std::vector<std::int64_t> last;
    for (const Row& row : rows) last.push_back(row.generated.back());
    std::optional<ttt::Graft> graft;
    model::ForwardOptions forward;
    if (graft_on) forward.mlp_override = &graft.emplace(ttt_config, *params_, states);
    forward.last_logits_only = true;
    const std::vector<std::int64_t> step = argmax_ids(model_.forward(
        at::tensor(last, at::kLong).view({static_cast<std::int64_t>(last.size()), 1}), cache, forward));
    for (std::size_t r = 0; r < rows.size(); ++r) rows[r].generated.push_back(step[r]);
  }
  progress.finish();
  noise.reset();

  const std::vector<Record> records = read_records(jsonl);
  io::atomic_write_file(options_.out_dir / ("condition_" + condition.name + ".json"),
                        seed_format(samples, records, jsonl.string()));
  stats.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  log::info("condition ", condition.name, ": ", stats.probes, " probes answered (", stats.skipped,
            " from an earlier run) in ", stats.seconds, " s, ",
            stats.seconds > 0 ? static_cast<double>(stats.probes) / stats.seconds : 0.0,
            " probes/s, ", stats.generated_tokens, " tokens generated, ", stats.samples_ingested,
            " samples ingested");
  return stats;
}

nlohmann::ordered_json ConditionStats::to_json() const {
  return {{"condition", name},
          {"probes", probes},
          {"resumed_probes", skipped},
          {"generated_tokens", generated_tokens},
          {"samples_ingested", samples_ingested},
          {"kv_compactions", kv_compactions},
          {"seconds", seconds},
          {"probes_per_second", seconds > 0 ? static_cast<double>(probes) / seconds : 0.0}};
}

}  // namespace tttmem::experiment
