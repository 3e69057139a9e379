// libFuzzer target: Qwen3 encode (configs/tokenizers/qwen3: qwen.tiktoken + added tokens) on
// arbitrary bytes. The first
// byte's low bit is allow_special, the rest is the text. Invalid UTF-8 must end in
// TokenizerError and valid text must not; accepted text must decode back to itself exactly,
// also through the streaming decoder (abort() otherwise, which the fuzzer reports).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string_view>

#include "../../src/tokenizer/bpe.h"

namespace {

const tttmem::tokenizer::Tokenizer& qwen() {
  static const auto tok = [] {
    const auto data = std::filesystem::path(TTTMEM_SOURCE_DIR) / "configs/tokenizers/qwen3";
    tttmem::tokenizer::LoadOptions options;
    options.added_tokens = data / "qwen3_added_tokens.json";
    return tttmem::tokenizer::detail::make_bpe_tokenizer(
        tttmem::tokenizer::detail::load_tiktoken_model(data / "qwen.tiktoken", options));
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tttmem::tokenizer;
  if (size < 1) return 0;
  const bool allow_special = data[0] & 1;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool valid = !find_invalid_utf8(text).has_value();
  std::vector<TokenId> ids;
  try {
    ids = qwen().encode(text, allow_special);
  } catch (const TokenizerError&) {
    if (valid) std::abort();
    return 0;
  }
  if (!valid) std::abort();
  if (qwen().decode_bytes(ids) != text) std::abort();
  StreamDecoder stream(qwen());
  std::string streamed;
  for (TokenId id : ids) {
    const std::string chunk = stream.push(id);
    if (find_invalid_utf8(chunk).has_value()) std::abort();
    streamed += chunk;
  }
  if (streamed + stream.finish() != text) std::abort();
  return 0;
}
