// HELMET's RAG and ICL tasks from local files (include/tttmem/helmet.h): passages and demos as
// HELMET formats them, the token budget with the Qwen3 tokenizer, demos never the test row, label
// balance and numeric relabelling, strict errors, the RULER file round trip, and
// `build-benchmark --format helmet` end to end. The fixtures are small files written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "test_support.h"
#include "bench_test_util.h"
#include "tttmem/bench.h"
#include "tttmem/helmet.h"
#include "tttmem/io.h"
#include "tttmem/ruler.h"
#include "tttmem/tokenizer.h"

namespace {

using namespace tttmem;
using nlohmann::json;

using test::qwen_dir;

std::int64_t count_tokens(std::string_view text) {
  return static_cast<std::int64_t>(test::qwen_tokens(text));
}

std::string jsonl(const std::vector<json>& rows) {
  std::string out;
  for (const json& row : rows) out += row.dump() + "\n";
  return out;
}

// A passage of about 40 tokens that names its row and position.
json passage(int row, int index, bool gold) {
  json p{{"title", "Title " + std::to_string(row) + "-" + std::to_string(index)},
         {"text", "Passage " + std::to_string(row) + "-" + std::to_string(index) +
                      " describes the river valley, its old mills, the market town and the "
                      "families who farmed the slopes above it for many generations."}};
  if (gold)
    p["text"] = p["text"].get<std::string>() + " The answer is Answer" + std::to_string(row) + ".";
  p["has_answer"] = gold;
  return p;
}

// Test rows 0..3 with 8 passages each; the gold passage of row r is passage 2 * r + 1, except
// row 3, whose passages carry no has_answer mark.
std::vector<json> rag_test_rows() {
  std::vector<json> rows;
  for (int r = 0; r < 4; ++r) {
    json ctxs = json::array();
    for (int i = 0; i < 8; ++i) {
      json p = passage(r, i, i == 2 * r + 1);
      if (r == 3) p.erase("has_answer");
      ctxs.push_back(p);
    }
    rows.push_back({{"id", "q" + std::to_string(r)},
                    {"question", "What is the answer of question " + std::to_string(r) + "?"},
                    {"answers", {"Answer" + std::to_string(r), "answer " + std::to_string(r)}},
                    {"ctxs", ctxs}});
  }
  return rows;
}

// Demo rows 0..3 with 3 passages each; demo 1 asks test question 1 (same id), demo 2 test
// question 2's text under another id: both must never be a demo of that question.
std::vector<json> rag_demo_rows() {
  std::vector<json> rows;
  for (int d = 0; d < 4; ++d) {
    json ctxs = json::array();
    for (int i = 0; i < 3; ++i) ctxs.push_back(passage(100 + d, i, i == 0));
    rows.push_back({{"id", d == 1 ? "q1" : "demo" + std::to_string(d)},
                    {"question", d == 2 ? "What is the answer of question 2?"
                                        : "Which demo is number " + std::to_string(d) + "?"},
                    {"answers", {"Demo" + std::to_string(d)}},
                    {"ctxs", ctxs}});
  }
  return rows;
}

const std::vector<std::string> kLabels{"sports", "business", "science"};

// 12 train rows per label (the science pool one row short, so balance is tested with uneven
// pools) and 6 test rows, test row 0's text also a train row's.
std::vector<json> icl_train_rows() {
  std::vector<json> rows;
  for (int i = 0; i < 12; ++i)
    for (std::size_t l = 0; l < kLabels.size(); ++l)
      if (!(l == 2 && i == 11))
        rows.push_back({{"text", "A headline about " + kLabels[l] + " number " + std::to_string(i) +
                                     " from the weekly paper"},
                        {"label", kLabels[l]}});
  return rows;
}

std::vector<json> icl_test_rows() {
  std::vector<json> rows{{{"text", "A headline about business number 4 from the weekly paper"},
                          {"label", "business"}}};
  for (int i = 0; i < 5; ++i)
    rows.push_back({{"text", "Today's story on " + kLabels[i % 3] + " item " + std::to_string(i)},
                    {"label", kLabels[i % 3]}});
  return rows;
}

helmet::BuildOptions options(std::int64_t length, int samples, std::uint64_t seed = 42) {
  helmet::BuildOptions o;
  o.length = length;
  o.samples = samples;
  o.seed = seed;
  o.count_tokens = [](std::string_view text) {
    return static_cast<std::size_t>(count_tokens(text));
  };
  o.tokenizer = qwen_dir();
  o.data_source = "test.jsonl";
  o.demos_source = "demos.jsonl";
  return o;
}

ruler::Benchmark rag(std::int64_t length, int samples = 4, std::uint64_t seed = 42) {
  return helmet::build_rag(helmet::parse_rag_jsonl(jsonl(rag_test_rows()), "test.jsonl"),
                           helmet::parse_rag_jsonl(jsonl(rag_demo_rows()), "demos.jsonl"),
                           options(length, samples, seed));
}

ruler::Benchmark icl(std::int64_t length, int samples = 6, std::uint64_t seed = 42) {
  return helmet::build_icl(helmet::parse_icl_jsonl(jsonl(icl_test_rows()), "test.jsonl"),
                           helmet::parse_icl_jsonl(jsonl(icl_train_rows()), "demos.jsonl"),
                           options(length, samples, seed));
}

std::string passage_text(const json& p) {
  return "Document (Title: " + p["title"].get<std::string>() + "): " + p["text"].get<std::string>();
}

const std::string kRagInstruction =
    "Use the given documents to write a concise and short answer to the question. Write your "
    "answer in the following format:\nAnswer: [answer]\n\n";

// Splits "a\n\nb\n\nc" into its items.
std::vector<std::string> items(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t at; (at = text.find("\n\n", start)) != std::string::npos; start = at + 2)
    out.push_back(text.substr(start, at - start));
  out.push_back(text.substr(start));
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "\n\n" : "") + parts[i];
  return out;
}

// The test row's passages HELMET would show when `others` non-gold ones are kept: the gold ones
// and the first `others` of the rest, in file order (row 3, unmarked, has no gold).
std::vector<std::string> kept_passages(const json& row, std::size_t others) {
  std::vector<std::string> out;
  std::size_t taken = 0;
  for (const json& p : row["ctxs"]) {
    if (p.value("has_answer", false)) {
      out.push_back(passage_text(p));
    } else if (taken < others) {
      ++taken;
      out.push_back(passage_text(p));
    }
  }
  return out;
}

std::size_t gold_count(const json& row) {
  std::size_t n = 0;
  for (const json& p : row["ctxs"]) n += p.value("has_answer", false);
  return n;
}

// ---- RAG ----------------------------------------------------------------------------------------

// The document is the instruction, two demos (each its own passages, question and first answer),
// then the kept passages in file order: the gold one and the others from the first while they
// fit; one more passage would overflow the budget.
void check_rag(const ruler::Benchmark& b, std::int64_t length) {
  const std::vector<json> rows = rag_test_rows(), demo_rows = rag_demo_rows();
  EXPECT_EQ(b.task, "helmet_rag");
  EXPECT_EQ(b.length, length);
  EXPECT_EQ(b.tokens_to_generate, 20);
  ASSERT_EQ(b.samples.size(), 4u);
  std::set<int> lines;
  for (std::size_t k = 0; k < b.samples.size(); ++k) {
    const ruler::Sample& s = b.samples[k];
    const int line = s.metadata["line"].get<int>();
    lines.insert(line);
    const json& row = rows.at(static_cast<std::size_t>(line - 1));
    SCOPED_TRACE(s.id + " (line " + std::to_string(line) + ")");
    EXPECT_EQ(s.id, "helmet_rag_" + std::to_string(length) + "_000" + std::to_string(k));
    EXPECT_EQ(s.task, "helmet_rag");
    EXPECT_EQ(s.question, row["question"]);
    EXPECT_EQ(s.answer, row["answers"][0]);
    EXPECT_EQ(s.answer_aliases, row["answers"].get<std::vector<std::string>>());
    ASSERT_EQ(s.document.rfind(kRagInstruction, 0), 0u);

    // Demos: each its 3 passages, then its question and first answer; never the test question.
    const std::vector<std::string> parts = items(s.document.substr(kRagInstruction.size()));
    const auto demo_lines = s.metadata["demo_lines"].get<std::vector<int>>();
    ASSERT_EQ(demo_lines.size(), 2u);
    EXPECT_NE(demo_lines[0], demo_lines[1]);
    std::size_t at = 0;
    for (int demo_line : demo_lines) {
      const json& demo = demo_rows.at(static_cast<std::size_t>(demo_line - 1));
      EXPECT_NE(demo["id"], row["id"]);
      EXPECT_NE(demo["question"], row["question"]);
      for (const json& p : demo["ctxs"]) EXPECT_EQ(parts.at(at++), passage_text(p));
      EXPECT_EQ(parts.at(at++), "Question: " + demo["question"].get<std::string>() +
                                    "\nAnswer: " + demo["answers"][0].get<std::string>());
    }

    // Passages: the gold one and a prefix of the others, in file order, formatted as HELMET's.
    const std::size_t gold = gold_count(row);
    const std::size_t kept = s.metadata["passages_kept"].get<std::size_t>();
    ASSERT_GE(kept, std::max<std::size_t>(gold, 1));
    const std::vector<std::string> passages = kept_passages(row, kept - gold);
    EXPECT_EQ(
        std::vector<std::string>(parts.begin() + static_cast<std::ptrdiff_t>(at), parts.end()),
        passages);
    EXPECT_EQ(s.metadata["passages_total"], 8);
    if (line == 4) {
      EXPECT_TRUE(s.metadata["gold_passages"].is_null());
    } else {
      EXPECT_EQ(s.metadata["gold_passages"], 1);
      EXPECT_NE(s.document.find("The answer is " + s.answer + "."), std::string::npos);
    }

    // The budget, measured with the real tokenizer, and one more passage would not fit.
    const std::string tail = "\n\nQuestion: " + s.question + "\nAnswer:";
    const std::int64_t tokens = count_tokens(s.document + tail);
    EXPECT_EQ(tokens, s.input_tokens);
    EXPECT_LE(tokens + 20, length);
    if (kept < 8) {
      const std::string head = s.document.substr(0, s.document.size() - join(passages).size());
      EXPECT_GT(count_tokens(head + join(kept_passages(row, kept - gold + 1)) + tail) + 20, length);
    }
  }
  EXPECT_EQ(lines.size(), 4u);
}

TEST(HelmetRag, PassagesInFileOrderWithGoldAndDemosFitTheBudget) {
  const ruler::Benchmark b = rag(512);
  check_rag(b, 512);
  // At 512 tokens the instruction and demos leave room for only some of the 8 passages.
  for (const ruler::Sample& s : b.samples)
    EXPECT_LT(s.metadata["passages_kept"].get<int>(), 8) << s.id;
}

TEST(HelmetRag, EveryPassageKeptWhenAllFit) {
  const ruler::Benchmark b = rag(4096);
  check_rag(b, 4096);
  for (const ruler::Sample& s : b.samples) EXPECT_EQ(s.metadata["passages_kept"], 8) << s.id;
}

// Demo row 1 shares test row 1's id, demo row 2 test row 2's question: over many seeds neither is
// ever that row's demo, and every other demo row is drawn for it at some seed.
TEST(HelmetRag, DemosAreNeverTheTestQuestion) {
  std::map<int, std::set<int>> demos_of_line;
  for (std::uint64_t seed = 0; seed < 20; ++seed)
    for (const ruler::Sample& s : rag(4096, 4, seed).samples)
      for (int demo : s.metadata["demo_lines"].get<std::vector<int>>())
        demos_of_line[s.metadata["line"].get<int>()].insert(demo);
  EXPECT_EQ(demos_of_line[2], (std::set<int>{1, 3, 4}));
  EXPECT_EQ(demos_of_line[3], (std::set<int>{1, 2, 4}));
  EXPECT_EQ(demos_of_line[1], (std::set<int>{1, 2, 3, 4}));
}

TEST(HelmetRag, SameSeedSameFileOtherSeedOtherFile) {
  const std::string a = ruler::to_json(rag(512, 3, 42));
  EXPECT_EQ(ruler::to_json(rag(512, 3, 42)), a);
  EXPECT_NE(ruler::to_json(rag(512, 3, 43)), a);
}

// ---- ICL ----------------------------------------------------------------------------------------

struct IclItem {
  std::string text, id;
};

// The document's demos: "{text}\nlabel: {id}" items after the instruction paragraph.
std::vector<IclItem> icl_items(const ruler::Sample& s) {
  const std::string instruction =
      "Use the provided mapping from the text to label to assign a label to the text. Only output "
      "\"label: {label}\" and nothing else. \n\n";
  EXPECT_EQ(s.document.rfind(instruction, 0), 0u);
  std::vector<IclItem> out;
  for (const std::string& item : items(s.document.substr(instruction.size()))) {
    const std::size_t at = item.rfind("\nlabel: ");
    EXPECT_NE(at, std::string::npos) << item;
    out.push_back({item.substr(0, at), item.substr(at + 8)});
  }
  return out;
}

// Balanced demos (every label within one of the others), one shuffled id per label used by the
// demos and the answer alike, never the test text, filled to the budget.
void check_icl(const ruler::Benchmark& b, std::int64_t length) {
  std::map<std::string, std::string> label_of_text;
  for (const json& row : icl_train_rows()) label_of_text[row["text"]] = row["label"];
  const std::vector<json> test_rows = icl_test_rows();
  EXPECT_EQ(b.task, "helmet_icl");
  EXPECT_EQ(b.tokens_to_generate, 20);
  ASSERT_EQ(b.samples.size(), 6u);
  std::set<std::string> id_orders;
  std::int64_t longest_demo = 0;
  for (const auto& [text, label] : label_of_text)
    longest_demo = std::max(longest_demo, count_tokens("\n\n" + text + "\nlabel: 0"));
  for (const ruler::Sample& s : b.samples) {
    SCOPED_TRACE(s.id);
    const json& row = test_rows.at(s.metadata["line"].get<std::size_t>() - 1);
    EXPECT_EQ(s.question, row["text"]);
    const auto& ids = s.metadata["label_ids"];
    ASSERT_EQ(ids.size(), 3u);
    std::set<int> distinct_ids;
    for (const std::string& label : kLabels) distinct_ids.insert(ids[label].get<int>());
    EXPECT_EQ(distinct_ids, (std::set<int>{0, 1, 2}));
    id_orders.insert(ids.dump());
    EXPECT_EQ(s.answer, std::to_string(ids[row["label"].get<std::string>()].get<int>()));
    EXPECT_EQ(s.answer_aliases, std::vector<std::string>{s.answer});

    const std::vector<IclItem> demos = icl_items(s);
    EXPECT_EQ(demos.size(), s.metadata["demos_kept"].get<std::size_t>());
    std::map<std::string, int> per_label;
    for (const IclItem& demo : demos) {
      ASSERT_TRUE(label_of_text.count(demo.text)) << demo.text;
      const std::string label = label_of_text[demo.text];
      EXPECT_EQ(demo.id, std::to_string(ids[label].get<int>())) << demo.text;
      EXPECT_NE(demo.text, row["text"]);
      ++per_label[label];
    }
    const auto [fewest, most] = std::minmax_element(
        per_label.begin(), per_label.end(), [](auto& x, auto& y) { return x.second < y.second; });
    EXPECT_LE(most->second - fewest->second, 1);

    const std::string tail = "\n\n" + s.question + "\nlabel:";
    const std::int64_t tokens = count_tokens(s.document + tail);
    EXPECT_EQ(tokens, s.input_tokens);
    EXPECT_LE(tokens + 20, length);
    if (!s.metadata["pool_exhausted"].get<bool>()) {  // less room left than a demo takes
      EXPECT_LE(length - (tokens + 20), longest_demo);
    }
  }
  EXPECT_GT(id_orders.size(), 1u) << "the label ids are drawn per sample";
}

TEST(HelmetIcl, BalancedRelabelledDemosFitTheBudget) {
  const ruler::Benchmark b = icl(400);
  check_icl(b, 400);
  for (const ruler::Sample& s : b.samples) {
    EXPECT_FALSE(s.metadata["pool_exhausted"].get<bool>()) << s.id;
    EXPECT_GE(s.metadata["demos_kept"].get<int>(), 6) << s.id;
  }
}

// At a length the pool cannot fill, every balanced round is used: 11 rounds of 3 labels (the
// science pool has 11 rows; the business pool keeps 11 where the test text is one of its 12).
TEST(HelmetIcl, ShortPoolUsesEveryBalancedRound) {
  const ruler::Benchmark b = icl(8192);
  check_icl(b, 8192);
  for (const ruler::Sample& s : b.samples) {
    EXPECT_TRUE(s.metadata["pool_exhausted"].get<bool>()) << s.id;
    EXPECT_EQ(s.metadata["demos_kept"], 33) << s.id;
  }
}

TEST(HelmetIcl, SameSeedSameFileOtherSeedOtherFile) {
  const std::string a = ruler::to_json(icl(400, 4, 42));
  EXPECT_EQ(ruler::to_json(icl(400, 4, 42)), a);
  EXPECT_NE(ruler::to_json(icl(400, 4, 43)), a);
}

TEST(HelmetIcl, IntegerLabelsSortNumerically) {
  std::vector<json> train, test;
  for (int i = 0; i < 4; ++i)
    for (int label : {10, 9, -2})
      train.push_back({{"text", "row " + std::to_string(i) + " of " + std::to_string(label)},
                       {"label", label}});
  test.push_back({{"text", "which one"}, {"label", 10}});
  const ruler::Benchmark b =
      helmet::build_icl(helmet::parse_icl_jsonl(jsonl(test), "t.jsonl"),
                        helmet::parse_icl_jsonl(jsonl(train), "p.jsonl"), options(1024, 1));
  const auto& ids = b.samples[0].metadata["label_ids"];
  EXPECT_EQ(std::vector<std::string>(
                {ids.begin().key(), std::next(ids.begin()).key(), std::next(ids.begin(), 2).key()}),
            (std::vector<std::string>{"-2", "9", "10"}));
  EXPECT_EQ(b.samples[0].answer, std::to_string(ids["10"].get<int>()));
}

// ---- Errors -------------------------------------------------------------------------------------

std::string rag_error(const std::vector<json>& test, const std::vector<json>& demos,
                      std::int64_t length = 4096, int samples = 1) {
  try {
    helmet::build_rag(helmet::parse_rag_jsonl(jsonl(test), "test.jsonl"),
                      helmet::parse_rag_jsonl(jsonl(demos), "demos.jsonl"),
                      options(length, samples));
  } catch (const helmet::HelmetError& e) {
    return e.what();
  }
  return "no error";
}

std::string icl_error(const std::vector<json>& test, const std::vector<json>& train,
                      std::int64_t length = 4096, int samples = 1) {
  try {
    helmet::build_icl(helmet::parse_icl_jsonl(jsonl(test), "test.jsonl"),
                      helmet::parse_icl_jsonl(jsonl(train), "demos.jsonl"),
                      options(length, samples));
  } catch (const helmet::HelmetError& e) {
    return e.what();
  }
  return "no error";
}

TEST(HelmetErrors, RagRowsNameFileLineAndField) {
  const std::vector<json> good = rag_test_rows(), demos = rag_demo_rows();
  auto damaged = [&](const std::function<void(json&)>& damage) {
    std::vector<json> rows = good;
    damage(rows[2]);  // line 3
    return rows;
  };
  EXPECT_EQ(rag_error(damaged([](json& r) { r.erase("question"); }), demos),
            "test.jsonl:3: field 'question' must be a string, missing");
  EXPECT_EQ(rag_error(damaged([](json& r) { r["answers"] = "Answer2"; }), demos),
            "test.jsonl:3: field 'answers' must be an array of strings, got \"Answer2\"");
  EXPECT_EQ(rag_error(damaged([](json& r) { r["answers"] = json::array(); }), demos),
            "test.jsonl:3: field 'answers' must hold at least one answer, got []");
  EXPECT_EQ(rag_error(damaged([](json& r) { r["answers"][1] = 7; }), demos),
            "test.jsonl:3: field 'answers[1]' must be a non-empty string, got 7");
  EXPECT_EQ(rag_error(damaged([](json& r) { r.erase("ctxs"); }), demos),
            "test.jsonl:3: field 'ctxs' must be an array of passages, missing");
  EXPECT_EQ(rag_error(damaged([](json& r) { r["ctxs"] = json::array(); }), demos),
            "test.jsonl:3: field 'ctxs' must hold at least one passage, got []");
  EXPECT_EQ(rag_error(damaged([](json& r) { r["ctxs"][4].erase("title"); }), demos),
            "test.jsonl:3: field 'ctxs[4].title' must be a string, missing");
  EXPECT_EQ(rag_error(damaged([](json& r) { r["ctxs"][0]["has_answer"] = "yes"; }), demos),
            "test.jsonl:3: field 'ctxs[0].has_answer' must be a boolean, got \"yes\"");
  EXPECT_EQ(rag_error(damaged([](json& r) { r["id"] = 1.5; }), demos),
            "test.jsonl:3: field 'id' must be a string or an integer, got 1.5");
  std::vector<json> bad_demos = demos;
  bad_demos[1].erase("answers");
  EXPECT_EQ(rag_error(good, bad_demos),
            "demos.jsonl:2: field 'answers' must be an array of strings, missing");
  try {
    helmet::parse_rag_jsonl(jsonl(good) + "{not json\n", "test.jsonl");
    FAIL() << "no error";
  } catch (const helmet::HelmetError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("test.jsonl:5: not valid JSON", 0), 0u) << e.what();
  }
  // Only the test question itself among the demos: no two other demo questions.
  EXPECT_EQ(
      rag_error({good[1]}, {demos[1], demos[3]}),
      "demos.jsonl: fewer than 2 demo questions other than the test question on test.jsonl:1");
  EXPECT_EQ(rag_error(good, demos, 4096, 5),
            "helmet: --samples 5 must be 1..4, the rows of test.jsonl");
  // 256 tokens cannot hold the instruction, two demos and a gold passage.
  const std::string short_length = rag_error(good, demos, 256);
  EXPECT_EQ(short_length.rfind("test.jsonl:", 0), 0u) << short_length;
  EXPECT_NE(short_length.find("--length 256 is too short: the instruction, the demos"),
            std::string::npos)
      << short_length;
}

TEST(HelmetErrors, IclRowsNameFileLineAndField) {
  const std::vector<json> test = icl_test_rows(), train = icl_train_rows();
  std::vector<json> rows = test;
  rows[1].erase("label");
  EXPECT_EQ(icl_error(rows, train),
            "test.jsonl:2: field 'label' must be a non-empty string or an integer, missing");
  rows = test;
  rows[3]["text"] = 4;
  EXPECT_EQ(icl_error(rows, train), "test.jsonl:4: field 'text' must be a string, got 4");
  rows = train;
  rows[5]["label"] = 2;
  EXPECT_EQ(icl_error(test, rows),
            "demos.jsonl:6: field 'label' is an integer but a string on line 1");
  rows = test;
  rows[2]["label"] = "weather";
  EXPECT_EQ(icl_error(rows, train),
            "test.jsonl:3: field 'label' is 'weather', which does not occur in the train pool "
            "demos.jsonl");
  std::vector<json> one_label;
  for (const json& row : train)
    if (row["label"] == "sports") one_label.push_back(row);
  EXPECT_EQ(icl_error(test, one_label),
            "demos.jsonl: field 'label' takes 1 distinct value in the train pool; classification "
            "needs at least 2");
  rows = test;
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word" + std::to_string(i) + " ";
  rows[0]["text"] = long_text;
  const std::string short_length = icl_error(rows, train, 256, 6);
  EXPECT_NE(short_length.find(
                "test.jsonl:1: helmet: --length 256 is too short: the instruction, one demo "
                "and the test text take"),
            std::string::npos)
      << short_length;
}

// ---- The RULER file -----------------------------------------------------------------------------

// The written file reads back as written, and as the runner's samples (one probe each).
TEST(HelmetFile, RoundTripsThroughTheRulerAndBenchmarkReaders) {
  for (const ruler::Benchmark& b : {rag(512), icl(400)}) {
    const std::string text = ruler::to_json(b);
    const ruler::Benchmark back = ruler::parse_benchmark(text, "h.json");
    EXPECT_EQ(ruler::to_json(back), text);
    const bench::Benchmark runner = bench::parse_benchmark(text, "h.json");
    EXPECT_EQ(runner.version, "ruler");
    ASSERT_EQ(runner.samples.size(), b.samples.size());
    for (std::size_t i = 0; i < b.samples.size(); ++i) {
      const bench::Sample& s = runner.samples[i];
      EXPECT_EQ(s.sample_id, b.samples[i].id);
      EXPECT_EQ(s.task, b.task);
      EXPECT_EQ(s.conversation, b.samples[i].document);
      ASSERT_EQ(s.probes.size(), 1u);
      EXPECT_EQ(s.probes[0].question, b.samples[i].question);
      EXPECT_EQ(s.probes[0].gold_answer, b.samples[i].answer);
      EXPECT_EQ(s.probes[0].aliases, b.samples[i].answer_aliases);
    }
  }
}

// ---- CLI ----------------------------------------------------------------------------------------

TEST(HelmetCli, BuildsTheLibrarysFileFromLocalFiles) {
  test::ScratchDir dir;
  const auto data = dir / "nq-dev.jsonl", demos = dir / "nq-train.jsonl", out = dir / "rag.json";
  io::atomic_write_file(data, jsonl(rag_test_rows()));
  io::atomic_write_file(demos, jsonl(rag_demo_rows()));
  const std::string common = "build-benchmark --format helmet --task rag --data '" + data.string() +
                             "' --demos '" + demos.string() +
                             "' --length 512 --samples 4 --tokenizer '" + qwen_dir() + "' --out '" +
                             out.string() + "'";
  auto r = test::run_tttmem(common);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  helmet::BuildOptions o = options(512, 4);
  o.data_source = data.string();
  o.demos_source = demos.string();
  const std::string written = io::read_file(out);
  EXPECT_EQ(written, ruler::to_json(helmet::build_rag(helmet::load_rag_jsonl(data),
                                                      helmet::load_rag_jsonl(demos), o)));
  EXPECT_EQ(bench::load_benchmark(out).version, "ruler");
  r = test::run_tttmem("--seed 7 " + common);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(io::read_file(out), written);
  EXPECT_EQ(json::parse(io::read_file(out))["seed"], 7);

  const auto pool = dir / "train.jsonl", test_rows = dir / "test.jsonl", icl_out = dir / "icl.json";
  io::atomic_write_file(pool, jsonl(icl_train_rows()));
  io::atomic_write_file(test_rows, jsonl(icl_test_rows()));
  r = test::run_tttmem("build-benchmark --format helmet --task icl --data '" + test_rows.string() +
                       "' --demos '" + pool.string() + "' --length 400 --samples 6 --tokenizer '" +
                       qwen_dir() + "' --out '" + icl_out.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const ruler::Benchmark b = ruler::load_benchmark(icl_out);
  EXPECT_EQ(b.task, "helmet_icl");
  EXPECT_EQ(b.samples.size(), 6u);
}

TEST(HelmetCli, BadFlagCombinationsNameTheFlag) {
  test::ScratchDir dir;
  const auto data = dir / "d.jsonl", out = dir / "x.json";
  io::atomic_write_file(data, jsonl(rag_test_rows()));
  const std::string tok = " --tokenizer '" + qwen_dir() + "'";
  const std::string to = " --out '" + out.string() + "'";
  const std::string files = " --data '" + data.string() + "' --demos '" + data.string() + "'";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--format helmet --task rag --data '" + data.string() + "' --length 1024" + tok + to,
       "--format helmet needs --demos"},
      {"--format helmet --task vt --length 1024" + files + tok + to,
       "--task vt is not a task of --format helmet (rag or icl)"},
      {"--format ruler --task rag --length 1024" + tok + to,
       "--task rag is not a task of --format ruler"},
      {"--format ruler --task vt --length 1024" + files + tok + to,
       "--data, --demos: need --format helmet"},
      {"--format helmet --task icl --length 1024 --split train" + files + tok + to,
       "--split: not used by --format helmet"},
      {"--data '" + data.string() + "'" + to, "--data: need --format ruler or helmet"},
      {"--format helmet --task icl --length 1024" + files + tok + to,
       "field 'text' must be a string, missing"},
  };
  test::expect_build_benchmark_refuses(cases, out);
}

}  // namespace
