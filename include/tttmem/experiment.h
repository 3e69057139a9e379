// experiment: the engine behind `tttmem run`. A condition is data (what the prompt holds, what is
// ingested into the fast weights first, which TTT parameters, whether the fast weights stay live
// while answering), interpreted by one batched engine (SPEC.md "run: the experiment engine").
// Probes are rows of one continuously refilled batch; each row has its own KV slots
// and its own TTT state, and the probes of a sample share the memory its ingestion left.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tttmem/bench.h"
#include "tttmem/model.h"
#include "tttmem/tokenizer.h"
#include "tttmem/ttt.h"

namespace tttmem::experiment {

// What `--protocol` and the fix flags set. `seed` reproduces the original (SPEC.md S2.7, S2.8,
// S3.2); `fixed` turns on the first three fixes (DECISIONS.md `## run`); the last two are options.
struct ProtocolOptions {
  bool flush_partial_chunk = false;     // ingestion writes its partial last chunk into W
  bool freeze_while_answering = false;  // no probe-time updates (SPEC.md S2.8: the leak)
  bool distractor_in_a_c = false;       // L3: the distractor in A's and C's context too
  // A and C keep the trained TTT parameters (live, as the model runs) instead of zeroing them:
  // one model in every condition (DECISIONS.md `## run`).
  bool trained_ttt_in_a_c = false;
  bool chat_template = false;           // Qwen3 chat template, thinking off
  bool stop_at_newline = false;         // stop at the first generated newline
  std::int64_t max_new_tokens = 32;
  static ProtocolOptions preset(const std::string& protocol);  // "seed" | "fixed"
  nlohmann::ordered_json to_json() const;
};

enum class Ingest { nothing, conversation, conversation_and_distractor };
enum class Params { zero, trained };

struct Condition {
  std::string name;  // result file stem: a, b, c, d, ttt_paper, scroll, a_prime_0p01, b_scaled_0p1
  std::string kind;  // a, b, c, d, a_prime, b_scaled, ttt_paper, scroll
  bool conversation_in_prompt = false;
  bool distractor_in_prompt = false;  // level-3 samples only
  Ingest ingest = Ingest::nothing;
  Params params = Params::zero;
  double alpha = 1.0;                 // trained parameters times alpha
  std::optional<double> noise_scale;  // a_prime: relative Gaussian noise on the TTT layers' down_proj
  bool frozen = false;                // fast weights frozen while answering
  bool level3_only = false;
  // The ingested text is followed by scroll_filler(): filler until it has left the model's
  // attention window (needs a sliding window on every layer).
  bool filler_until_out_of_window = false;
  // The probe continues the ingestion's stream: the KV cache stays (the attention window hides
  // what scrolled out of it) and so do the TTT tails. False: B's KV-stripped clone (fast weights
  // only, tails dropped).
  bool continue_stream = false;
};

// `--condition` (a|b|c|d|all|a_prime|b_scaled|ttt_paper|scroll) as the conditions it runs, in
// order.
std::vector<Condition> make_conditions(const std::string& name, const ProtocolOptions& protocol,
                                       const std::vector<double>& noise_scales,
                                       const std::vector<double>& alphas);
// Python's repr of a float with "." -> "p" (0.01 -> 0p01, 1.0 -> 1p0): the seed's file suffix.
std::string scale_suffix(double value);

// The samples a condition answers: `ids` (all when empty), then level 3 only for D, then the
// first `limit` of each level in file order (the seed's --limit). Unknown ids are an error.
std::vector<const bench::Sample*> select_samples(const bench::Benchmark& benchmark,
                                                 const std::vector<std::string>& ids,
                                                 std::optional<std::int64_t> limit,
                                                 bool level3_only);

// The prompt of one probe and the text ingested first, under a condition and protocol.
std::string probe_prompt(const Condition& condition, const ProtocolOptions& protocol,
                         const bench::Sample& sample, const bench::Probe& probe);
std::optional<std::string> ingest_text(const Condition& condition, const bench::Sample& sample);
// SPEC.md S2.6: ingestion truncates at 4096 tokens (B) or 8192 (D); never reached by v1.
std::size_t ingest_limit(Ingest ingest);

// The filler that scrolls an ingested text out of an attention window of `window` tokens (SPEC.md
// `run`, scroll): window - 1 tokens, so that the first token after it sees only the filler and
// itself. They are the first window - 1 ids of encode("\n\n" + source) repeated end to end, source
// being the sample's distractor, or else the benchmark's three distractor seed passages joined
// by "\n\n".
std::vector<std::int64_t> scroll_filler(const bench::Sample& sample,
                                        const tokenizer::Tokenizer& tokenizer,
                                        std::int64_t window);

// Python's str.strip(): Unicode whitespace at both ends (str.isspace's set).
std::string python_strip(const std::string& text);

// One JSONL line of OUT/condition_<x>.jsonl (SPEC.md "run", Results).
struct Record {
  std::string sample_id;
  int level = 0;
  std::string probe_id, question, gold, predicted;
  std::vector<std::int64_t> output_ids;
  std::int64_t prompt_tokens = 0, generated_tokens = 0;
  // Tokens streamed into the memory before the probe (0: none), and the ingested text's length
  // when ingest_limit cut it (0: not cut).
  std::int64_t ingested_tokens = 0, ingest_truncated_from = 0;
  std::string stop_reason;  // stop_token | max_new_tokens | newline
  double seconds = 0;
  nlohmann::ordered_json to_json() const;
  static Record from_json(const nlohmann::json& line, const std::string& where);
};

// Reads a JSONL result file for --resume. A torn last line (a killed writer) is cut off the file;
// any other malformed line, or a duplicated probe, is an error naming the file and line.
std::vector<Record> read_records(const std::filesystem::path& file);
// The seed's condition_<x>.json: samples in `samples` order, probes in benchmark order.
std::string seed_format(const std::vector<const bench::Sample*>& samples,
                        const std::vector<Record>& records, const std::string& source);

struct EngineOptions {
  std::int64_t batch_size = 1;  // rows decoded together
  bool resume = false;
  std::filesystem::path out_dir;
  ProtocolOptions protocol;
  // What a resumed condition must share with the run that wrote its records (the caller's
  // description: model, TTT, benchmark, protocol, ...). Written to identity_<x>.json when the
  // condition starts; --resume refuses a folder whose file differs. Null: not checked.
  nlohmann::ordered_json identity;
};

struct ConditionStats {
  std::string name;
  std::int64_t probes = 0, skipped = 0, generated_tokens = 0, samples_ingested = 0;
  std::int64_t kv_compactions = 0;  // KVCache::compact() calls (continuous batching's padding)
  double seconds = 0;
  nlohmann::ordered_json to_json() const;
};

class Engine {
 public:
  // `ttt` may be null (a model without TTT: only conditions whose params are zero run, plainly).
  // Nothing passed in is changed: each condition's TTT parameters and ablation weights are its
  // own values, handed to the graft.
  Engine(model::Qwen3Model& model, const tokenizer::Tokenizer& tokenizer,
         const ttt::TTTConfig* ttt_config, const ttt::TTTParams* params, EngineOptions options);
  // Answers every probe of `samples` under `condition`, appending to OUT/condition_<name>.jsonl
  // (continuing it under --resume), then writes OUT/condition_<name>.json.
  ConditionStats run(const Condition& condition, const std::vector<const bench::Sample*>& samples);

 private:
  struct Stream;
  struct Memory;
  struct Setup;
  std::vector<std::int64_t> encode(const std::string& text) const;
  // The ids a condition ingests for a sample: its ingest_text, truncated (SPEC.md S2.6), then
  // the filler when the condition scrolls it out of the window.
  Stream ingest_ids(const Condition& condition, const bench::Sample& sample) const;
  // Ingests several samples' streams in one padded forward: each sample's memory.
  std::vector<std::shared_ptr<const Memory>> ingest(const Condition& condition, const Setup& setup,
                                                    const std::vector<const Stream*>& streams);
  struct Pending;  // a probe to answer
  Record finish(const Pending& probe, const model::DecodedRow& decoded) const;

  model::Qwen3Model& model_;
  const tokenizer::Tokenizer& tokenizer_;
  const ttt::TTTConfig* ttt_config_;
  const ttt::TTTParams* params_;
  EngineOptions options_;
  std::vector<std::int64_t> stop_ids_;
  std::set<std::int64_t> special_ids_;
};

// `run`'s default --batch-size (SPEC.md "run", batch size): the largest power of two up to
// kMaxDefaultBatchSize whose rows (row_bytes each) fit 80% of the memory free on the device
// after the weights (the GPU's, or the host's MemAvailable on the CPU). `reason` says how it
// was chosen (run.json).
struct BatchChoice {
  std::int64_t size = 1;
  std::string reason;
};
constexpr std::int64_t kMaxDefaultBatchSize = 64;
BatchChoice default_batch_size(const ModelConfig& model, const ttt::TTTConfig* ttt,
                               const at::Device& device, at::ScalarType dtype,
                               std::int64_t max_new_tokens);
// The rule itself: the largest power of two <= kMaxDefaultBatchSize with size x row <= 80% of
// free_bytes (at least 1).
std::int64_t fitting_batch_size(std::int64_t row_bytes, std::int64_t free_bytes);
// Worst-case memory of one batch row: its KV slots at the longest stream the engine admits, its
// dense fast weights on every TTT layer, and one prefill's activations.
std::int64_t row_bytes(const ModelConfig& model, const ttt::TTTConfig* ttt, at::ScalarType dtype,
                       std::int64_t max_new_tokens);

// sha256 of a file as 64 lowercase hex digits (run.json's provenance).
std::string sha256_file(const std::filesystem::path& file);
std::string sha256_hex(std::string_view bytes);

}  // namespace tttmem::experiment
