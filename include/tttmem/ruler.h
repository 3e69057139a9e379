// ruler: RULER-style synthetic long-context tasks (variable tracking, common and frequent words
// extraction, needle in a haystack) generated to a token budget, in the study's schema
// (document / question / answer / answer_aliases), and the two ways they are scored: the study's
// any-of containment and RULER's string_match_all (SPEC.md `## ruler`, after the RULER study's
// spec). Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tttmem::ruler {

// A bad task, length or option, or a length a task cannot be generated at: the message names the
// flag or value.
struct RulerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Task {
  vt,               // variable tracking: 1 chain of 4 hops in the noise haystack
  cwe,              // common words extraction: the 10 words repeated most in a numbered list
  fwe,              // frequent words extraction: the 3 most frequent coded words (Zipf counts)
  niah_single,      // RULER niah_single_1: 1 key, 1 value, 1 query
  niah_multi,       // RULER niah_multikey_1: 4 keys (3 distractor needles), 1 value, 1 query
  niah_multivalue,  // RULER niah_multivalue: 1 key with 4 values, 1 query
  niah_multiquery,  // RULER niah_multiquery: 4 keys, 1 value each, all 4 queried
};

// The names --task accepts, in Task order.
std::vector<std::string> task_names();
Task parse_task(std::string_view name);  // throws RulerError listing the valid names
std::string task_name(Task task);
// The tasks a RULER-format file may hold: task_names() and those other builders write in this
// format from local files (helmet_rag, helmet_icl: include/tttmem/helmet.h).
std::vector<std::string> readable_task_names();

// Generation budgets: RULER reserves `ruler` tokens for the answer when it fits a sample to its
// length (vt 30, cwe 120, fwe 50, niah 128); the study generates at most `study` (16) tokens.
struct GenerationBudget {
  int ruler = 0;
  int study = 0;
};
GenerationBudget generation_budget(Task task);

inline constexpr std::uint64_t kStudySeed = 1337;  // the study's seed for every task and length
inline constexpr std::int64_t kMinLength = 256;    // below it no task's template leaves room
inline constexpr std::int64_t kMaxLength = 1 << 20;
inline constexpr int kMaxSamples = 10'000;

// The shipped English word lists (src/bench/ruler_words.cpp has their origin and licence):
// lowercase a-z, 3-10 letters, sorted, disjoint.
struct WordLists {
  std::vector<std::string_view> nouns, adjectives, verbs;
};
const WordLists& word_lists();

// RULER's noise haystack unit (vt, niah): one line per copy.
inline constexpr std::string_view kNoiseBlock =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

// Tokens of a text, as RULER counts them (no special tokens added).
using TokenCount = std::function<std::size_t(std::string_view)>;

struct GenerateOptions {
  Task task = Task::niah_single;
  std::int64_t length = 4096;  // tokens of input + the task's RULER generation budget, at most
  int samples = 25;
  std::uint64_t seed = kStudySeed;
  TokenCount count_tokens;
  std::string tokenizer;  // recorded as given (the --tokenizer path)
};

struct Sample {
  std::string id;  // <task>_<length>_<index:04d>
  std::string task;
  std::int64_t context_length_target = 0;
  std::string document;  // RULER input up to its last "\n", trailing whitespace stripped
  std::string question;  // the rest of the input, stripped, + " " + the stripped answer prefix
  std::string answer;    // the first reference
  std::vector<std::string> answer_aliases;  // every reference, the answer first
  std::int64_t input_tokens = 0;            // tokens of the whole RULER input + answer prefix
  nlohmann::ordered_json metadata;
};

struct Benchmark {
  std::string task;
  std::int64_t length = 0;
  std::uint64_t seed = 0;
  std::string tokenizer;
  int tokens_to_generate = 0;
  std::vector<Sample> samples;
};

// Generates options.samples samples, each filled with as much haystack as fits the budget
// input_tokens + generation_budget(task).ruler <= length. The same options (seed, tokenizer)
// give the same samples on every platform. Throws RulerError when the length is out of range or
// too short for the task's template, or (cwe) longer than the shipped word list can fill.
Benchmark generate(const GenerateOptions& options);

// {"format": "ruler", "task", "length", "seed", "tokenizer", "tokens_to_generate", "samples":
// [...]} with two-space indentation and a final newline.
std::string to_json(const Benchmark& benchmark);
// The inverse of to_json, strict: every field present and of its type, a readable task, samples of
// the file's task and length with unique ids, a non-empty answer that is the first alias.
// Throws RulerError naming `source`, the sample and the field.
Benchmark parse_benchmark(std::string_view json_text, const std::string& source);
Benchmark load_benchmark(const std::filesystem::path& path);

// ---- Scoring
// -------------------------------------------------------------------------------------

// The study's normalisation: lowercase (Python str.lower), strip whitespace, then strip leading
// and trailing runs of ASCII whitespace and punctuation; interior characters are kept.
std::string normalize_answer(std::string_view text);
// The study's score: true when any reference that is non-empty after normalisation is a
// substring of (or equal to) the normalised prediction.
bool any_of_match(std::string_view prediction, std::span<const std::string> references);
// RULER's string_match_all for one sample: the fraction of references found in the prediction,
// both lowercased, in [0, 1] (RULER reports the mean over samples x 100). Throws RulerError when
// there is no reference.
double string_match_all(std::string_view prediction, std::span<const std::string> references);
// HELMET's ICL score, for an integer label id: the first word of the prediction (after the
// study's normalisation and an optional leading "label:") equals the label. Substring rules would
// count "12" for the label "1".
bool label_match(std::string_view prediction, std::string_view label);

}  // namespace tttmem::ruler
