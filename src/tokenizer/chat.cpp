// The Qwen3 chat template (its behaviour without tools, written out) and the seed protocol's
// raw prompts (SPEC.md S2.7).
#include "tttmem/tokenizer.h"

namespace tttmem::tokenizer {
namespace {

std::string_view strip_newlines_left(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view strip_newlines_right(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

// A user message that is a tool response does not count as the last query.
bool is_tool_response(std::string_view content) {
  return content.starts_with("<tool_response>") && content.ends_with("</tool_response>");
}

}  // namespace

std::string render_qwen3_chat(std::span<const ChatMessage> messages, const ChatOptions& options) {
  std::size_t last_query = messages.empty() ? 0 : messages.size() - 1;
  for (std::size_t i = messages.size(); i-- > 0;) {
    if (messages[i].role == "user" && !is_tool_response(messages[i].content)) {
      last_query = i;
      break;
    }
  }
  std::string out;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "system" || m.role == "user") {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "assistant") {
      // Reasoning written inline as <think>...</think> is separated from the answer.
      std::string_view content = m.content, reasoning;
      if (const std::size_t close = content.find("</think>"); close != std::string_view::npos) {
        std::string_view before = strip_newlines_right(content.substr(0, close));
        if (const std::size_t open = before.rfind("<think>"); open != std::string_view::npos)
          before = before.substr(open + 7);
        reasoning = strip_newlines_left(before);
        content = strip_newlines_left(content.substr(content.rfind("</think>") + 8));
      }
      out += "<|im_start|>assistant\n";
      const bool last = i + 1 == messages.size();
      if (i > last_query && (last || !reasoning.empty())) {
        out += "<think>\n";
        out += strip_newlines_left(strip_newlines_right(reasoning));
        out += "\n</think>\n\n";
        out += strip_newlines_left(content);
      } else {
        out += content;
      }
      out += "<|im_end|>\n";
    } else {
      throw TokenizerError("chat message " + std::to_string(i) + " has role '" + m.role +
                           "'; expected system, user or assistant");
    }
  }
  if (options.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!options.enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

const std::string_view kSeedSystemPrompt =
    "你是一个助手，请用最简短的方式直接回答问题。只输出答案，不要解释。";

std::string seed_prompt_with_conversation(std::string_view conversation, std::string_view question) {
  std::string out(kSeedSystemPrompt);
  out += "\n\n以下是一段对话内容：\n";
  out += conversation;
  out += "\n\n问题：";
  out += question;
  out += "\n回答：";
  return out;
}

std::string seed_prompt_without_conversation(std::string_view question) {
  std::string out(kSeedSystemPrompt);
  out += "\n\n问题：";
  out += question;
  out += "\n回答：";
  return out;
}

}  // namespace tttmem::tokenizer
