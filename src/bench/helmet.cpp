// HELMET's RAG and ICL tasks from local JSONL files (include/tttmem/helmet.h; SPEC.md `## ruler`,
// "HELMET RAG and ICL from local files"). HELMET's templates and item formats, fitted to a token
// budget by keeping whole passages or demos (HELMET instead picks a file with a fitting passage
// count, or truncates its context); every draw goes through one py::Random stream per file, never
// <random>'s distributions, so a seed gives the same file on every platform.
#include "tttmem/helmet.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tttmem/log.h"
#include "tttmem/pycompat.h"

namespace tttmem::helmet {

namespace {

using J = nlohmann::json;
using OJ = nlohmann::ordered_json;
using py::Random;

constexpr std::string_view kRagInstruction =
    "Use the given documents to write a concise and short answer to the question. Write your "
    "answer in the following format:\nAnswer: [answer]";
constexpr std::string_view kRagAnswerPrefix = "Answer:";
// HELMET's own text, trailing space included.
constexpr std::string_view kIclInstruction =
    "Use the provided mapping from the text to label to assign a label to the text. Only output "
    "\"label: {label}\" and nothing else. ";
constexpr std::string_view kIclAnswerPrefix = "label:";

// ---- JSONL reading ------------------------------------------------------------------------------

// Calls row(json, "<source>:<line>", line) for each non-blank line.
void for_each_row(std::string_view text, const std::string& source,
                  const std::function<void(const J&, const std::string&, int)>& row) {
  int line = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view content = text.substr(start, end - start);
    start = end + 1;
    ++line;
    if (content.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = source + ":" + std::to_string(line);
    J value;
    try {
      value = J::parse(content);
    } catch (const J::parse_error& e) {
      throw HelmetError(where + ": not valid JSON: " + e.what());
    }
    if (!value.is_object())
      throw HelmetError(where + ": expected a JSON object, got " + value.dump());
    row(value, where, line);
  }
}

// The field, of the checked type; the error names where, the field (as `shown`, for nested
// fields) and what it holds instead.
const J& field(const J& object, const std::string& name, const std::string& where,
               bool (J::*is_type)() const noexcept, const char* expected,
               const std::string& shown = {}) {
  const auto it = object.find(name);
  if (it == object.end() || !((*it).*is_type)())
    throw HelmetError(where + ": field '" + (shown.empty() ? name : shown) + "' must be " +
                      expected + (it == object.end() ? ", missing" : ", got " + it->dump()));
  return *it;
}

std::string nonempty_string(const J& object, const std::string& name, const std::string& where) {
  std::string value = field(object, name, where, &J::is_string, "a string").get<std::string>();
  if (value.empty()) throw HelmetError(where + ": field '" + name + "' must not be empty");
  return value;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw HelmetError(path.string() + ": cannot open for reading");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---- Building -----------------------------------------------------------------------------------

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

void check_options(const BuildOptions& o, std::size_t test_rows) {
  if (o.length < ruler::kMinLength || o.length > ruler::kMaxLength)
    throw HelmetError("helmet: --length " + std::to_string(o.length) + " is outside " +
                      std::to_string(ruler::kMinLength) + ".." + std::to_string(ruler::kMaxLength) +
                      " tokens");
  if (o.samples < 1 || static_cast<std::size_t>(o.samples) > test_rows)
    throw HelmetError("helmet: --samples " + std::to_string(o.samples) + " must be 1.." +
                      std::to_string(test_rows) + ", the rows of " + o.data_source);
  if (!o.count_tokens) throw HelmetError("helmet: no tokenizer to count tokens with (--tokenizer)");
}

// `k` distinct indices below n (random.sample), in ascending order so the samples follow the
// file.
std::vector<std::size_t> draw_rows(Random& rng, std::size_t n, std::size_t k) {
  std::vector<std::size_t> out = rng.sample_pool(n, k);
  std::sort(out.begin(), out.end());
  return out;
}

// The largest n in [lo, hi] with fits(n), given fits(lo): doubling steps, then bisection, so no
// candidate is much over twice the budget (a 1,000-passage row at a short length stays cheap).
std::size_t largest_fitting(std::size_t lo, std::size_t hi,
                            const std::function<bool(std::size_t)>& fits) {
  std::size_t good = lo, bad = hi + 1, step = 1;
  while (good < hi) {
    const std::size_t next = std::min(hi, good + step);
    if (!fits(next)) {
      bad = next;
      break;
    }
    good = next;
    step *= 2;
  }
  while (bad - good > 1) {
    const std::size_t mid = good + (bad - good) / 2;
    (fits(mid) ? good : bad) = mid;
  }
  return good;
}

ruler::Sample make_sample(std::string_view task, const BuildOptions& o, std::size_t index,
                          std::string document, std::string question,
                          std::vector<std::string> answers, std::int64_t tokens, OJ metadata) {
  ruler::Sample s;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%04zu", index);
  s.task = std::string(task);
  s.id = s.task + "_" + std::to_string(o.length) + suffix;
  s.context_length_target = o.length;
  s.document = std::move(document);
  s.question = std::move(question);
  s.answer = answers.front();
  s.answer_aliases = std::move(answers);
  s.input_tokens = tokens;
  s.metadata = std::move(metadata);
  return s;
}

std::string too_short(const BuildOptions& o, std::string_view what, std::int64_t tokens) {
  return "helmet: --length " + std::to_string(o.length) + " is too short: " + std::string(what) +
         " take " + std::to_string(tokens) + " tokens + " + std::to_string(kGenerationBudget) +
         " for the answer";
}

std::string passage_text(const Passage& p) {
  return "Document (Title: " + p.title + "): " + p.text;
}

std::string rag_demo(const RagRow& row) {
  std::vector<std::string> passages;
  for (const Passage& p : row.ctxs) passages.push_back(passage_text(p));
  return join(passages, "\n\n") + "\n\nQuestion: " + row.question + "\nAnswer: " + row.answers[0];
}

// Two rows are the same question when their ids match (both given) or their questions do.
bool same_question(const RagRow& a, const RagRow& b) {
  return (a.id && b.id && *a.id == *b.id) || a.question == b.question;
}

// kRagShots demos for `test`, drawn without replacement, none the test question nor each other's.
std::vector<const RagRow*> draw_demos(Random& rng, const RagRow& test,
                                      const std::vector<RagRow>& demos, const BuildOptions& o) {
  std::vector<std::size_t> pool;
  for (std::size_t i = 0; i < demos.size(); ++i)
    if (!same_question(demos[i], test)) pool.push_back(i);
  std::vector<const RagRow*> chosen;
  while (chosen.size() < static_cast<std::size_t>(kRagShots) && !pool.empty()) {
    const std::size_t j = rng.randbelow(pool.size());
    const RagRow& candidate = demos[pool[j]];
    pool[j] = pool.back();
    pool.pop_back();
    if (std::none_of(chosen.begin(), chosen.end(),
                     [&](const RagRow* c) { return same_question(*c, candidate); }))
      chosen.push_back(&candidate);
  }
  if (chosen.size() < static_cast<std::size_t>(kRagShots))
    throw HelmetError(o.demos_source + ": fewer than " + std::to_string(kRagShots) +
                      " demo questions other than the test question on " + o.data_source + ":" +
                      std::to_string(test.line));
  return chosen;
}

// ICL labels in order: integers numerically, strings bytewise (a file has one label type).
struct LabelOrder {
  bool operator()(const IclRow* a, const IclRow* b) const {
    if (a->label_is_integer) return std::stoll(a->label) < std::stoll(b->label);
    return a->label < b->label;
  }
};

}  // namespace

// ---- Readers ------------------------------------------------------------------------------------

std::vector<RagRow> parse_rag_jsonl(std::string_view text, const std::string& source) {
  std::vector<RagRow> rows;
  for_each_row(text, source, [&](const J& v, const std::string& where, int line) {
    RagRow r;
    r.line = line;
    if (const auto id = v.find("id"); id != v.end()) {
      if (id->is_string())
        r.id = id->get<std::string>();
      else if (id->is_number_integer())
        r.id = id->dump();
      else
        throw HelmetError(where + ": field 'id' must be a string or an integer, got " + id->dump());
    }
    r.question = nonempty_string(v, "question", where);
    const J& answers = field(v, "answers", where, &J::is_array, "an array of strings");
    if (answers.empty())
      throw HelmetError(where + ": field 'answers' must hold at least one answer, got []");
    for (std::size_t i = 0; i < answers.size(); ++i) {
      if (!answers[i].is_string() || answers[i].get<std::string>().empty())
        throw HelmetError(where + ": field 'answers[" + std::to_string(i) +
                          "]' must be a non-empty string, got " + answers[i].dump());
      r.answers.push_back(answers[i].get<std::string>());
    }
    const J& ctxs = field(v, "ctxs", where, &J::is_array, "an array of passages");
    if (ctxs.empty())
      throw HelmetError(where + ": field 'ctxs' must hold at least one passage, got []");
    for (std::size_t i = 0; i < ctxs.size(); ++i) {
      const std::string name = "ctxs[" + std::to_string(i) + "]";
      if (!ctxs[i].is_object())
        throw HelmetError(where + ": field '" + name + "' must be an object, got " +
                          ctxs[i].dump());
      Passage p;
      p.title = field(ctxs[i], "title", where, &J::is_string, "a string", name + ".title")
                    .get<std::string>();
      p.text = field(ctxs[i], "text", where, &J::is_string, "a string", name + ".text")
                   .get<std::string>();
      if (const auto gold = ctxs[i].find("has_answer"); gold != ctxs[i].end()) {
        if (!gold->is_boolean())
          throw HelmetError(where + ": field '" + name + ".has_answer' must be a boolean, got " +
                            gold->dump());
        p.has_answer = gold->get<bool>();
      }
      r.ctxs.push_back(std::move(p));
    }
    rows.push_back(std::move(r));
  });
  if (rows.empty()) throw HelmetError(source + ": no rows");
  return rows;
}

std::vector<IclRow> parse_icl_jsonl(std::string_view text, const std::string& source) {
  std::vector<IclRow> rows;
  for_each_row(text, source, [&](const J& v, const std::string& where, int line) {
    IclRow r;
    r.line = line;
    r.text = nonempty_string(v, "text", where);
    const auto label = v.find("label");
    if (label != v.end() && label->is_number_integer() &&
        !(label->is_number_unsigned() && label->get<std::uint64_t>() > INT64_MAX)) {
      r.label = std::to_string(label->get<std::int64_t>());
      r.label_is_integer = true;
    } else if (label != v.end() && label->is_string() && !label->get<std::string>().empty()) {
      r.label = label->get<std::string>();
    } else {
      throw HelmetError(where + ": field 'label' must be a non-empty string or an integer" +
                        (label == v.end() ? std::string(", missing") : ", got " + label->dump()));
    }
    if (!rows.empty() && rows.front().label_is_integer != r.label_is_integer)
      throw HelmetError(where + ": field 'label' is " +
                        (r.label_is_integer ? "an integer" : "a string") + " but " +
                        (r.label_is_integer ? "a string" : "an integer") + " on line " +
                        std::to_string(rows.front().line));
    rows.push_back(std::move(r));
  });
  if (rows.empty()) throw HelmetError(source + ": no rows");
  return rows;
}

std::vector<RagRow> load_rag_jsonl(const std::filesystem::path& path) {
  return parse_rag_jsonl(read_text(path), path.string());
}

std::vector<IclRow> load_icl_jsonl(const std::filesystem::path& path) {
  return parse_icl_jsonl(read_text(path), path.string());
}

// ---- Builders -----------------------------------------------------------------------------------

ruler::Benchmark build_rag(const std::vector<RagRow>& test, const std::vector<RagRow>& demos,
                           const BuildOptions& o) {
  check_options(o, test.size());
  const auto count = [&](const std::string& text) {
    return static_cast<std::int64_t>(o.count_tokens(text));
  };
  const auto fits = [&](std::int64_t tokens) { return tokens + kGenerationBudget <= o.length; };
  Random rng(o.seed);
  ruler::Benchmark out{std::string(kRagTask), o.length, o.seed, o.tokenizer, kGenerationBudget, {}};
  const std::vector<std::size_t> rows =
      draw_rows(rng, test.size(), static_cast<std::size_t>(o.samples));
  log::Progress progress("build-benchmark helmet rag @" + std::to_string(o.length), o.samples,
                         "samples");
  for (std::size_t index = 0; index < rows.size(); ++index) {
    const RagRow& row = test[rows[index]];
    const std::string where = o.data_source + ":" + std::to_string(row.line);
    std::string head = std::string(kRagInstruction) + "\n\n";
    OJ demo_lines = OJ::array();
    for (const RagRow* demo : draw_demos(rng, row, demos, o)) {
      head += rag_demo(*demo) + "\n\n";
      demo_lines.push_back(demo->line);
    }
    const std::string tail = "\n\nQuestion: " + row.question + "\n" + std::string(kRagAnswerPrefix);

    // Gold passages always stay; the others are kept from the first while they fit.
    std::vector<std::size_t> gold, others;
    for (std::size_t i = 0; i < row.ctxs.size(); ++i)
      (row.ctxs[i].has_answer.value_or(false) ? gold : others).push_back(i);
    const auto document = [&](std::size_t kept_others) {
      std::vector<std::size_t> kept = gold;
      kept.insert(kept.end(), others.begin(),
                  others.begin() + static_cast<std::ptrdiff_t>(kept_others));
      std::sort(kept.begin(), kept.end());
      std::vector<std::string> passages;
      for (std::size_t i : kept) passages.push_back(passage_text(row.ctxs[i]));
      return head + join(passages, "\n\n");
    };
    const std::size_t least = gold.empty() ? 1 : 0;  // without gold marks, at least one passage
    if (const std::int64_t t = count(document(least) + tail); !fits(t))
      throw HelmetError(
          where + ": " +
          too_short(o,
                    gold.empty() ? "the instruction, the demos, the first passage and the question"
                                 : "the instruction, the demos, the gold passages and the question",
                    t));
    const std::size_t kept_others = largest_fitting(
        least, others.size(), [&](std::size_t n) { return fits(count(document(n) + tail)); });
    std::string doc = document(kept_others);
    const std::int64_t tokens = count(doc + tail);
    OJ metadata{{"helmet_task", "rag"},
                {"source", o.data_source},
                {"line", row.line},
                {"row_id", row.id ? OJ(*row.id) : OJ(nullptr)},
                {"passages_kept", gold.size() + kept_others},
                {"passages_total", row.ctxs.size()},
                {"gold_passages", gold.empty() ? OJ(nullptr) : OJ(gold.size())},
                {"demos_source", o.demos_source},
                {"demo_lines", demo_lines},
                {"answer_prefix", kRagAnswerPrefix}};
    out.samples.push_back(make_sample(kRagTask, o, index, std::move(doc), row.question, row.answers,
                                      tokens, std::move(metadata)));
    progress.advance();
  }
  progress.finish();
  return out;
}

ruler::Benchmark build_icl(const std::vector<IclRow>& test, const std::vector<IclRow>& train,
                           const BuildOptions& o) {
  check_options(o, test.size());
  // The pool's labels, sorted; each test label must be one of them and of the same type.
  std::vector<const IclRow*> label_rows;
  {
    std::set<const IclRow*, LabelOrder> distinct;
    for (const IclRow& r : train) distinct.insert(&r);
    label_rows.assign(distinct.begin(), distinct.end());
  }
  if (label_rows.size() < 2)
    throw HelmetError(o.demos_source + ": field 'label' takes " +
                      std::to_string(label_rows.size()) +
                      " distinct value in the train pool; classification needs at least 2");
  std::map<std::string, std::size_t> label_index;
  for (std::size_t i = 0; i < label_rows.size(); ++i) label_index[label_rows[i]->label] = i;
  for (const IclRow& r : test) {
    const std::string where = o.data_source + ":" + std::to_string(r.line);
    if (r.label_is_integer != train.front().label_is_integer)
      throw HelmetError(where + ": field 'label' must be " +
                        (train.front().label_is_integer ? "an integer" : "a string") +
                        ", as in the train pool " + o.demos_source);
    if (!label_index.count(r.label))
      throw HelmetError(where + ": field 'label' is '" + r.label +
                        "', which does not occur in the train pool " + o.demos_source);
  }

  const auto count = [&](const std::string& text) {
    return static_cast<std::int64_t>(o.count_tokens(text));
  };
  const auto fits = [&](std::int64_t tokens) { return tokens + kGenerationBudget <= o.length; };
  Random rng(o.seed);
  ruler::Benchmark out{std::string(kIclTask), o.length, o.seed, o.tokenizer, kGenerationBudget, {}};
  const std::vector<std::size_t> rows =
      draw_rows(rng, test.size(), static_cast<std::size_t>(o.samples));
  std::size_t exhausted = 0;
  log::Progress progress("build-benchmark helmet icl @" + std::to_string(o.length), o.samples,
                         "samples");
  for (std::size_t index = 0; index < rows.size(); ++index) {
    const IclRow& row = test[rows[index]];
    const std::string where = o.data_source + ":" + std::to_string(row.line);
    // "Use numeric labels": label i (sorted) shows as ids[i], a fresh permutation per sample.
    std::vector<int> ids(label_rows.size());
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>(i);
    rng.shuffle(ids);
    // Balanced rounds: each label's rows (less the test text) shuffled, then round r holds the
    // r-th row of every label, shuffled; rounds stop when a label runs out, so any prefix has
    // every label within one of the others.
    std::vector<std::vector<const IclRow*>> by_label(label_rows.size());
    for (const IclRow& r : train)
      if (r.text != row.text) by_label[label_index.at(r.label)].push_back(&r);
    std::size_t rounds = SIZE_MAX;
    for (auto& rows_of_label : by_label) {
      if (rows_of_label.empty()) continue;  // every row of it was the test text
      rng.shuffle(rows_of_label);
      rounds = std::min(rounds, rows_of_label.size());
    }
    std::vector<const IclRow*> order;
    for (std::size_t r = 0; r < rounds && rounds != SIZE_MAX; ++r) {
      std::vector<const IclRow*> round;
      for (const auto& rows_of_label : by_label)
        if (!rows_of_label.empty()) round.push_back(rows_of_label[r]);
      rng.shuffle(round);
      order.insert(order.end(), round.begin(), round.end());
    }
    const auto id_of = [&](const IclRow& r) {
      return std::to_string(ids[label_index.at(r.label)]);
    };
    const auto document = [&](std::size_t n) {
      std::string doc = std::string(kIclInstruction);
      for (std::size_t i = 0; i < n; ++i)
        doc += "\n\n" + order[i]->text + "\nlabel: " + id_of(*order[i]);
      return doc;
    };
    const std::string tail = "\n\n" + row.text + "\n" + std::string(kIclAnswerPrefix);
    if (order.empty())
      throw HelmetError(where + ": the train pool " + o.demos_source + " has no demo for it");
    if (const std::int64_t t = count(document(1) + tail); !fits(t))
      throw HelmetError(where + ": " +
                        too_short(o, "the instruction, one demo and the test text", t));
    const std::size_t kept = largest_fitting(
        1, order.size(), [&](std::size_t n) { return fits(count(document(n) + tail)); });
    if (kept == order.size()) ++exhausted;
    std::string doc = document(kept);
    const std::int64_t tokens = count(doc + tail);
    OJ label_ids = OJ::object();
    for (std::size_t i = 0; i < label_rows.size(); ++i) label_ids[label_rows[i]->label] = ids[i];
    OJ metadata{{"helmet_task", "icl"},
                {"source", o.data_source},
                {"line", row.line},
                {"label", row.label},
                {"label_ids", label_ids},
                {"demos_kept", kept},
                {"demos_available", order.size()},
                {"pool_exhausted", kept == order.size()},
                {"demos_source", o.demos_source},
                {"answer_prefix", kIclAnswerPrefix}};
    out.samples.push_back(make_sample(kIclTask, o, index, std::move(doc), row.text, {id_of(row)},
                                      tokens, std::move(metadata)));
    progress.advance();
  }
  progress.finish();
  if (exhausted > 0)
    log::warn("helmet icl: ", exhausted, " of ", rows.size(),
              " samples used every balanced demo of ", o.demos_source, " and stay under --length ",
              o.length);
  return out;
}

}  // namespace tttmem::helmet
