// Tokenizer::load (file kind from the path) and the backend-independent members.
#include <algorithm>
#include <atomic>
#include <thread>

#include "bpe.h"

namespace tttmem::tokenizer {

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& path,
                                           const LoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    // Where both exist (Gemma) the sentencepiece model is the source and tokenizer.json a
    // conversion whose normalizer the byte-level reader does not take.
    for (const char* name : {"tokenizer.model", "tokenizer.json"})
      if (std::filesystem::is_regular_file(path / name, ec)) return load(path / name, options);
    std::vector<std::filesystem::path> ranks;
    for (const auto& entry : std::filesystem::directory_iterator(path, ec))
      if (entry.path().extension() == ".tiktoken") ranks.push_back(entry.path());
    if (ranks.size() == 1) return load(ranks.front(), options);
    throw TokenizerError("tokenizer directory '" + path.string() + "' holds " +
                         (ranks.empty() ? "no tokenizer.model, tokenizer.json or *.tiktoken"
                                        : "several *.tiktoken files and no tokenizer.json"));
  }
  if (!std::filesystem::exists(path, ec))
    throw TokenizerError("tokenizer file '" + path.string() + "' does not exist");
  const std::string ext = path.extension().string();
  if (ext == ".tiktoken")
    return detail::make_bpe_tokenizer(detail::load_tiktoken_model(path, options));
  if (ext == ".json") return detail::make_bpe_tokenizer(detail::load_hf_json_model(path));
  if (ext == ".model") return detail::load_sentencepiece(path);
  throw TokenizerError("tokenizer file '" + path.string() +
                       "': expected a .tiktoken, tokenizer.json or tokenizer.model file");
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool allow_special) const {
  if (auto bad = find_invalid_utf8(text))
    throw TokenizerError("text to encode is not valid UTF-8 at byte offset " +
                         std::to_string(*bad));
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  if (allow_special)
    added_token_splitter().split(
        text, [&](std::string_view segment) { encode_ordinary(segment, out); },
        [&](TokenId id) { out.push_back(id); });
  else
    encode_ordinary(text, out);
  return out;
}

std::vector<std::vector<TokenId>> Tokenizer::encode_batch(std::span<const std::string> texts,
                                                          bool allow_special, int threads) const {
  std::vector<std::vector<TokenId>> out(texts.size());
  const std::size_t workers = std::min<std::size_t>(
      texts.size(), threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency()));
  if (workers <= 1) {
    for (std::size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], allow_special);
    return out;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(workers);
  std::vector<std::thread> pool;
  for (std::size_t w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      try {
        for (std::size_t i; (i = next.fetch_add(1)) < texts.size();)
          out[i] = encode(texts[i], allow_special);
      } catch (...) {
        errors[w] = std::current_exception();
        next = texts.size();
      }
    });
  }
  for (std::thread& t : pool) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  return utf8_replace_invalid(decode_bytes(ids));
}

}  // namespace tttmem::tokenizer
