// experiment: the engine behind `tttmem run`. A condition is data (protocol::Condition: what the
// prompt holds, what is ingested into the fast weights first, which TTT parameters, whether the
// fast weights stay live while answering), interpreted by one batched engine (SPEC.md "run: the
// experiment engine").
// Probes are rows of one continuously refilled batch; each row has its own KV slots
// and its own TTT state, and the probes of a sample share the memory its ingestion left.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tttmem/bench.h"
#include "tttmem/e2e.h"
#include "tttmem/model.h"
#include "tttmem/protocol.h"
#include "tttmem/tokenizer.h"
#include "tttmem/ttt.h"

namespace tttmem::experiment {

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
  // Wall time from the decoder taking the probe to its last token (rows of a batch share the
  // device), and its sample's share of the ingestion forward that built its memory (0: none).
  double seconds = 0, ingest_seconds = 0;
  nlohmann::ordered_json to_json() const;
  static Record from_json(const nlohmann::json& line, const std::string& where);
};

// Reads a JSONL result file for --resume. A torn last line (a killed writer) is cut off the file;
// any other malformed line, or a duplicated probe, is an error naming the file and line.
std::vector<Record> read_records(const std::filesystem::path& file);
// The records of JSONL text (every line complete); errors name `source` and the line.
std::vector<Record> parse_records(const std::string& text, const std::string& source);
// One line of a JSONL result file, newline included.
std::string jsonl_line(const Record& record);
// A finished condition's files in `dir`: condition_<x>.jsonl rewritten in benchmark order
// (samples in `samples` order, probes in their sample's order; atomic), so it does not depend on
// the batch size or the number of ranks, and the seed's condition_<x>.json in the same order.
// Throws naming the file and the probe when a probe of `samples` has no record.
void write_condition_files(const std::filesystem::path& dir, const std::string& condition,
                           const std::vector<const bench::Sample*>& samples,
                           const std::vector<Record>& records);

struct EngineOptions {
  bool resume = false;
  std::filesystem::path out_dir;
  protocol::ProtocolOptions protocol;
  // What a resumed condition must share with the run that wrote its records (the caller's
  // description: model, TTT, benchmark, protocol, ...). Written to identity_<x>.json when the
  // condition starts; --resume refuses a folder whose file differs. Null: not checked.
  nlohmann::ordered_json identity;
  // Tokens per forward of an ingestion or a prefill (model::forward_in_pieces).
  std::int64_t prefill_piece = model::kPrefillPiece;
  // Called after each record is written (a distributed run checks on its peers there).
  std::function<void()> after_record{};
  // The TTT-E2E memory (--memory e2e) instead of In-Place TTT: a condition's trained parameters
  // are theta, its ingestion the inner loop, and its rows answer from their own final weights,
  // frozen (SPEC.md "e2e", Conditions). Both null: In-Place TTT (or none).
  const e2e::E2EConfig* e2e_config = nullptr;
  const e2e::E2EParams* e2e_params = nullptr;
};

struct ConditionStats {
  std::string name;
  std::int64_t probes = 0, skipped = 0, generated_tokens = 0, samples_ingested = 0;
  std::int64_t kv_compactions = 0;  // KVCache::compact() calls (continuous batching's padding)
  double seconds = 0;
  // The device allocator's peak while the condition ran (CUDA only; weights included).
  std::optional<std::int64_t> peak_device_bytes;
  nlohmann::ordered_json to_json() const;
};

// The most one row of a condition holds (SPEC.md "run", batch size): the longest stream a sample
// ingests, the longest KV row a probe answers from (a continued stream, then its prompt), and
// whether rows carry fast weights.
struct RowNeeds {
  bool fast_weights = false;
  std::int64_t ingest_tokens = 0, answer_tokens = 0;
};

class Engine {
 public:
  // `ttt` may be null (a model without TTT: only conditions whose params are zero run, plainly).
  // Nothing passed in is changed: each condition's TTT parameters and ablation weights are its
  // own values, handed to the graft.
  Engine(model::Decoder& model, const tokenizer::Tokenizer& tokenizer,
         const ttt::TTTConfig* ttt_config, const ttt::TTTParams* params, EngineOptions options);
  // Answers every probe of `samples` under `condition`, `batch_size` rows at a time, appending to
  // OUT/condition_<name>.jsonl (continuing it under --resume), then writes
  // OUT/condition_<name>.json.
  ConditionStats run(const protocol::Condition& condition,
                     const std::vector<const bench::Sample*>& samples, std::int64_t batch_size);
  // What a row of `condition` over `samples` holds at most; fails like `run` on a prompt or a
  // stream past the model's context.
  RowNeeds row_needs(const protocol::Condition& condition,
                     const std::vector<const bench::Sample*>& samples) const;

 private:
  struct Stream;
  struct Memory;
  struct Setup;
  // with_bos: the model's sequence BOS first, when its family has one (model::sequence_bos).
  std::vector<std::int64_t> encode(const std::string& text, bool with_bos) const;
  // Zero TTT parameters leave every fast weight at W0: such a condition runs the plain MLP unless
  // an ablation perturbs W0.
  bool graft_on(const protocol::Condition& condition) const;
  // A sample is ingested when its memory is fast weights (graft on) or a continued stream.
  bool ingests(const protocol::Condition& condition) const;
  // The prompt of a probe, checked to fit the context after `streamed` continued tokens.
  std::vector<std::int64_t> probe_prompt(const protocol::Condition& condition,
                                         const bench::Sample& sample, const bench::Probe& probe,
                                         std::int64_t streamed) const;
  // The ids a condition ingests for a sample: its ingest_text, truncated (SPEC.md S2.6), then
  // the filler when the condition scrolls it out of the window.
  Stream ingest_ids(const protocol::Condition& condition, const bench::Sample& sample) const;
  // Ingests several samples' streams in one padded forward: each sample's memory.
  std::vector<std::shared_ptr<const Memory>> ingest(const protocol::Condition& condition,
                                                    const Setup& setup,
                                                    const std::vector<const Stream*>& streams);
  std::vector<std::shared_ptr<const Memory>> ingest_e2e(const protocol::Condition& condition,
                                                        const std::vector<const Stream*>& streams);
  struct Pending;  // a probe to answer
  Record finish(const Pending& probe, const model::DecodedRow& decoded) const;

  model::Decoder& model_;
  const tokenizer::Tokenizer& tokenizer_;
  const ttt::TTTConfig* ttt_config_;
  const ttt::TTTParams* params_;
  EngineOptions options_;
  std::vector<std::int64_t> stop_ids_;
  std::optional<std::int64_t> bos_;
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
BatchChoice default_batch_size(std::int64_t row_bytes, const at::Device& device);
// The rule itself: the largest power of two <= kMaxDefaultBatchSize with size x row <= 80% of
// free_bytes (at least 1).
std::int64_t fitting_batch_size(std::int64_t row_bytes, std::int64_t free_bytes);
// Memory of one batch row at its worst, given what it holds: KV slots, fast weights, one
// prefill forward's activations (SPEC.md "run", batch size).
std::int64_t row_bytes(const ModelConfig& model, const ttt::TTTConfig* ttt, at::ScalarType dtype,
                       const RowNeeds& needs, std::int64_t max_new_tokens,
                       std::int64_t prefill_piece = model::kPrefillPiece);

// ---- a run over several ranks (SPEC.md "Scale-out")

// Rank `rank`'s share of `samples`: whole samples (ingestion is never split), every size-th one
// from the rank's own index, so each rank gets every level.
std::vector<const bench::Sample*> shard(const std::vector<const bench::Sample*>& samples, int rank,
                                        int size);
// Where rank `rank` of `size` keeps its records: OUT/ranks/rank<r>-of-<size>.
std::filesystem::path rank_dir(const std::filesystem::path& out, int rank, int size);
// Refuses an OUT holding records of another world (a single-process run, or another number of
// ranks), naming what it found: records are resumed only by the world that wrote them.
void check_world(const std::filesystem::path& out, int size);
// What rank `rank` sends rank 0 when its samples are answered: its conditions' stats
// (ConditionStats::to_json() each), its device peak and each condition's JSONL from
// `records_dir`.
std::string rank_report(int rank, const std::filesystem::path& records_dir,
                        const std::vector<std::string>& conditions,
                        const nlohmann::ordered_json& stats,
                        const nlohmann::ordered_json& device_peak);
// Rank 0, from every rank's report (rank order): OUT's condition_<x>.jsonl/.json and
// identity_<x>.json as a single process writes them (`samples`: each condition's whole
// selection); returns run.json's conditions, counts added up over ranks and seconds and device
// peak the slowest and largest rank's, and sets `ranks` to the reports without their records.
nlohmann::ordered_json merge_reports(const std::filesystem::path& out,
                                     const std::vector<std::string>& conditions,
                                     const std::vector<std::vector<const bench::Sample*>>& samples,
                                     const nlohmann::ordered_json& identity,
                                     const std::vector<std::string>& reports,
                                     nlohmann::ordered_json& ranks);

// sha256 of a file as 64 lowercase hex digits (run.json's provenance).
std::string sha256_file(const std::filesystem::path& file);
std::string sha256_hex(std::string_view bytes);

}  // namespace tttmem::experiment
