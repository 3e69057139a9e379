// protocol: what the experiment puts in front of the model, as data and text, without a model.
// The condition table (one row per kind: what the prompt holds, what is ingested first, which TTT
// parameters, how the protocol's flags change it), the protocol options, sample selection, probe
// prompts, ingested texts and the answer's strip (SPEC.md "run: the experiment engine", S2.6-S3.2).
// `experiment` runs it, `train` builds the memory objective's rows from it, and `eval` and the CLI
// read condition names from its table. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tttmem/bench.h"
#include "tttmem/tokenizer.h"

namespace tttmem::protocol {

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
  // Ingested texts start with the model's BOS too, like its prompts (model::sequence_bos); the
  // seed's Qwen3 has none, the adapter study ingests its documents without one.
  bool ingest_bos = false;
  // ttt_paper decodes its answer with the model's own down_proj, the prompt's fast weights
  // dropped after the prefill: what the adapter study's generate did (`run --paper-decode`;
  // DECISIONS.md `## ttt`). False: they keep applying and updating (the seed's).
  bool paper_decode_base_down = false;
  std::int64_t max_new_tokens = 32;
  static ProtocolOptions preset(const std::string& protocol);  // "seed" | "fixed"
  nlohmann::ordered_json to_json() const;
};

enum class Ingest { nothing, conversation, conversation_and_distractor };
enum class Params { zero, trained };
// What one `--condition` value expands to: one condition, or one per value of a list flag,
// named <kind>_<scale_suffix(value)> (the ablations).
enum class Sweep { none, noise_scales, alphas };

// The condition kinds, by the role eval's headline and comparisons give them. These constants
// are the only spelling of each name; the table below is built from them.
inline constexpr std::string_view kContext = "a";           // A: the conversation in the prompt
inline constexpr std::string_view kMemory = "b";            // B: the conversation in fast weights
inline constexpr std::string_view kNoMemory = "c";          // C: neither
inline constexpr std::string_view kDistracted = "d";        // D: B's memory after a distractor
inline constexpr std::string_view kNoise = "a_prime";       // C with noise on down_proj
inline constexpr std::string_view kScaled = "b_scaled";     // B, TTT parameters times alpha
inline constexpr std::string_view kTttPaper = "ttt_paper";  // A with the trained TTT live
inline constexpr std::string_view kScroll = "scroll";       // B forgotten by the window
// The Gemma3 adapter study's modes: its icl (A's prompt, TTT off) and its ttt_strict (B with the
// partial chunk flushed and the fast weights frozen while answering). Its ttt_paper is kTttPaper.
inline constexpr std::string_view kInContext = "in_context";
inline constexpr std::string_view kStrict = "ttt_strict";
inline constexpr std::string_view kAll = "all";             // --condition all: the kinds in_all

// One row of the condition table: a kind under the seed protocol, and which of the protocol's
// flags change it.
struct ConditionKind {
  std::string_view name;
  std::string_view description;  // `run --condition`'s help
  bool in_all = false;           // one of `--condition all` (the seed's A, B, C, D)
  Sweep sweep = Sweep::none;     // none: reported by name; else an ablation, by scale
  bool conversation_in_prompt = false;
  Ingest ingest = Ingest::nothing;
  Params params = Params::zero;
  bool level3_only = false;
  bool filler_until_out_of_window = false;  // as in Condition
  bool continue_stream = false;             // as in Condition
  // --distractor-in-a-c puts the L3 distractor in the prompt.
  bool affected_by_distractor_in_a_c = false;
  // --trained-ttt-in-a-c makes the parameters trained.
  bool affected_by_trained_ttt_in_a_c = false;
  // --freeze-while-answering freezes the fast weights while answering (they hold a memory).
  bool affected_by_freeze_while_answering = false;
  // Whatever the protocol: the ingestion writes its partial last chunk into the fast weights and
  // they stay frozen while answering (the study's strict snapshot).
  bool flush_and_freeze = false;
  // paper_decode_base_down decodes with the base down_proj after the prefill.
  bool affected_by_paper_decode_base_down = false;
};

// The table, one row per kind. Reports list the unswept kinds in this order, then the sweeps.
std::span<const ConditionKind> condition_kinds();
const ConditionKind* find_kind(std::string_view name);  // null for an unknown name

// `run --condition`'s accepted values in the order its help lists them: the kinds in `all`,
// then `all` (described by its kinds), then the other kinds.
struct ConditionValue {
  std::string name, description;
};
std::vector<ConditionValue> condition_values();

struct Condition {
  std::string name;  // result file stem: a, b, c, d, ttt_paper, scroll, a_prime_0p01, b_scaled_0p1
  std::string kind;  // the table row's name
  bool conversation_in_prompt = false;
  bool distractor_in_prompt = false;  // level-3 samples only
  Ingest ingest = Ingest::nothing;
  Params params = Params::zero;
  double alpha = 1.0;                 // trained parameters times alpha
  std::optional<double> noise_scale;  // a_prime: relative Gaussian noise on the TTT layers' down_proj
  bool frozen = false;                // fast weights frozen while answering
  bool flush_partial_chunk = false;   // ingestion flushes its partial chunk (also --flush-partial-chunk)
  // After the prefill the fast weights are reset to W0 and frozen: the answer's tokens are
  // decoded with the model's own down_proj.
  bool decode_with_base_weights = false;
  bool level3_only = false;
  // The ingested text is followed by scroll_filler(): filler until it has left the model's
  // attention window (needs a sliding window on every layer).
  bool filler_until_out_of_window = false;
  // The probe continues the ingestion's stream: the KV cache stays (the attention window hides
  // what scrolled out of it) and so do the TTT tails. False: B's KV-stripped clone (fast weights
  // only, tails dropped).
  bool continue_stream = false;
};

// One kind under a protocol, unswept (alpha 1, no noise). Throws std::invalid_argument for an
// unknown kind.
Condition make_condition(std::string_view kind, const ProtocolOptions& protocol);
// A `--condition` value (condition_values()) as the conditions it runs, in order: a sweep gives
// one per noise scale or alpha.
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

// The prompt of one probe and the text ingested first, under a condition and protocol. A RULER
// sample takes the adapter study's prompts: with its document ("You are given a document and a
// question. ...") when the condition puts it in the prompt, else the strict answer prompt.
std::string probe_prompt(const Condition& condition, const ProtocolOptions& protocol,
                         const bench::Sample& sample, const bench::Probe& probe);
std::optional<std::string> ingest_text(const Condition& condition, const bench::Sample& sample);
// SPEC.md S2.6: ingestion truncates at 4096 tokens (B) or 8192 (D); never reached by v1. A RULER
// document is ingested whole (the study truncates nothing).
std::size_t ingest_limit(Ingest ingest, const bench::Sample& sample);

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

}  // namespace tttmem::protocol
