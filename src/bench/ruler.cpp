// RULER-style synthetic tasks (include/tttmem/ruler.h; SPEC.md `## ruler`).
// Each task draws a sample for a given haystack size; a fit finds the largest haystack that keeps
// tokens(input + answer prefix) + the task's generation budget within the length, as RULER does;
// the study's mapping turns RULER's input into document and question. Every random draw
// goes through py::Random (one stream seeded once, plus fresh Random(seed) shuffles where RULER
// has them), never <random>'s distributions, whose output differs between standard libraries.
#include "tttmem/ruler.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numbers>
#include <optional>
#include <set>
#include <sstream>

#include "tttmem/helmet.h"
#include "tttmem/log.h"
#include "tttmem/pycompat.h"

namespace tttmem::ruler {

namespace {

using py::Random;

constexpr std::array<std::string_view, 7> kTaskNames{
    "vt", "cwe", "fwe", "niah_single", "niah_multi", "niah_multivalue", "niah_multiquery"};

// A RULER sample before the study's mapping: RULER's input (its template filled in), the answer
// prefix RULER cuts off the end of it, and the reference strings ("outputs").
struct Draft {
  std::string input;
  std::string answer_prefix;
  std::vector<std::string> outputs;
  nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
};

// The token budget: tokens(input + answer prefix) + answer_tokens <= length.
struct Budget {
  std::string task;
  std::int64_t length = 0;
  std::string limit;  // what sets `length`, for messages: "--length 4096"
  int answer_tokens = 0;
  const TokenCount* count = nullptr;

  std::int64_t tokens(const Draft& d) const {
    return static_cast<std::int64_t>((*count)(d.input + d.answer_prefix));
  }
  bool fits(std::int64_t tokens) const { return tokens + answer_tokens <= length; }
};

// ---- Random draws -------------------------------------------------------------------------------

// random.sample(range(n), k); a count RULER's rules never exceed.
std::vector<std::size_t> sample_indices(Random& rng, std::size_t n, std::size_t k) {
  if (k > n)
    throw RulerError("ruler: cannot sample " + std::to_string(k) + " of " + std::to_string(n));
  return rng.sample_pool(n, k);
}

std::string random_letters(Random& rng, int count, char first) {
  std::string s(static_cast<std::size_t>(count), first);
  for (char& c : s) c = static_cast<char>(first + rng.randbelow(26));
  return s;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    out += items[i];
  }
  return out;
}

std::string numbered(const std::vector<std::string>& words) {  // "1. a 2. b ..."
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i) out += ' ';
    out += std::to_string(i + 1) + ". " + words[i];
  }
  return out;
}

// ---- Fitting the haystack -----------------------------------------------------------------------

// A task whose haystack grows one unit (a noise line, a listed word) at a time.
struct UnitTask {
  std::string unit;                      // for messages and metadata: "noise lines", "words"
  std::int64_t min_units = 1;            // the fewest a sample can be drawn with
  std::int64_t max_units = 1;            // the top of the binary search
  std::int64_t increment = 1;            // RULER's back-off step when a sample overflows
  std::optional<std::string> exhausted;  // set when max_units is a hard cap (the word list)
  std::function<Draft(Random&, std::int64_t)> draw;
};

// Draws at the smallest haystack before a length is called too short. RULER redraws there
// without end; a sample whose needle or key happens to be long gets another draw, while a length
// that no draw fits fails instead of looping.
constexpr int kDrawsAtSmallest = 100;

[[noreturn]] void throw_too_short(const Budget& b, const UnitTask& t, std::int64_t tokens) {
  throw RulerError(b.task + ": " + b.limit + " is too short: with the smallest haystack (" +
                   std::to_string(t.min_units) + " " + t.unit + ") the input had at least " +
                   std::to_string(tokens) + " tokens in " + std::to_string(kDrawsAtSmallest) +
                   " draws, and " + std::to_string(b.answer_tokens) +
                   " more are reserved for the answer");
}

// The largest unit count whose draw fits, by binary search over [min_units, max_units] (RULER's
// fit; fitting is monotone in the count up to the randomness of one draw, which the per-sample
// back-off absorbs).
std::int64_t fit_units(const UnitTask& t, Random& rng, const Budget& b) {
  std::int64_t smallest = b.tokens(t.draw(rng, t.min_units));
  for (int draw = 1; !b.fits(smallest); ++draw) {
    if (draw == kDrawsAtSmallest) throw_too_short(b, t, smallest);
    smallest = std::min(smallest, b.tokens(t.draw(rng, t.min_units)));
  }
  std::int64_t lo = t.min_units, hi = std::max(t.max_units, t.min_units);
  if (t.exhausted && b.fits(b.tokens(t.draw(rng, hi)))) throw RulerError(*t.exhausted);
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    if (b.fits(b.tokens(t.draw(rng, mid)))) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// One sample at `units`, backing off by the increment while it overflows (RULER redraws each time).
Draft draw_fitting(const UnitTask& t, Random& rng, const Budget& b, std::int64_t units,
                   std::int64_t& tokens) {
  std::int64_t fewest_at_smallest = std::numeric_limits<std::int64_t>::max();
  for (int at_smallest = 0;;) {
    Draft d = t.draw(rng, units);
    tokens = b.tokens(d);
    if (b.fits(tokens)) {
      d.metadata["haystack"] = t.unit;
      d.metadata["haystack_units"] = units;
      d.metadata["fill_increment"] = t.increment;
      return d;
    }
    if (units == t.min_units) {
      fewest_at_smallest = std::min(fewest_at_smallest, tokens);
      if (++at_smallest == kDrawsAtSmallest) throw_too_short(b, t, fewest_at_smallest);
    }
    units = std::max(t.min_units, units - t.increment);
  }
}

// Tokens per unit of a haystack of `units` units, for the binary search's upper end.
double tokens_per_unit(const Budget& b, const std::string& haystack, std::int64_t units) {
  return std::max(1.0, static_cast<double>((*b.count)(haystack)) / static_cast<double>(units));
}

std::string noise_lines(std::int64_t count) {
  std::string out;
  for (std::int64_t i = 0; i < count; ++i) {
    if (i) out += '\n';
    out += kNoiseBlock;
  }
  return out;
}

// Noise lines with `inserts[i]` placed as its own line before noise line `before[i]`
// (before[i] < count, all distinct).
std::string noise_with_inserts(std::int64_t count, const std::vector<std::string>& inserts,
                               const std::vector<std::size_t>& before) {
  std::vector<std::vector<std::size_t>> at(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < inserts.size(); ++i) at[before[i]].push_back(i);
  std::string out;
  for (std::size_t line = 0; line < at.size(); ++line) {
    for (std::size_t i : at[line]) out += inserts[i] + "\n";
    out += kNoiseBlock;
    if (line + 1 < at.size()) out += '\n';
  }
  return out;
}

// ---- vt: variable tracking ----------------------------------------------------------------------

constexpr int kVtHops = 4;  // one chain of 4 hops: 5 variables
constexpr std::int64_t kVtDemoLength = 500;

struct VtChain {
  std::vector<std::string> names;  // chain order
  std::int64_t value = 0;
  std::int64_t noise = 0;              // noise lines
  std::vector<std::size_t> positions;  // statement j goes before noise line positions[j]
};

// Distinct uppercase names; "VAR" is excluded so a 3-letter name never reads as the keyword.
std::vector<std::string> variable_names(Random& rng, int letters) {
  std::vector<std::string> names;
  while (names.size() < kVtHops + 1) {
    std::string name = random_letters(rng, letters, 'A');
    if (name != "VAR" && std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(std::move(name));
  }
  return names;
}

VtChain draw_vt_chain(Random& rng, int letters, std::int64_t noise,
                      std::optional<std::int64_t> value) {
  VtChain c;
  c.names = variable_names(rng, letters);
  c.value = value ? *value : rng.randint(10000, 99998);  // numpy's randint(10000, 99999)
  c.noise = noise;
  c.positions = sample_indices(rng, static_cast<std::size_t>(noise), c.names.size());
  std::sort(c.positions.begin(), c.positions.end());
  return c;
}

Draft vt_draft(const VtChain& c, std::string_view demo) {
  std::vector<std::string> statements{"VAR " + c.names[0] + " = " + std::to_string(c.value)};
  for (std::size_t j = 1; j < c.names.size(); ++j)
    statements.push_back("VAR " + c.names[j] + " = VAR " + c.names[j - 1] + " ");
  const std::string value = std::to_string(c.value);
  Draft d;
  d.input = std::string(demo) +
            "Memorize and track the chain(s) of variable assignment hidden in the following "
            "text.\n\n" +
            noise_with_inserts(c.noise, statements, c.positions) +
            "\nQuestion: Find all variables that are assigned the value " + value +
            " in the text above.";
  d.answer_prefix =
      " Answer: According to the chain(s) of variable assignment in the text above, " +
      std::to_string(c.names.size()) + " variables are assigned the value " + value +
      ", they are: ";
  d.outputs = c.names;
  d.metadata["query"] = value;
  return d;
}

// A haystack of noise lines (vt, niah): RULER's binary search runs from the fewest lines a sample
// needs up to 3x the lines that would fill the length, tokens per line estimated on `increment`
// lines.
UnitTask noise_task(const Budget& b, std::int64_t increment, std::int64_t min_lines,
                    std::function<Draft(Random&, std::int64_t)> draw) {
  UnitTask t;
  t.unit = "noise lines";
  t.min_units = min_lines;
  t.increment = increment;
  const double per_line = tokens_per_unit(b, noise_lines(increment), increment);
  t.max_units =
      std::max<std::int64_t>(static_cast<std::int64_t>(3.0 * b.length / per_line), 2 * increment);
  t.draw = std::move(draw);
  return t;
}

// The few-shot demo: a vt sample of its own fitted to 500 tokens (3-letter names, value 12345),
// written out with its answer. Each real sample shows it with fresh names and value (RULER
// replaces them in the text; drawing them anew gives the same text without RULER's risk of a
// replacement hitting another word).
struct VtDemo {
  VtChain layout;
  std::string text(Random& rng) const {
    VtChain c = layout;
    c.names = variable_names(rng, 3);
    c.value = rng.randint(10000, 99999);
    const Draft d = vt_draft(c, "");
    return d.input + d.answer_prefix + " " + join(d.outputs, " ") + "\n";
  }
};

VtDemo fit_vt_demo(Random& rng, const Budget& real) {
  Budget b = real;
  b.length = kVtDemoLength;
  b.limit = "the few-shot demo's budget of " + std::to_string(kVtDemoLength) + " tokens";
  VtChain chosen;
  // Each statement goes before a distinct noise line, hence at least 5 lines.
  const UnitTask t = noise_task(b, 5, kVtHops + 1, [&chosen](Random& r, std::int64_t noise) {
    chosen = draw_vt_chain(r, 3, noise, 12345);
    return vt_draft(chosen, "");
  });
  // A small-vocabulary tokenizer may not fit even the smallest demo into 500 tokens, where
  // RULER would never finish; the smallest demo then stands in, and --length has to hold it.
  const std::int64_t smallest = b.tokens(t.draw(rng, t.min_units));
  if (!b.fits(smallest)) {
    log::warn("vt: the smallest few-shot demo takes ", smallest + b.answer_tokens,
              " tokens of this tokenizer, more than RULER's ", kVtDemoLength, "; using it");
    return VtDemo{chosen};
  }
  std::int64_t tokens = 0;
  draw_fitting(t, rng, b, fit_units(t, rng, b), tokens);
  return VtDemo{chosen};
}

// ---- niah: needle in a haystack (noise haystack, word keys, 7-digit number values) --------------

struct NiahShape {
  int keys = 1, values = 1, queries = 1;
  std::string variant;  // RULER's task name
};

NiahShape niah_shape(Task task) {
  switch (task) {
    case Task::niah_single:
      return {1, 1, 1, "niah_single_1"};
    case Task::niah_multi:
      return {4, 1, 1, "niah_multikey_1"};
    case Task::niah_multivalue:
      return {1, 4, 1, "niah_multivalue"};
    case Task::niah_multiquery:
      return {4, 1, 4, "niah_multiquery"};
    default:
      throw RulerError("ruler: not a niah task: " + task_name(task));
  }
}

std::string niah_key(Random& rng) {  // RULER's "words" keys: adjective-noun
  const WordLists& w = word_lists();
  return std::string(rng.choice(w.adjectives)) + "-" + std::string(rng.choice(w.nouns));
}

Draft draw_niah(Random& rng, const NiahShape& shape, std::int64_t noise, std::uint64_t seed) {
  std::vector<std::string> keys, needles;
  std::vector<std::vector<std::string>> values;
  while (keys.size() < static_cast<std::size_t>(shape.keys)) {
    // Distinct keys, so the queried key names exactly its own needles.
    std::string key = niah_key(rng);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    keys.push_back(key);
    values.emplace_back();
    for (int v = 0; v < shape.values; ++v) {
      values.back().push_back(std::to_string(rng.randint(1'000'000, 9'999'999)));
      needles.push_back("One of the special magic numbers for " + key +
                        " is: " + values.back().back() + ".");
    }
  }
  Random(seed).shuffle(needles);  // RULER shuffles with a fresh Random(seed)
  const std::vector<std::size_t> before =
      sample_indices(rng, static_cast<std::size_t>(noise), needles.size());
  const std::string context = noise_with_inserts(noise, needles, before);

  std::vector<std::string> queried;
  Draft d;
  for (std::size_t i : sample_indices(rng, keys.size(), static_cast<std::size_t>(shape.queries))) {
    queried.push_back(keys[i]);
    d.outputs.insert(d.outputs.end(), values[i].begin(), values[i].end());
  }
  std::string query = queried.back();
  if (queried.size() > 1) {
    query = join(std::vector<std::string>(queried.begin(), queried.end() - 1), ", ") + ", and " +
            queried.back();
  }
  // RULER's template, made singular when one value is asked for.
  const bool one = shape.queries * shape.values == 1;
  const std::string thing = one ? "number" : "numbers";
  d.input = (one ? "A special magic number is" : "Some special magic numbers are") +
            std::string(
                " hidden within the following text. Make sure to memorize it. I will quiz "
                "you about the ") +
            thing + " afterwards.\n" + context + "\n" +
            (one ? "What is the special magic " : "What are all the special magic ") + thing +
            " for " + query + " mentioned in the provided text?";
  d.answer_prefix = " The special magic " + thing + " for " + query +
                    " mentioned in the provided text " + (one ? "is" : "are");
  d.metadata["keys"] = keys;
  d.metadata["queried_keys"] = queried;
  return d;
}

// ---- cwe: common words extraction ---------------------------------------------------------------

constexpr int kCommonWords = 10;

struct CweCounts {
  int common_repeats, uncommon_repeats;        // the real list
  int demo_words, demo_common, demo_uncommon;  // the few-shot demo's list
};

CweCounts cwe_counts(std::int64_t length) {
  if (length >= 4096) return {30, 3, 40, 10, 3};
  return {6, 1, 20, 3, 1};
}

// RULER's vocabulary: nouns + adjectives + verbs, sorted, shuffled with a fresh Random(seed).
std::vector<std::string> cwe_vocabulary(std::uint64_t seed) {
  const WordLists& w = word_lists();
  std::vector<std::string> vocab;
  for (const auto* list : {&w.nouns, &w.adjectives, &w.verbs})
    vocab.insert(vocab.end(), list->begin(), list->end());
  std::sort(vocab.begin(), vocab.end());
  vocab.erase(std::unique(vocab.begin(), vocab.end()), vocab.end());
  Random(seed).shuffle(vocab);
  return vocab;
}

// `words` distinct words, the first 10 repeated `common` times and the rest `uncommon` times,
// shuffled with a fresh Random(seed); returns the numbered list and the common words.
std::pair<std::string, std::vector<std::string>> cwe_list(Random& rng,
                                                          const std::vector<std::string>& vocab,
                                                          std::int64_t words, int common,
                                                          int uncommon, std::uint64_t seed) {
  std::vector<std::string> drawn;
  for (std::size_t i : sample_indices(rng, vocab.size(), static_cast<std::size_t>(words)))
    drawn.push_back(vocab[i]);
  std::vector<std::string> list;
  for (int r = 0; r < common; ++r)
    list.insert(list.end(), drawn.begin(), drawn.begin() + kCommonWords);
  for (int r = 0; r < uncommon; ++r)
    list.insert(list.end(), drawn.begin() + kCommonWords, drawn.end());
  Random(seed).shuffle(list);
  return {numbered(list), std::vector<std::string>(drawn.begin(), drawn.begin() + kCommonWords)};
}

std::string cwe_input(const std::string& list) {
  return "Below is a numbered list of words. In these words, some appear more often than others. "
         "Memorize the ones that appear most often.\n" +
         list + "\nQuestion: What are the 10 most common words in the above list?";
}
constexpr std::string_view kCweAnswerPrefix =
    " Answer: The top 10 words that appear most often in the list are:";

Draft draw_cwe(Random& rng, const std::vector<std::string>& vocab, std::int64_t words,
               const CweCounts& c, std::uint64_t seed) {
  const auto [demo_list, demo_answer] =
      cwe_list(rng, vocab, c.demo_words, c.demo_common, c.demo_uncommon, seed);
  const auto [list, answer] =
      cwe_list(rng, vocab, words, c.common_repeats, c.uncommon_repeats, seed);
  Draft d;
  d.input = cwe_input(demo_list) + std::string(kCweAnswerPrefix) + " " + numbered(demo_answer) +
            "\n" + cwe_input(list);
  d.answer_prefix = kCweAnswerPrefix;
  d.outputs = answer;
  d.metadata["common_repeats"] = c.common_repeats;
  d.metadata["uncommon_repeats"] = c.uncommon_repeats;
  return d;
}

// ---- fwe: frequent words extraction -------------------------------------------------------------

constexpr int kFweWordLetters = 6;
constexpr double kZeta2 = std::numbers::pi * std::numbers::pi / 6.0;  // zeta(alpha), alpha = 2

// V distinct random lowercase words, sorted, shuffled with a fresh Random(seed); rank 1 becomes
// the noise token "...".
std::vector<std::string> fwe_vocabulary(Random& rng, std::size_t size, std::uint64_t seed) {
  std::set<std::string> distinct;
  while (distinct.size() < size) distinct.insert(random_letters(rng, kFweWordLetters, 'a'));
  std::vector<std::string> vocab(distinct.begin(), distinct.end());
  Random(seed).shuffle(vocab);
  vocab[0] = "...";
  return vocab;
}

// Zipf counts: the word of rank k appears floor(words * k^-2 / zeta(2)) times.
std::vector<std::int64_t> fwe_counts(std::size_t vocab_size, std::int64_t words) {
  std::vector<std::int64_t> counts(vocab_size);
  for (std::size_t k = 1; k <= vocab_size; ++k)
    counts[k - 1] =
        static_cast<std::int64_t>(static_cast<double>(words) / static_cast<double>(k * k) / kZeta2);
  return counts;
}

Draft fwe_draft(const std::vector<std::string>& vocab, std::int64_t words, std::uint64_t seed) {
  const std::vector<std::int64_t> counts = fwe_counts(vocab.size(), words);
  std::vector<std::string> text;
  for (std::size_t k = 0; k < vocab.size(); ++k)
    text.insert(text.end(), static_cast<std::size_t>(counts[k]), vocab[k]);
  Random(seed).shuffle(text);
  Draft d;
  d.input =
      "Read the following coded text and track the frequency of each coded word. Find the "
      "three most frequently appeared coded words. " +
      join(text, " ") +
      "\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are "
      "the three most frequently appeared words in the above coded text?";
  d.answer_prefix =
      " Answer: According to the coded text above, the three most frequently appeared words are:";
  d.outputs.assign(vocab.begin() + 1, vocab.begin() + 4);
  d.metadata["vocab_size"] = vocab.size();
  d.metadata["alpha"] = 2.0;
  return d;
}

// ---- Driver -------------------------------------------------------------------------------------

std::string rstrip(std::string_view s) {
  while (!s.empty() && std::string_view(" \t\n\r\v\f").find(s.back()) != std::string_view::npos)
    s.remove_suffix(1);
  return std::string(s);
}
std::string strip(std::string_view s) {
  while (!s.empty() && std::string_view(" \t\n\r\v\f").find(s.front()) != std::string_view::npos)
    s.remove_prefix(1);
  return rstrip(s);
}

// The study's mapping of a RULER row to its schema.
Sample to_sample(const GenerateOptions& o, int index, const std::string& variant, Draft d,
                 std::int64_t tokens, int answer_tokens) {
  Sample s;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%04d", index);
  s.task = task_name(o.task);
  s.id = s.task + "_" + std::to_string(o.length) + suffix;
  s.context_length_target = o.length;
  const std::size_t newline = d.input.rfind('\n');  // every template has one before its question
  s.document = rstrip(std::string_view(d.input).substr(0, newline));
  s.question = strip(std::string_view(d.input).substr(newline + 1)) + " " + strip(d.answer_prefix);
  s.answer = d.outputs.front();
  s.answer_aliases = d.outputs;
  s.input_tokens = tokens;
  s.metadata = nlohmann::ordered_json{{"task_variant", variant},
                                      {"ruler_index", index},
                                      {"ruler_length", tokens + answer_tokens},
                                      {"answer_prefix", d.answer_prefix}};
  for (auto& [key, value] : d.metadata.items()) s.metadata[key] = value;
  return s;
}

void check_options(const GenerateOptions& o) {
  if (o.length < kMinLength || o.length > kMaxLength)
    throw RulerError("ruler: --length " + std::to_string(o.length) + " is outside " +
                     std::to_string(kMinLength) + ".." + std::to_string(kMaxLength) + " tokens");
  if (o.samples < 1 || o.samples > kMaxSamples)
    throw RulerError("ruler: --samples " + std::to_string(o.samples) + " is outside 1.." +
                     std::to_string(kMaxSamples));
  if (!o.count_tokens) throw RulerError("ruler: no tokenizer to count tokens with (--tokenizer)");
}

}  // namespace

std::vector<std::string> task_names() { return {kTaskNames.begin(), kTaskNames.end()}; }

Task parse_task(std::string_view name) {
  for (std::size_t i = 0; i < kTaskNames.size(); ++i)
    if (kTaskNames[i] == name) return static_cast<Task>(i);
  std::string valid;
  for (std::string_view n : kTaskNames) valid += (valid.empty() ? "" : ", ") + std::string(n);
  throw RulerError("ruler: unknown --task '" + std::string(name) + "' (expected one of " + valid +
                   ")");
}

std::string task_name(Task task) {
  return std::string(kTaskNames.at(static_cast<std::size_t>(task)));
}

std::vector<std::string> readable_task_names() {
  std::vector<std::string> names = task_names();
  names.emplace_back(helmet::kRagTask);
  names.emplace_back(helmet::kIclTask);
  return names;
}

GenerationBudget generation_budget(Task task) {
  constexpr int kStudy = 16;  // the study's max_new_tokens for every task (spec 3)
  switch (task) {
    case Task::vt:
      return {30, kStudy};
    case Task::cwe:
      return {120, kStudy};
    case Task::fwe:
      return {50, kStudy};
    default:
      return {128, kStudy};
  }
}

Benchmark generate(const GenerateOptions& o) {
  check_options(o);
  const int answer_tokens = generation_budget(o.task).ruler;
  const Budget budget{task_name(o.task), o.length, "--length " + std::to_string(o.length),
                      answer_tokens, &o.count_tokens};
  Random rng(o.seed);  // RULER's global random.seed(seed)

  // Each branch fits the haystack once, then sets how one sample is drawn and what it counts.
  std::string variant = task_name(o.task);
  std::function<Draft(std::int64_t & tokens)> draw_sample;
  std::optional<VtDemo> demo;
  std::vector<std::string> vocab;
  std::optional<CweCounts> counts;
  std::optional<NiahShape> shape;
  UnitTask task;
  std::int64_t units = 0;
  switch (o.task) {
    case Task::fwe: {
      // RULER's fit: start at L'/6 words and add L'/32 until the text reaches L' = L - 50
      // tokens, then step back once.
      const std::int64_t step = (o.length - answer_tokens) / 32;
      const auto vocab_size = static_cast<std::size_t>((o.length - answer_tokens) / 50);
      vocab = fwe_vocabulary(rng, vocab_size, o.seed);
      units = (o.length - answer_tokens) / 6;
      while (budget.fits(budget.tokens(fwe_draft(vocab, units, o.seed)))) units += step;
      units -= step;
      // Each sample draws its own vocabulary, whose words tokenize to a different length than
      // the fit's: RULER only steps back while it overflows; stepping forward too while the next
      // step still fits keeps every sample within one step of the length.
      draw_sample = [&, step, vocab_size](std::int64_t& tokens) {
        const std::vector<std::string> own = fwe_vocabulary(rng, vocab_size, o.seed);
        std::int64_t used = units;
        Draft d = fwe_draft(own, used, o.seed);
        tokens = budget.tokens(d);
        while (!budget.fits(tokens)) {
          used -= step;
          if (used <= 0)
            throw RulerError("fwe: --length " + std::to_string(o.length) +
                             " is too short: the template alone leaves no room for coded words");
          d = fwe_draft(own, used, o.seed);
          tokens = budget.tokens(d);
        }
        for (;;) {
          Draft longer = fwe_draft(own, used + step, o.seed);
          const std::int64_t longer_tokens = budget.tokens(longer);
          if (!budget.fits(longer_tokens)) break;
          used += step;
          d = std::move(longer);
          tokens = longer_tokens;
        }
        // The answer must be ranks 2-4 and nothing else: each strictly more often than the next.
        const std::vector<std::int64_t> c = fwe_counts(own.size(), used);
        if (!(c[1] > c[2] && c[2] > c[3] && c[3] > (c.size() > 4 ? c[4] : 0)))
          throw RulerError("fwe: --length " + std::to_string(o.length) +
                           " is too short to give ranks 2-4 distinct counts");
        d.metadata["haystack"] = "coded words";
        d.metadata["haystack_units"] = used;
        d.metadata["fill_increment"] = step;
        return d;
      };
      break;
    }
    case Task::vt:
      demo = fit_vt_demo(rng, budget);
      task = noise_task(budget, o.length >= 4096 ? 10 : 5, kVtHops + 1,
                        [&](Random& r, std::int64_t noise) {
                          const VtChain chain = draw_vt_chain(r, 5, noise, std::nullopt);
                          return vt_draft(chain, demo->text(r) + "\n");
                        });
      break;
    case Task::cwe: {
      vocab = cwe_vocabulary(o.seed);
      counts = cwe_counts(o.length);
      task.unit = "words";
      task.min_units = kCommonWords;
      task.increment = 10;
      // Tokens per word estimated on a numbered list of (up to) 4096 words of the vocabulary.
      const std::size_t sample = std::min<std::size_t>(4096, vocab.size());
      const double per_word = tokens_per_unit(
          budget, numbered({vocab.begin(), vocab.begin() + static_cast<std::ptrdiff_t>(sample)}),
          static_cast<std::int64_t>(sample));
      const auto wanted =
          std::max<std::int64_t>(static_cast<std::int64_t>(2.0 * o.length / per_word), 20);
      const auto available = static_cast<std::int64_t>(vocab.size());
      task.max_units = std::min(wanted, available);
      if (wanted > available)
        task.exhausted = "cwe: --length " + std::to_string(o.length) + " needs more than the " +
                         std::to_string(available) + " words of the shipped word list";
      task.draw = [&](Random& r, std::int64_t words) {
        return draw_cwe(r, vocab, words, *counts, o.seed);
      };
      break;
    }
    default:
      shape = niah_shape(o.task);
      variant = shape->variant;
      // RULER's steps for the noise haystack: 25 lines, 5 below 4096 tokens; each needle goes
      // before a distinct line.
      task = noise_task(
          budget, o.length >= 4096 ? 25 : 5, shape->keys * shape->values,
          [&](Random& r, std::int64_t noise) { return draw_niah(r, *shape, noise, o.seed); });
      break;
  }
  if (!draw_sample) {
    units = fit_units(task, rng, budget);
    draw_sample = [&](std::int64_t& tokens) {
      return draw_fitting(task, rng, budget, units, tokens);
    };
  }

  Benchmark out{task_name(o.task), o.length, o.seed, o.tokenizer, answer_tokens, {}};
  log::Progress progress("build-benchmark " + out.task + " @" + std::to_string(o.length), o.samples,
                         "samples");
  for (int i = 0; i < o.samples; ++i) {
    std::int64_t tokens = 0;
    Draft d = draw_sample(tokens);
    out.samples.push_back(to_sample(o, i, variant, std::move(d), tokens, answer_tokens));
    progress.advance();
  }
  progress.finish();
  return out;
}

std::string to_json(const Benchmark& b) {
  nlohmann::ordered_json samples = nlohmann::ordered_json::array();
  for (const Sample& s : b.samples) {
    samples.push_back(nlohmann::ordered_json{{"id", s.id},
                                             {"task", s.task},
                                             {"context_length_target", s.context_length_target},
                                             {"document", s.document},
                                             {"question", s.question},
                                             {"answer", s.answer},
                                             {"answer_aliases", s.answer_aliases},
                                             {"input_tokens", s.input_tokens},
                                             {"metadata", s.metadata}});
  }
  const nlohmann::ordered_json doc{
      {"format", "ruler"}, {"task", b.task},           {"length", b.length},
      {"seed", b.seed},    {"tokenizer", b.tokenizer}, {"tokens_to_generate", b.tokens_to_generate},
      {"samples", samples}};
  return doc.dump(2) + "\n";
}

Benchmark parse_benchmark(std::string_view json_text, const std::string& source) {
  using J = nlohmann::ordered_json;  // keeps metadata's key order: a file reads back as written
  J root;
  try {
    root = J::parse(json_text);
  } catch (const J::parse_error& e) {
    throw RulerError(source + ": not valid JSON: " + e.what());
  }
  // Field readers that name where a field is missing or mistyped.
  auto field = [](const J& object, const char* name, const std::string& where,
                  bool (J::*is_type)() const noexcept, const char* expected) -> const J& {
    const auto it = object.find(name);
    if (it == object.end() || !((*it).*is_type)())
      throw RulerError(where + ": field '" + name + "' must be " + expected +
                       (it == object.end() ? ", missing" : ", got " + it->dump()));
    return *it;
  };
  if (!root.is_object()) throw RulerError(source + ": expected a JSON object");
  if (field(root, "format", source, &J::is_string, "a string") != "ruler")
    throw RulerError(source + ": field 'format' must be \"ruler\", got " + root["format"].dump());
  Benchmark b;
  b.task = field(root, "task", source, &J::is_string, "a string").get<std::string>();
  if (const auto readable = readable_task_names();
      std::find(readable.begin(), readable.end(), b.task) == readable.end()) {
    std::string valid;
    for (const std::string& name : readable) valid += (valid.empty() ? "" : ", ") + name;
    throw RulerError(source + ": field 'task' must be one of " + valid + ", got '" + b.task + "'");
  }
  b.length = field(root, "length", source, &J::is_number_integer, "an integer").get<std::int64_t>();
  if (b.length < kMinLength || b.length > kMaxLength)
    throw RulerError(source + ": field 'length' must be from " + std::to_string(kMinLength) +
                     " to " + std::to_string(kMaxLength) + ", got " + std::to_string(b.length));
  b.seed = field(root, "seed", source, &J::is_number_unsigned, "an integer >= 0").get<std::uint64_t>();
  b.tokenizer = field(root, "tokenizer", source, &J::is_string, "a string").get<std::string>();
  b.tokens_to_generate = field(root, "tokens_to_generate", source, &J::is_number_integer,
                               "an integer").get<int>();
  std::set<std::string> ids;
  for (const J& item : field(root, "samples", source, &J::is_array, "an array")) {
    const std::string where = source + ": sample " + std::to_string(b.samples.size());
    if (!item.is_object()) throw RulerError(where + ": expected a JSON object");
    Sample s;
    s.id = field(item, "id", where, &J::is_string, "a string").get<std::string>();
    if (!ids.insert(s.id).second) throw RulerError(where + ": duplicate id '" + s.id + "'");
    s.task = field(item, "task", where, &J::is_string, "a string").get<std::string>();
    s.context_length_target = field(item, "context_length_target", where, &J::is_number_integer,
                                    "an integer").get<std::int64_t>();
    if (s.task != b.task || s.context_length_target != b.length)
      throw RulerError(where + " ('" + s.id + "'): task and context_length_target must be the "
                       "file's (" + b.task + ", " + std::to_string(b.length) + ")");
    for (auto [name, out] : {std::pair{"document", &s.document}, {"question", &s.question},
                             {"answer", &s.answer}})
      *out = field(item, name, where, &J::is_string, "a string").get<std::string>();
    for (const J& alias : field(item, "answer_aliases", where, &J::is_array, "an array")) {
      if (!alias.is_string()) throw RulerError(where + ": field 'answer_aliases' must hold strings");
      s.answer_aliases.push_back(alias.get<std::string>());
    }
    if (s.answer.empty() || s.answer_aliases.empty() || s.answer_aliases.front() != s.answer)
      throw RulerError(where + " ('" + s.id + "'): 'answer' must be non-empty and the first of "
                       "'answer_aliases'");
    s.input_tokens = field(item, "input_tokens", where, &J::is_number_integer, "an integer")
                         .get<std::int64_t>();
    s.metadata = field(item, "metadata", where, &J::is_object, "an object");
    b.samples.push_back(std::move(s));
  }
  return b;
}

Benchmark load_benchmark(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RulerError(path.string() + ": cannot open for reading");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_benchmark(text.str(), path.string());
}

}  // namespace tttmem::ruler
