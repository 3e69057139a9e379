// tokenizer: byte-level BPE (a .tiktoken ranks file plus added tokens, or a Hugging Face
// tokenizer.json), sentencepiece (tokenizer.model), a UTF-8-safe streaming decoder, the Qwen3
// chat template and the seed protocol's raw prompts. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tttmem::tokenizer {

namespace detail {
class AddedTokenSplitter;
}

using TokenId = std::int32_t;

// Thrown for every bad input: a missing or corrupt vocabulary file (the message names the file
// and line or field), invalid UTF-8 in a text to encode (names the byte offset), an unknown id.
struct TokenizerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The pre-tokenizer regex of Qwen2/2.5/3 (and of qwen.tiktoken's reference tokenizer).
inline constexpr std::string_view kQwenPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Every token id a loader accepts (ranks, vocab entries, added tokens) is below this: 16x the
// largest vocabulary in use, and a bound on the id -> bytes table a hostile file could inflate.
inline constexpr TokenId kMaxTokenId = 1 << 22;

// Qwen3's special ids.
inline constexpr TokenId kQwenEndOfText = 151643;  // <|endoftext|>
inline constexpr TokenId kQwenImEnd = 151645;      // <|im_end|>, the chat turn's eos

// A token matched whole in the text before pre-tokenization (<|im_start|>, <think>, ...).
struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool special = false;  // control token (Hugging Face's flag; <think> and <tool_call> are not)
};

struct LoadOptions {
  // .tiktoken only: the added-tokens JSON ({"added_tokens": [{id, content, special}]} or
  // Hugging Face's {"content": id}). Empty: the one *added_tokens.json next to the ranks file,
  // if there is exactly one.
  std::filesystem::path added_tokens;
  // .tiktoken only: the pre-tokenizer regex (PCRE2 syntax).
  std::string pattern = std::string(kQwenPattern);
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // path: a .tiktoken file, a tokenizer.json, a tokenizer.model (sentencepiece), or a model dir
  // holding one of them (tried in that order: tokenizer.model, tokenizer.json, *.tiktoken).
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& path,
                                         const LoadOptions& options = {});

  // allow_special: added tokens in the text become their ids (tiktoken's allowed_special="all",
  // Hugging Face's default); false: they are encoded as ordinary text (encode_ordinary).
  // Throws TokenizerError naming the byte offset of invalid UTF-8.
  std::vector<TokenId> encode(std::string_view text, bool allow_special = true) const;
  // threads <= 0: one per hardware thread. Results in input order.
  std::vector<std::vector<TokenId>> encode_batch(std::span<const std::string> texts,
                                                 bool allow_special = true, int threads = 0) const;

  // The raw bytes of the ids (may end or contain a partial UTF-8 sequence).
  virtual std::string decode_bytes(std::span<const TokenId> ids) const = 0;
  // Text: decode_bytes with every invalid or incomplete UTF-8 sequence replaced by U+FFFD (the
  // same replacement as Python's bytes.decode(errors="replace"), which tiktoken uses).
  std::string decode(std::span<const TokenId> ids) const;

  // Raw bytes of one token; throws TokenizerError for an id outside the vocabulary.
  virtual std::string id_to_token(TokenId id) const = 0;
  // Id of a token given by its raw bytes (an added token's content also works).
  virtual std::optional<TokenId> token_to_id(std::string_view token) const = 0;
  virtual std::size_t vocab_size() const = 0;  // ids are 0 .. vocab_size()-1
  virtual const std::vector<AddedToken>& added_tokens() const = 0;
  // End of a chat turn / of generation: <|im_end|> when present, else the model's eos.
  virtual std::optional<TokenId> eos_id() const = 0;
  virtual std::string_view kind() const = 0;  // "tiktoken", "huggingface", "sentencepiece"

 protected:
  // The backend's encoding of text holding no added token (valid UTF-8), appended to `out`.
  virtual void encode_ordinary(std::string_view text, std::vector<TokenId>& out) const = 0;
  // Finds the backend's added tokens in text; encode() splits them out before encode_ordinary.
  virtual const detail::AddedTokenSplitter& added_token_splitter() const = 0;
};

// Turns ids into text one token at a time during generation, never emitting half a character:
// bytes of an incomplete UTF-8 sequence wait for the next token; invalid bytes become U+FFFD.
// It re-decodes the ids seen so far (cheap at generation lengths) so backends whose text is not a
// per-token concatenation (sentencepiece's leading space) stream correctly too.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  std::string push(TokenId id);  // the text that became complete with this token
  std::string finish();          // flushes a trailing incomplete sequence as U+FFFD

 private:
  const Tokenizer* tokenizer_;
  std::vector<TokenId> ids_;
  std::size_t consumed_ = 0;  // bytes of decode_bytes(ids_) already turned into text
};

// UTF-8 helpers shared by the backends and the CLI.
// Byte offset of the first invalid UTF-8 sequence, or nullopt when the text is valid.
std::optional<std::size_t> find_invalid_utf8(std::string_view text);
// Python's bytes.decode("utf-8", errors="replace").
std::string utf8_replace_invalid(std::string_view bytes);
// Unicode NFC (ICU); the text must be valid UTF-8.
std::string nfc(std::string_view text);

// ---- Qwen3 chat template and the seed protocol's raw prompts ----
struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};
struct ChatOptions {
  bool add_generation_prompt = false;
  // false: the generation prompt gets the empty think block "<think>\n\n</think>\n\n".
  bool enable_thinking = true;
};
// The text Qwen3's chat template renders (without tools): ChatML turns; an assistant turn after
// the last user turn keeps (or, when it is the last message, gets an empty) think block, earlier
// assistant turns lose theirs.
std::string render_qwen3_chat(std::span<const ChatMessage> messages, const ChatOptions& options = {});

// Seed protocol (SPEC.md S2.7): raw strings, no chat template.
extern const std::string_view kSeedSystemPrompt;
std::string seed_prompt_with_conversation(std::string_view conversation, std::string_view question);
std::string seed_prompt_without_conversation(std::string_view question);

}  // namespace tttmem::tokenizer
