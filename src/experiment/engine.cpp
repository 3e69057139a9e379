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
#include "tttmem/kernels.h"
#include "tttmem/log.h"

namespace tttmem::experiment {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

// The window a condition scrolls its ingested text out of: the model's, which must be one size
// on every layer (a full-attention layer would never let the text go).
std::int64_t scroll_window(const model::Decoder& model, const protocol::Condition& condition) {
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

// a_prime (SPEC.md S3.2): each TTT layer's down_proj plus Gaussian noise of Frobenius norm
// s * ||W||_F, drawn in layer order from one CPU fp32 generator seeded 0 for every scale (so every
// scale has the same direction), cast to W's dtype and added. The model's weights stay as they are.
std::map<std::int64_t, at::Tensor> noisy_down_proj(const model::Decoder& model,
                                                   const std::vector<std::int64_t>& layers,
                                                   double scale) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(0);
  std::map<std::int64_t, at::Tensor> out;
  for (std::int64_t layer : layers) {
    const at::Tensor& w = model.mlp_weights(layer).down_proj;
    const at::Tensor w32 = model::to_host(w).to(at::kFloat);
    at::Tensor noise = at::randn(w32.sizes(), generator, at::TensorOptions().dtype(at::kFloat));
    const double w_norm = w32.norm().item<double>();        // host tensor
    const double noise_norm = noise.norm().item<double>();  // host tensor
    noise = noise * (scale * w_norm / noise_norm);
    out[layer] = w + noise.to(w.device(), w.scalar_type());
  }
  return out;
}

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
    const std::string line = jsonl_line(record);
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

struct Engine::Stream {
  std::vector<std::int64_t> ids;
  std::int64_t truncated_from = 0;  // the text's length in tokens when ingest_limit cut it
};

// What a sample's ingestion leaves its probes: the fast weights (and, continuing the stream,
// the tails) and, continuing the stream, its row of the ingestion's KV cache.
struct Engine::Memory {
  ttt::TTTState state;
  std::shared_ptr<const model::KVCache> cache;  // null unless the stream continues
  std::int64_t cache_row = 0;
  double seconds = 0;  // this sample's share of the ingestion forward's wall time
  e2e::E2EState e2e_state{};  // --memory e2e: the sample's final dynamic weights (one row)
};

// One condition's TTT: its config and its own parameter values and ablation weights (the
// caller's stay untouched).
struct Engine::Setup {
  bool graft_on = false;
  ttt::TTTConfig config;
  std::optional<ttt::TTTParams> own_params;
  const ttt::TTTParams* params = nullptr;
  std::map<std::int64_t, at::Tensor> down_proj;
  void prepare(ttt::Graft& graft) const {
    for (const auto& [layer, w] : down_proj) graft.override_down_proj(layer, w);
  }
};

Engine::Engine(model::Decoder& model, const tokenizer::Tokenizer& tokenizer,
               const ttt::TTTConfig* ttt_config, const ttt::TTTParams* params,
               EngineOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      ttt_config_(ttt_config),
      params_(params),
      options_(std::move(options)),
      stop_ids_(model::default_stop_ids(model.config())),
      bos_(model::sequence_bos(model.config())) {
  if ((ttt_config_ == nullptr) != (params_ == nullptr) ||
      (options_.e2e_config == nullptr) != (options_.e2e_params == nullptr))
    throw std::invalid_argument("Engine: a memory's config needs its parameters and vice versa");
  if (ttt_config_ && options_.e2e_config)
    throw std::invalid_argument("Engine: In-Place TTT and TTT-E2E are alternatives, not both");
  if (options_.protocol.max_new_tokens < 1)
    throw std::invalid_argument("--max-new-tokens: must be >= 1");
  for (const tokenizer::AddedToken& token : tokenizer.added_tokens())
    if (token.special) special_ids_.insert(token.id);
}

std::vector<std::int64_t> Engine::encode(const std::string& text, bool with_bos) const {
  const auto ids = tokenizer_.encode(text);
  std::vector<std::int64_t> out;
  out.reserve(ids.size() + 1);
  if (with_bos && bos_) out.push_back(*bos_);
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

bool Engine::graft_on(const protocol::Condition& condition) const {
  if (options_.e2e_config) return condition.params == protocol::Params::trained;
  return ttt_config_ != nullptr &&
         (condition.params == protocol::Params::trained || condition.noise_scale.has_value());
}

bool Engine::ingests(const protocol::Condition& condition) const {
  return condition.ingest != protocol::Ingest::nothing &&
         (graft_on(condition) || condition.continue_stream);
}

std::vector<std::int64_t> Engine::probe_prompt(const protocol::Condition& condition,
                                               const bench::Sample& sample,
                                               const bench::Probe& probe,
                                               std::int64_t streamed) const {
  std::vector<std::int64_t> prompt =
      encode(protocol::probe_prompt(condition, options_.protocol, sample, probe),
             !condition.continue_stream);
  // Positions the prompt follows: a continued stream's. Checked before anything is allocated or
  // written: a prompt past the context would otherwise allocate for it (gigabytes for a pasted
  // book) and run off the RoPE range.
  const std::int64_t before = condition.continue_stream ? streamed : 0;
  const auto length = static_cast<std::int64_t>(prompt.size());
  const std::int64_t context = model_.config().max_position_embeddings;
  if (before + length > context)
    fail("run " + condition.name + ": the prompt of probe " + sample.sample_id + "/" +
         probe.probe_id + " has " + std::to_string(length) + " tokens" +
         (before ? " after " + std::to_string(before) + " streamed ones" : std::string()) +
         ", more than the model's max_position_embeddings (" + std::to_string(context) + ")");
  return prompt;
}

RowNeeds Engine::row_needs(const protocol::Condition& condition,
                           const std::vector<const bench::Sample*>& samples) const {
  RowNeeds needs;
  needs.fast_weights = graft_on(condition);
  if (condition.filler_until_out_of_window) scroll_window(model_, condition);  // fail early
  for (const bench::Sample* sample : samples) {
    const std::int64_t streamed =
        ingests(condition) ? static_cast<std::int64_t>(ingest_ids(condition, *sample).ids.size())
                           : 0;
    needs.ingest_tokens = std::max(needs.ingest_tokens, streamed);
    for (const bench::Probe& probe : sample->probes) {
      const auto prompt =
          static_cast<std::int64_t>(probe_prompt(condition, *sample, probe, streamed).size());
      needs.answer_tokens =
          std::max(needs.answer_tokens, (condition.continue_stream ? streamed : 0) + prompt);
    }
  }
  return needs;
}

Engine::Stream Engine::ingest_ids(const protocol::Condition& condition,
                                  const bench::Sample& sample) const {
  const std::optional<std::string> text = protocol::ingest_text(condition, sample);
  if (!text) fail("condition " + condition.name + " ingests nothing");
  Stream stream{encode(*text, options_.protocol.ingest_bos), 0};
  std::vector<std::int64_t>& ids = stream.ids;
  const std::size_t limit = protocol::ingest_limit(condition.ingest, sample);
  if (ids.size() > limit) {
    stream.truncated_from = static_cast<std::int64_t>(ids.size());
    ids.resize(limit);
  }
  if (condition.filler_until_out_of_window) {
    const std::vector<std::int64_t> filler =
        protocol::scroll_filler(sample, tokenizer_, scroll_window(model_, condition));
    ids.insert(ids.end(), filler.begin(), filler.end());
  }
  const std::int64_t context = model_.config().max_position_embeddings;
  if (static_cast<std::int64_t>(ids.size()) > context)
    fail("run " + condition.name + ": sample " + sample.sample_id + " streams " +
         std::to_string(ids.size()) + " tokens into the memory, more than the model's "
         "max_position_embeddings (" + std::to_string(context) + ")");
  return stream;
}

std::vector<std::shared_ptr<const Engine::Memory>> Engine::ingest(
    const protocol::Condition& condition, const Setup& setup,
    const std::vector<const Stream*>& streams) {
  // SPEC.md S3.2: a fresh TTT cache, one forward of the raw text (logits discarded), then the
  // KV-stripped clone: fast weights kept, tails dropped (or flushed first, under the fix). A
  // continued stream keeps its KV cache and its tails instead. The samples share one
  // left-padded prefill in which each row streams only its real tokens into its own state.
  const auto n = static_cast<std::int64_t>(streams.size());
  if (options_.e2e_config) return ingest_e2e(condition, streams);
  std::vector<const std::vector<std::int64_t>*> rows;
  for (const Stream* stream : streams) rows.push_back(&stream->ids);
  const model::LeftPadded batch = model::left_pad(rows);
  ttt::TTTRows states(static_cast<std::size_t>(n));
  std::optional<ttt::Graft> graft;
  model::ForwardOptions forward;
  if (setup.graft_on) {
    setup.prepare(graft.emplace(setup.config, *setup.params, states));
    forward.mlp_override = &*graft;
  }
  forward.last_logits_only = true;
  // A continued stream keeps the cache; otherwise it lives for this forward only.
  const auto started = Clock::now();
  auto cache = std::make_shared<model::KVCache>(model_.make_cache(n, batch.ids.size(1)));
  // Reading one value waits for the device, so the ingestion's time is its own (the study's
  // ingest/answer split), not charged to the first answers: one read per ingested group.
  model::host_scalar<float>(
      model::forward_in_pieces(model_, batch, *cache, forward, options_.prefill_piece).sum());
  const double share =
      std::chrono::duration<double>(Clock::now() - started).count() / static_cast<double>(n);
  if (!condition.continue_stream) {
    cache.reset();
    if (graft) graft->drop_tails();
  }
  std::vector<std::shared_ptr<const Memory>> memories;
  for (std::int64_t r = 0; r < n; ++r)
    memories.push_back(std::make_shared<const Memory>(
        Memory{std::move(states[static_cast<std::size_t>(r)]), cache, r, share}));
  return memories;
}

// TTT-E2E (SPEC.md "e2e"): each sample's text runs through the inner loop on its own (mini-batch
// boundaries count from the text's first token, so rows of different lengths do not share a
// padded forward); a continued stream keeps the loop's KV cache.
std::vector<std::shared_ptr<const Engine::Memory>> Engine::ingest_e2e(
    const protocol::Condition& condition, const std::vector<const Stream*>& streams) {
  std::vector<std::shared_ptr<const Memory>> memories;
  const e2e::E2EState start = e2e::E2EState::initial(*options_.e2e_params, 1);
  for (const Stream* stream : streams) {
    const auto started = Clock::now();
    const auto length = static_cast<std::int64_t>(stream->ids.size());
    const at::Tensor ids = at::tensor(stream->ids, at::kLong).view({1, length});
    e2e::IngestOptions options;
    options.keep_cache = condition.continue_stream;
    e2e::IngestResult ingested = e2e::ingest(model_, *options_.e2e_config, start, ids, options);
    e2e::E2EState& state = ingested.state;
    // One read waits for the device, so the ingestion's time is its own (as above).
    model::host_scalar<float>(state.weights.begin()->second.down.sum());
    Memory memory;
    memory.e2e_state = std::move(state);
    memory.cache = std::move(ingested.cache);
    memory.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    memories.push_back(std::make_shared<const Memory>(std::move(memory)));
  }
  return memories;
}

struct Engine::Pending {
  const bench::Sample* sample = nullptr;
  const bench::Probe* probe = nullptr;
  std::vector<std::int64_t> prompt;
  // Tokens streamed into the memory first, and the text's length when ingest_limit cut it.
  std::int64_t ingested_tokens = 0, truncated_from = 0;
  double ingest_seconds = 0;
  Clock::time_point start;  // when the decoder took it
};

Record Engine::finish(const Pending& probe, const model::DecodedRow& decoded) const {
  // Special tokens are skipped (skip_special_tokens), and so are ids past the tokenizer's
  // vocabulary: the embedding's padding rows (151669..151935 for Qwen3), which Hugging Face's
  // decode drops too; only a random model ever generates them.
  std::vector<tokenizer::TokenId> kept;
  for (std::int64_t id : decoded.generated)
    if (!special_ids_.count(id) && id < static_cast<std::int64_t>(tokenizer_.vocab_size()))
      kept.push_back(static_cast<tokenizer::TokenId>(id));
  std::string text = tokenizer_.decode(kept);
  if (decoded.stop_reason == "newline") text = text.substr(0, text.find('\n'));
  Record record;
  record.sample_id = probe.sample->sample_id;
  record.level = probe.sample->level;
  record.probe_id = probe.probe->probe_id;
  record.question = probe.probe->question;
  record.gold = probe.probe->gold_answer;
  record.predicted = protocol::python_strip(text);
  record.output_ids = decoded.generated;
  record.prompt_tokens = static_cast<std::int64_t>(probe.prompt.size());
  record.generated_tokens = static_cast<std::int64_t>(decoded.generated.size());
  record.ingested_tokens = probe.ingested_tokens;
  record.ingest_truncated_from = probe.truncated_from;
  record.stop_reason = decoded.stop_reason;
  record.seconds = std::chrono::duration<double>(Clock::now() - probe.start).count();
  record.ingest_seconds = probe.ingest_seconds;
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

ConditionStats Engine::run(const protocol::Condition& condition,
                           const std::vector<const bench::Sample*>& samples,
                           std::int64_t batch_size) {
  if (batch_size < 1) throw std::invalid_argument("--batch-size: must be >= 1");
  const c10::InferenceMode inference;
  const auto started = Clock::now();
  ConditionStats stats;
  stats.name = condition.name;
  const at::Device device = model_.device();
  const int device_index = device.has_index() ? device.index() : 0;
  if (device.is_cuda()) kernels::reset_device_peak(device_index);
  const protocol::ProtocolOptions& protocol = options_.protocol;
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
  Setup setup;
  setup.graft_on = graft_on(condition);
  if (condition.filler_until_out_of_window) scroll_window(model_, condition);  // fail early
  const bool ingests = this->ingests(condition);
  std::vector<Pending> pending;
  std::map<const bench::Sample*, std::size_t> left_per_sample;
  std::map<const bench::Sample*, Stream> streams;  // what each sample ingests, until it has
  for (const bench::Sample* sample : samples)
    for (const bench::Probe& probe : sample->probes) {
      if (wanted.at({sample->sample_id, probe.probe_id})) continue;
      Pending& p = pending.emplace_back();
      p.sample = sample;
      p.probe = &probe;
      if (ingests) {
        if (++left_per_sample[sample] == 1) {
          const Stream& stream = streams[sample] = ingest_ids(condition, *sample);
          if (stream.truncated_from)
            log::warn("run ", condition.name, ": sample ", sample->sample_id,
                      "'s ingested text has ", stream.truncated_from, " tokens; only the first ",
                      stream.ids.size(), " are ingested (the seed's limit, SPEC.md S2.6)");
        }
        const Stream& stream = streams.at(sample);
        p.ingested_tokens = static_cast<std::int64_t>(stream.ids.size());
        p.truncated_from = stream.truncated_from;
      }
      p.prompt = probe_prompt(condition, *sample, probe, p.ingested_tokens);
    }
  check_identity(options_.out_dir / ("identity_" + condition.name + ".json"), jsonl,
                 options_.identity);

  if (options_.e2e_config &&
      (condition.noise_scale || condition.alpha != 1.0 || condition.decode_with_base_weights))
    fail("condition " + condition.name + " is an ablation of In-Place TTT's parameters; it does "
         "not apply to --memory e2e");
  // This condition's TTT parameters and ablation weights (SPEC.md S2.3, S3.2), as its own values.
  if (condition.params == protocol::Params::trained && !ttt_config_ && !options_.e2e_config)
    fail("condition " + condition.name + " needs trained TTT parameters: give --ttt CKPT or a "
         "model whose config.json enables TTT");
  if (condition.noise_scale && !ttt_config_)
    fail("condition " + condition.name + " adds noise to the TTT layers' down_proj, but the "
         "model has no TTT layers");
  if (setup.graft_on && ttt_config_) {
    setup.config = *ttt_config_;
    if (condition.flush_partial_chunk) setup.config.partial_chunk = ttt::PartialChunk::flush;
    setup.params = params_;
    if (condition.params == protocol::Params::zero || condition.alpha != 1.0) {
      setup.params = &setup.own_params.emplace(params_->snapshot());
      if (condition.params == protocol::Params::zero) setup.own_params->zero();
      if (condition.alpha != 1.0) setup.own_params->scale(condition.alpha);
    }
    if (condition.noise_scale)
      setup.down_proj = noisy_down_proj(model_, ttt_config_->layers, *condition.noise_scale);
  }
  std::optional<ttt::DecoderMemory> memory;
  std::optional<e2e::DecoderMemory> e2e_memory;
  if (setup.graft_on && options_.e2e_config) {
    setup.graft_on = false;  // no In-Place graft
    e2e_memory.emplace(*options_.e2e_config);
  }
  if (setup.graft_on) setup.prepare(memory.emplace(setup.config, *setup.params).graft());

  std::optional<RecordWriter> writer(std::in_place, jsonl);
  log::Progress progress("run " + condition.name, static_cast<std::int64_t>(pending.size()),
                         "probes");
  // Shared by the probes of a sample until the last of them has been taken.
  std::map<const bench::Sample*, std::shared_ptr<const Memory>> memories;
  // Rows in the decoder per sample: their memories are alive too.
  std::map<const bench::Sample*, std::size_t> live_rows;
  const auto batch = static_cast<std::size_t>(batch_size);
  std::size_t next = 0;
  auto take = [&]() -> std::optional<model::DecodeRow> {
    if (next == pending.size()) return std::nullopt;
    const auto id = static_cast<std::int64_t>(next);
    Pending& p = pending[next++];
    model::DecodeRow row{id, p.prompt, nullptr, 0, protocol.max_new_tokens};
    ttt::TTTState state;
    e2e::E2EState e2e_state;
    if (ingests) {
      if (!memories.count(p.sample)) {
        // The samples of this and the next probes, up to a batch, ingest together; at most
        // `batch` samples' memories are alive at once, counting the live rows' (what row_bytes
        // counts). Probes come sample by sample, so `memories` is empty here.
        std::vector<const bench::Sample*> group;
        const std::size_t room = batch - std::min(batch - 1, live_rows.size());
        for (std::size_t i = next - 1;
             i < pending.size() && i < next - 1 + batch && group.size() < room; ++i)
          if (const bench::Sample* s = pending[i].sample;
              !memories.count(s) && std::find(group.begin(), group.end(), s) == group.end())
            group.push_back(s);
        std::vector<const Stream*> group_streams;
        for (const bench::Sample* s : group) group_streams.push_back(&streams.at(s));
        const auto made = ingest(condition, setup, group_streams);
        for (std::size_t i = 0; i < group.size(); ++i) {
          memories[group[i]] = made[i];
          streams.erase(group[i]);
        }
        stats.samples_ingested += static_cast<std::int64_t>(group.size());
      }
      const std::shared_ptr<const Memory> sample_memory = memories.at(p.sample);
      state = sample_memory->state;
      e2e_state = sample_memory->e2e_state;
      state.frozen = condition.frozen;
      p.ingest_seconds = sample_memory->seconds;
      row.prefix = sample_memory->cache;
      row.prefix_row = sample_memory->cache_row;
      if (--left_per_sample.at(p.sample) == 0) memories.erase(p.sample);
      ++live_rows[p.sample];
    }
    if (memory) memory->add(id, std::move(state), condition.decode_with_base_weights);
    // An E2E row that ingested nothing (a condition with the conversation in its prompt) answers
    // from theta.
    if (e2e_memory)
      e2e_memory->add(id, ingests ? std::move(e2e_state)
                                  : e2e::E2EState::initial(*options_.e2e_params, 1));
    p.start = Clock::now();
    return row;
  };
  auto done = [&](model::DecodedRow decoded) {
    if (memory) memory->erase(decoded.id);
    if (e2e_memory) e2e_memory->erase(decoded.id);
    const Pending& p = pending[static_cast<std::size_t>(decoded.id)];
    if (auto it = live_rows.find(p.sample); it != live_rows.end() && --it->second == 0)
      live_rows.erase(it);
    const Record record = finish(p, decoded);
    stats.generated_tokens += record.generated_tokens;
    ++stats.probes;
    writer->write(record);
    progress.advance();
    if (options_.after_record) options_.after_record();
  };
  model::DecoderOptions decoding;
  decoding.batch_size = batch_size;
  decoding.prefill_piece = options_.prefill_piece;
  decoding.stop = [&](std::int64_t id) -> std::string {
    if (std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end()) return "stop_token";
    if (protocol.stop_at_newline && id < static_cast<std::int64_t>(tokenizer_.vocab_size()) &&
        tokenizer_.id_to_token(static_cast<tokenizer::TokenId>(id)).find('\n') != std::string::npos)
      return "newline";
    return "";
  };
  model::RowMemory* row_memory = memory ? static_cast<model::RowMemory*>(&*memory)
                                        : e2e_memory ? &*e2e_memory : nullptr;
  model::BatchDecoder decoder(model_, decoding, row_memory);
  decoder.run(take, done);
  stats.kv_compactions = decoder.stats().kv_compactions;
  progress.finish();

  // Rows of a batch finish in any order: the finished file is rewritten in benchmark order.
  writer.reset();
  write_condition_files(options_.out_dir, condition.name, samples, read_records(jsonl));
  stats.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (device.is_cuda()) stats.peak_device_bytes = kernels::device_peak_allocated(device_index);
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
          {"probes_per_second", seconds > 0 ? static_cast<double>(probes) / seconds : 0.0},
          {"peak_device_bytes", peak_device_bytes ? nlohmann::ordered_json(*peak_device_bytes)
                                                  : nlohmann::ordered_json(nullptr)}};
}

}  // namespace tttmem::experiment
