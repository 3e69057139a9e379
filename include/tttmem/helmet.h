// helmet: HELMET's RAG (KILT open-domain QA over retrieved passages) and ICL (many-shot
// classification with numeric labels) tasks, built from a user's local HELMET-format JSONL files
// into the RULER file format (ruler::Benchmark), so `run` and `evaluate` read them unchanged.
// The datasets are not shipped: nothing here downloads. SPEC.md `## ruler` ("HELMET RAG and ICL
// from local files"). Torch-free.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tttmem/ruler.h"

namespace tttmem::helmet {

// A bad input file (the message names the file, the line and the field) or option.
struct HelmetError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr std::string_view kRagTask = "helmet_rag";
inline constexpr std::string_view kIclTask = "helmet_icl";
// HELMET's generation_max_length for both tasks, reserved from --length as RULER reserves its.
inline constexpr int kGenerationBudget = 20;
inline constexpr int kRagShots = 2;  // HELMET's shots for RAG

// ---- Input rows (one JSONL line each; `line` is 1-based, for messages)

struct Passage {
  std::string title;
  std::string text;
  // KILT's has_answer when the row carries it: true marks a gold passage, which fitting keeps.
  std::optional<bool> has_answer;
};

// {"id"?: str|int, "question": str, "answers": [str, ...], "ctxs": [{"title", "text",
// "has_answer"?}, ...]}; other fields are ignored.
struct RagRow {
  std::optional<std::string> id;  // an integer id is kept as its decimal text
  std::string question;
  std::vector<std::string> answers;  // non-empty
  std::vector<Passage> ctxs;         // non-empty
  int line = 0;
};

// {"text": str, "label": str|int}; every row of a file has the same label type.
struct IclRow {
  std::string text;
  std::string label;  // an integer label is kept as its decimal text
  bool label_is_integer = false;
  int line = 0;
};

// Strict JSONL readers: blank lines are skipped; anything else must be a row as above. Throw
// HelmetError "<source>:<line>: field '<name>' ..." naming what is missing or mistyped.
std::vector<RagRow> parse_rag_jsonl(std::string_view text, const std::string& source);
std::vector<IclRow> parse_icl_jsonl(std::string_view text, const std::string& source);
std::vector<RagRow> load_rag_jsonl(const std::filesystem::path& path);
std::vector<IclRow> load_icl_jsonl(const std::filesystem::path& path);

struct BuildOptions {
  // Tokens of the whole HELMET prompt (document, question, answer prefix) + kGenerationBudget,
  // at most; ruler::kMinLength..ruler::kMaxLength.
  std::int64_t length = 4096;
  int samples = 25;         // test rows drawn without replacement; at most the file's rows
  std::uint64_t seed = 42;  // HELMET's default seed
  ruler::TokenCount count_tokens;
  std::string tokenizer;  // recorded as given (the --tokenizer path)
  // The files the rows came from, for messages and metadata.
  std::string data_source;
  std::string demos_source;
};

// RAG: each drawn test row gets kRagShots demos from `demos` (never one with the test row's id
// or question), each shown with all of its own passages, then the test row's passages in file
// order: its gold passages (has_answer) and as many of the others, from the first, as fit.
// Throws HelmetError when a length cannot hold the instruction, the demos, the gold passages (or
// one passage where none is marked) and the question.
ruler::Benchmark build_rag(const std::vector<RagRow>& test, const std::vector<RagRow>& demos,
                           const BuildOptions& options);

// ICL: each drawn test row gets label-balanced demos from `train` (rounds of one row per label,
// each round shuffled; never a row with the test text), the labels renamed to shuffled integer
// ids, as many demos as fit. The answer is the test label's id. Throws HelmetError when the pool
// has fewer than 2 labels, a test label is not in the pool, or not even one demo fits.
ruler::Benchmark build_icl(const std::vector<IclRow>& test, const std::vector<IclRow>& train,
                           const BuildOptions& options);

}  // namespace tttmem::helmet
