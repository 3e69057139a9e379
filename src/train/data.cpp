// train: the JSONL corpus (SPEC.md `train`): chat `messages` through the Qwen3 chat template or
// plain `text`, tokenized, packed or truncated to seq_len, loss on every token or the assistant's.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "tttmem/io.h"
#include "tttmem/train.h"

namespace tttmem::train {

namespace {

constexpr std::string_view kAssistantOpen = "<|im_start|>assistant\n", kTurnEnd = "<|im_end|>";

struct Document {
  std::vector<std::int64_t> ids;
  std::vector<bool> assistant;  // per token: part of an assistant turn's answer (incl. <|im_end|>)
};

void append(Document& doc, const tokenizer::Tokenizer& tok, std::string_view text, bool assistant) {
  for (const tokenizer::TokenId id : tok.encode(text)) {
    doc.ids.push_back(id);
    doc.assistant.push_back(assistant);
  }
}

// The rendered chat is cut at the assistant headers and their <|im_end|>: every cut lies next to
// an added token or after the header's newline, so encoding the pieces apart gives the ids of the
// whole (the pre-tokenizer splits there too).
Document chat_document(const nlohmann::json& messages, const tokenizer::Tokenizer& tok,
                       const std::string& where) {
  if (!messages.is_array() || messages.empty())
    throw std::runtime_error(where + ": `messages` must be a non-empty list");
  std::vector<tokenizer::ChatMessage> chat;
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m.contains("content") ||
        !m["role"].is_string() || !m["content"].is_string())
      throw std::runtime_error(where + ": every message needs string `role` and `content`");
    chat.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  const std::string text = tokenizer::render_qwen3_chat(chat);
  Document doc;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find(kAssistantOpen, pos);
    if (open == std::string::npos) break;
    const std::size_t start = open + kAssistantOpen.size();
    const std::size_t close = text.find(kTurnEnd, start);
    const std::size_t end = close == std::string::npos ? text.size() : close + kTurnEnd.size();
    append(doc, tok, std::string_view(text).substr(pos, start - pos), false);
    append(doc, tok, std::string_view(text).substr(start, end - start), true);
    pos = end;
  }
  append(doc, tok, std::string_view(text).substr(pos), false);
  return doc;
}

// LongAlpaca's rows as the Gemma3 adapter study formats them: "### Instruction:\n{instruction}
// \n\n### Input:\n{input}\n\n### Response:\n{output}", the Input block left out when it is
// empty, a missing field read as "". Returns the text before the response, and the response.
std::pair<std::string, std::string> alpaca_text(const nlohmann::json& record,
                                                const std::string& where) {
  auto field = [&](const char* name) {
    if (!record.contains(name) || record[name].is_null()) return std::string();
    if (!record[name].is_string())
      throw std::runtime_error(where + ": `" + name + "` must be a string");
    return record[name].get<std::string>();
  };
  const std::string input = field("input");
  std::string prompt = "### Instruction:\n" + field("instruction") + "\n\n";
  if (!input.empty()) prompt += "### Input:\n" + input + "\n\n";
  return {prompt + "### Response:\n", field("output")};
}

}  // namespace

std::int64_t end_of_text(const tokenizer::Tokenizer& tok) {
  if (const auto id = tok.token_to_id("<|endoftext|>")) return *id;
  if (const auto id = tok.eos_id()) return *id;
  throw std::runtime_error("train: the tokenizer has neither <|endoftext|> nor an eos token");
}

Packing parse_packing(const std::string& name) {
  if (name == "pack") return Packing::pack;
  if (name == "truncate") return Packing::truncate;
  throw std::invalid_argument("--packing: unknown value '" + name + "' (expected pack, truncate)");
}

LossOn parse_loss_on(const std::string& name) {
  if (name == "all") return LossOn::all;
  if (name == "assistant") return LossOn::assistant;
  throw std::invalid_argument("--loss-on: unknown value '" + name + "' (expected all, assistant)");
}

std::vector<Row> load_corpus(const std::filesystem::path& file, const tokenizer::Tokenizer& tok,
                             const CorpusOptions& options) {
  if (options.seq_len < 2) throw std::invalid_argument("--seq-len must be >= 2");
  const std::string content = io::read_file(file);
  const std::int64_t eot = end_of_text(tok);
  std::vector<Row> rows;
  Row stream;  // pack: the concatenation so far
  auto emit = [&](Row row) {
    if (static_cast<std::int64_t>(row.ids.size()) > options.seq_len) {
      row.ids.resize(static_cast<std::size_t>(options.seq_len));
      row.labels.resize(static_cast<std::size_t>(options.seq_len));
    }
    rows.push_back(std::move(row));
  };
  std::istringstream lines(content);
  std::string line;
  std::int64_t documents = 0;
  for (std::int64_t number = 1; std::getline(lines, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++documents;
    const std::string where = file.string() + ":" + std::to_string(number);
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(where + ": not JSON (" + e.what() + ")");
    }
    Document doc;
    if (record.is_object() && record.contains("messages")) {
      doc = chat_document(record["messages"], tok, where);
    } else if (record.is_object() && record.contains("text") && record["text"].is_string()) {
      append(doc, tok, record["text"].get<std::string>(), options.loss_on == LossOn::all);
    } else if (record.is_object() && (record.contains("instruction") || record.contains("output"))) {
      const auto [prompt, response] = alpaca_text(record, where);
      if (options.loss_on == LossOn::all) {
        append(doc, tok, prompt + response, true);  // one encoding of the whole, as the study
      } else {
        append(doc, tok, prompt, false);
        append(doc, tok, response, true);
      }
    } else {
      throw std::runtime_error(where + ": expected an object with `messages`, a string `text`, "
                               "or `instruction`/`input`/`output` strings");
    }
    if (options.end_documents && !record.contains("messages")) {
      doc.ids.push_back(eot);  // VeOmni's pretraining rows end each document with EOS
      doc.assistant.push_back(!record.contains("text"));  // the end of an instruction's response
    }
    Row row;
    if (options.bos) {  // a start is never predicted
      row.ids.push_back(*options.bos);
      row.labels.push_back(-100);
    }
    for (std::size_t i = 0; i < doc.ids.size(); ++i) {
      row.ids.push_back(doc.ids[i]);
      row.labels.push_back(options.loss_on == LossOn::all || doc.assistant[i] ? doc.ids[i] : -100);
    }
    if (options.packing == Packing::truncate) {
      emit(std::move(row));
      continue;
    }
    stream.ids.insert(stream.ids.end(), row.ids.begin(), row.ids.end());
    stream.labels.insert(stream.labels.end(), row.labels.begin(), row.labels.end());
  }
  const auto n = static_cast<std::size_t>(options.seq_len);
  for (std::size_t start = 0; start + n <= stream.ids.size(); start += n)
    emit({{stream.ids.begin() + start, stream.ids.begin() + start + n},
          {stream.labels.begin() + start, stream.labels.begin() + start + n}});
  if (documents == 0)
    throw std::runtime_error(file.string() + ": no tokens: every line is blank (expected JSONL, "
                             "one {\"messages\": [...]} or {\"text\": \"...\"} per line)");
  if (rows.empty())
    throw std::runtime_error(file.string() + ": no training row of " +
                             std::to_string(options.seq_len) + " tokens (" +
                             std::to_string(stream.ids.size()) + " tokens when packed)");
  // The loss predicts labels 1.. of each row; without one the first step's loss is 0 / 0, which
  // the training loop could only report as divergence.
  const bool learnable = std::any_of(rows.begin(), rows.end(), [](const Row& row) {
    return row.labels.size() > 1 && std::any_of(row.labels.begin() + 1, row.labels.end(),
                                                [](std::int64_t label) { return label != -100; });
  });
  if (!learnable)
    throw std::runtime_error(
        file.string() + ": no tokens to train on: " + std::to_string(documents) +
        " documents give " + std::to_string(rows.size()) +
        " rows and none has a labelled token after its first (expected " +
        (options.loss_on == LossOn::assistant
             ? "`messages` with assistant turns: --loss-on assistant trains on nothing else)"
             : "a `text` or `messages` with tokens)"));
  return rows;
}

Batch make_batch(const std::vector<Row>& rows, std::int64_t first, std::int64_t count,
                 std::int64_t pad_id) {
  const auto total = static_cast<std::int64_t>(rows.size());
  std::int64_t longest = 0;
  for (std::int64_t b = 0; b < count; ++b)
    longest = std::max<std::int64_t>(longest, rows[(first + b) % total].ids.size());
  Batch batch{at::full({count, longest}, pad_id, at::kLong), at::zeros({count, longest}, at::kLong),
              at::full({count, longest}, -100, at::kLong)};
  auto ids = batch.ids.accessor<std::int64_t, 2>();
  auto mask = batch.attention_mask.accessor<std::int64_t, 2>();
  auto labels = batch.labels.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < count; ++b) {
    const Row& row = rows[(first + b) % total];
    for (std::size_t i = 0; i < row.ids.size(); ++i) {
      ids[b][i] = row.ids[i];
      mask[b][i] = 1;
      labels[b][i] = row.labels[i];
    }
  }
  return batch;
}

namespace {

template <typename T>
void shuffle(std::vector<T>& items, std::mt19937_64& rng) {
  for (std::size_t i = items.size(); i > 1; --i)
    std::swap(items[i - 1], items[rng() % i]);  // modulo bias below 2^-40 for any real corpus
}

}  // namespace

void shuffle_training_order(TrainingData& data, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  shuffle(data.rows, rng);
  shuffle(data.memory, rng);
}

}  // namespace tttmem::train
