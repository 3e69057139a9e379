// protocol: the condition table, the protocol options, sample selection, prompts and ingested
// texts (SPEC.md S2.6, S2.7, S3.1, S3.2).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include "tttmem/protocol.h"

namespace tttmem::protocol {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

// SPEC.md S3.2 and `run`: what each kind is under the seed protocol, and which of the fix flags
// change it. Everything that names or describes a condition reads this table.
constexpr ConditionKind kKinds[] = {
    {.name = kContext,
     .description = "conversation in context",
     .in_all = true,
     .conversation_in_prompt = true,
     .affected_by_distractor_in_a_c = true,
     .affected_by_trained_ttt_in_a_c = true},
    {.name = kMemory,
     .description = "TTT memory",
     .in_all = true,
     .ingest = Ingest::conversation,
     .params = Params::trained,
     .affected_by_freeze_while_answering = true},
    {.name = kNoMemory,
     .description = "no memory",
     .in_all = true,
     .affected_by_distractor_in_a_c = true,
     .affected_by_trained_ttt_in_a_c = true},
    {.name = kDistracted,
     .description = "TTT memory after a distractor",
     .in_all = true,
     .ingest = Ingest::conversation_and_distractor,
     .params = Params::trained,
     .level3_only = true,
     .affected_by_freeze_while_answering = true},
    {.name = kNoise,
     .description = "noise on the TTT layers' down_proj",
     .sweep = Sweep::noise_scales},
    {.name = kScaled,
     .description = "trained TTT parameters times alpha",
     .sweep = Sweep::alphas,
     .ingest = Ingest::conversation,
     .params = Params::trained,
     .affected_by_freeze_while_answering = true},
    {.name = kTttPaper,
     .description = "conversation and probe in context, TTT active",
     .conversation_in_prompt = true,
     .params = Params::trained,
     .affected_by_paper_decode_base_down = true},
    // B's memory and prompt, but one stream that forgets by its attention window instead of an
    // explicit KV drop (DECISIONS.md `## run`).
    {.name = kScroll,
     .description = "B's probe in the same stream after filler has pushed the conversation out "
                    "of the attention window; needs --attention-window",
     .ingest = Ingest::conversation,
     .params = Params::trained,
     .filler_until_out_of_window = true,
     .continue_stream = true,
     .affected_by_freeze_while_answering = true},
    {.name = kInContext,
     .description = "the document (or conversation) in context, TTT off: the Gemma3 adapter "
                    "study's icl",
     .conversation_in_prompt = true},
    {.name = kStrict,
     .description = "the document ingested alone (its partial chunk flushed), answered from the "
                    "frozen fast weights: the Gemma3 adapter study's ttt_strict",
     .ingest = Ingest::conversation,
     .params = Params::trained,
     .flush_and_freeze = true},
};

// "a, b or c"
std::string or_list(const std::vector<ConditionValue>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i)
    out += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + values[i].name;
  return out;
}

Condition condition_of(const ConditionKind& kind, const ProtocolOptions& protocol) {
  Condition c;
  c.name = c.kind = std::string(kind.name);
  c.conversation_in_prompt = kind.conversation_in_prompt;
  c.distractor_in_prompt = kind.affected_by_distractor_in_a_c && protocol.distractor_in_a_c;
  c.ingest = kind.ingest;
  c.params = kind.affected_by_trained_ttt_in_a_c && protocol.trained_ttt_in_a_c ? Params::trained
                                                                               : kind.params;
  c.frozen = kind.flush_and_freeze ||
             (kind.affected_by_freeze_while_answering && protocol.freeze_while_answering);
  c.flush_partial_chunk = kind.flush_and_freeze || protocol.flush_partial_chunk;
  c.decode_with_base_weights =
      kind.affected_by_paper_decode_base_down && protocol.paper_decode_base_down;
  c.level3_only = kind.level3_only;
  c.filler_until_out_of_window = kind.filler_until_out_of_window;
  c.continue_stream = kind.continue_stream;
  return c;
}

}  // namespace

ProtocolOptions ProtocolOptions::preset(const std::string& protocol) {
  ProtocolOptions options;
  if (protocol == "seed") return options;
  if (protocol != "fixed") fail("--protocol: expected seed or fixed, got '" + protocol + "'");
  options.flush_partial_chunk = options.freeze_while_answering = options.distractor_in_a_c =
      options.trained_ttt_in_a_c = true;
  return options;
}

nlohmann::ordered_json ProtocolOptions::to_json() const {
  return {{"flush_partial_chunk", flush_partial_chunk},
          {"freeze_while_answering", freeze_while_answering},
          {"distractor_in_a_c", distractor_in_a_c},
          {"trained_ttt_in_a_c", trained_ttt_in_a_c},
          {"chat_template", chat_template},
          {"stop_at_newline", stop_at_newline},
          {"ingest_bos", ingest_bos},
          {"paper_decode_base_down", paper_decode_base_down},
          {"max_new_tokens", max_new_tokens}};
}

std::span<const ConditionKind> condition_kinds() { return kKinds; }

const ConditionKind* find_kind(std::string_view name) {
  for (const ConditionKind& kind : kKinds)
    if (kind.name == name) return &kind;
  return nullptr;
}

std::vector<ConditionValue> condition_values() {
  std::vector<ConditionValue> out;
  ConditionValue all{std::string(kAll), ""};
  for (const ConditionKind& kind : kKinds) {
    if (!kind.in_all) continue;
    out.push_back({std::string(kind.name), std::string(kind.description)});
    all.description += (all.description.empty() ? "" : ", ") + std::string(kind.name);
  }
  out.push_back(all);
  for (const ConditionKind& kind : kKinds)
    if (!kind.in_all) out.push_back({std::string(kind.name), std::string(kind.description)});
  return out;
}

std::string scale_suffix(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest repr
  std::string text(buffer, result.ptr);
  if (text.find_first_of(".en") == std::string::npos) text += ".0";  // Python: 1.0, not 1
  for (char& c : text)
    if (c == '.') c = 'p';
  return text;
}

Condition make_condition(std::string_view kind, const ProtocolOptions& protocol) {
  const ConditionKind* row = find_kind(kind);
  if (!row) fail("unknown condition kind '" + std::string(kind) + "'");
  return condition_of(*row, protocol);
}

std::vector<Condition> make_conditions(const std::string& name, const ProtocolOptions& protocol,
                                       const std::vector<double>& noise_scales,
                                       const std::vector<double>& alphas) {
  std::vector<Condition> out;
  if (name == kAll) {
    for (const ConditionKind& kind : kKinds)
      if (kind.in_all) out.push_back(condition_of(kind, protocol));
    return out;
  }
  const ConditionKind* kind = find_kind(name);
  if (!kind) fail("--condition: expected " + or_list(condition_values()) + ", got '" + name + "'");
  const Condition base = condition_of(*kind, protocol);
  switch (kind->sweep) {
    case Sweep::none: return {base};
    case Sweep::noise_scales:
      if (noise_scales.empty()) fail("--noise-scales: " + name + " needs at least one scale");
      for (double s : noise_scales) {
        if (!(s >= 0) || !std::isfinite(s))
          fail("--noise-scales: " + std::to_string(s) + " is not a finite scale >= 0");
        Condition c = base;
        c.name = name + "_" + scale_suffix(s);
        c.noise_scale = s;
        out.push_back(c);
      }
      return out;
    case Sweep::alphas:
      if (alphas.empty()) fail("--alphas: " + name + " needs at least one alpha");
      for (double a : alphas) {
        if (!std::isfinite(a)) fail("--alphas: " + std::to_string(a) + " is not a finite factor");
        Condition c = base;
        c.name = name + "_" + scale_suffix(a);
        c.alpha = a;
        out.push_back(c);
      }
      return out;
  }
  return out;
}

std::vector<const bench::Sample*> select_samples(const bench::Benchmark& benchmark,
                                                 const std::vector<std::string>& ids,
                                                 std::optional<std::int64_t> limit,
                                                 bool level3_only) {
  std::map<std::string, bool> wanted;
  for (const std::string& id : ids) wanted[id] = false;
  std::map<int, std::int64_t> taken;
  std::vector<const bench::Sample*> out;
  for (const bench::Sample& sample : benchmark.samples) {
    auto it = wanted.find(sample.sample_id);
    if (it != wanted.end()) it->second = true;
    if (!wanted.empty() && it == wanted.end()) continue;
    if (level3_only && sample.level != 3) continue;
    if (limit && taken[sample.level] >= *limit) continue;
    ++taken[sample.level];
    out.push_back(&sample);
  }
  // The seed groups by level, ascending, keeping file order within a level (SPEC.md S3.1).
  std::stable_sort(out.begin(), out.end(),
                   [](const bench::Sample* a, const bench::Sample* b) { return a->level < b->level; });
  for (const auto& [id, found] : wanted)
    if (!found) fail("--samples: no sample '" + id + "' in the benchmark");
  return out;
}

std::string probe_prompt(const Condition& condition, const ProtocolOptions& protocol,
                         const bench::Sample& sample, const bench::Probe& probe) {
  if (!sample.task.empty()) {  // the Gemma3 adapter study's two prompts
    if (condition.conversation_in_prompt)
      return "You are given a document and a question. Answer with just the value, no "
             "explanation.\n\nDocument:\n" + sample.conversation + "\n\nQuestion: " +
             probe.question + "\nAnswer:";
    return "Answer the following question with just the value, no explanation.\n\nQuestion: " +
           probe.question + "\nAnswer:";
  }
  std::optional<std::string> context;
  if (condition.conversation_in_prompt) context = sample.conversation;
  if (condition.distractor_in_prompt && sample.distractor)
    context = context ? *context + "\n\n" + *sample.distractor : *sample.distractor;
  if (!protocol.chat_template)
    return context ? tokenizer::seed_prompt_with_conversation(*context, probe.question)
                   : tokenizer::seed_prompt_without_conversation(probe.question);
  // The same words as the raw prompt, split into a system and a user turn; the model's own
  // turn follows the generation prompt with an empty think block (thinking off).
  std::string user = context ? "以下是一段对话内容：\n" + *context + "\n\n" : "";
  user += "问题：" + probe.question;
  const std::vector<tokenizer::ChatMessage> messages{
      {"system", std::string(tokenizer::kSeedSystemPrompt)}, {"user", user}};
  return tokenizer::render_qwen3_chat(messages, {.add_generation_prompt = true,
                                                 .enable_thinking = false});
}

std::optional<std::string> ingest_text(const Condition& condition, const bench::Sample& sample) {
  switch (condition.ingest) {
    case Ingest::nothing: return std::nullopt;
    case Ingest::conversation: return sample.conversation;
    case Ingest::conversation_and_distractor:
      if (!sample.distractor)
        fail("condition " + condition.name + ": sample " + sample.sample_id +
             " has no distractor (level 3 only)");
      return sample.conversation + "\n\n" + *sample.distractor;
  }
  return std::nullopt;
}

std::size_t ingest_limit(Ingest ingest, const bench::Sample& sample) {
  if (!sample.task.empty()) return std::numeric_limits<std::size_t>::max();
  return ingest == Ingest::conversation_and_distractor ? 8192 : 4096;
}

std::vector<std::int64_t> scroll_filler(const bench::Sample& sample,
                                        const tokenizer::Tokenizer& tokenizer,
                                        std::int64_t window) {
  if (window < 1) fail("scroll: the attention window must be at least 1 token");
  std::string source;
  if (sample.distractor) {
    source = *sample.distractor;
  } else {
    for (std::string_view passage : bench::distractor_seed_passages())
      source += (source.empty() ? "" : "\n\n") + std::string(passage);
  }
  const auto unit = tokenizer.encode("\n\n" + source);
  if (unit.empty()) fail("scroll: the filler text of sample " + sample.sample_id + " has no tokens");
  std::vector<std::int64_t> filler;
  for (std::size_t i = 0; filler.size() + 1 < static_cast<std::size_t>(window); ++i)
    filler.push_back(unit[i % unit.size()]);
  return filler;
}

std::string python_strip(const std::string& text) {
  // str.isspace(): bidirectional class WS/B/S or category Zs (Python 3.11).
  auto space_at = [&](std::size_t i, std::size_t& width) -> bool {
    const auto c = static_cast<unsigned char>(text[i]);
    width = 1;
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return true;
    if (c < 0x80) return false;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0 && i + 1 < text.size()) {
      width = 2;
      cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3fu);
    } else if ((c & 0xf0) == 0xe0 && i + 2 < text.size()) {
      width = 3;
      cp = ((c & 0x0fu) << 12) | ((static_cast<unsigned char>(text[i + 1]) & 0x3fu) << 6) |
           (static_cast<unsigned char>(text[i + 2]) & 0x3fu);
    } else {
      return false;
    }
    return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
  };
  std::size_t begin = 0, width = 0;
  while (begin < text.size() && space_at(begin, width)) begin += width;
  // From the back: step to the start of each code point, test it, stop at the first non-space.
  std::size_t end = text.size();
  while (end > begin) {
    std::size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xc0) == 0x80) --start;
    if (!space_at(start, width) || start + width != end) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

}  // namespace tttmem::protocol
