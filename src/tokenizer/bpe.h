// Byte-level BPE shared by the .tiktoken and tokenizer.json loaders (internal to src/tokenizer).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tttmem/tokenizer.h"

namespace tttmem::tokenizer::detail {

// Open-addressing map from a token's bytes to its id: one probe usually, no allocation per
// lookup (the merge loop looks up substrings of the piece in place).
class BytesMap {
 public:
  void insert(std::string_view bytes, TokenId id);  // the caller guarantees unique keys
  TokenId find(std::string_view bytes) const;       // -1 when absent
  std::size_t size() const { return count_; }

 private:
  struct Slot {
    std::uint32_t offset = 0, length = 0;
    std::uint32_t tag = 0;  // high hash bits, to skip most byte compares
    TokenId id = -1;
  };
  void grow();
  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t count_ = 0;
};

// (left id, right id) -> (merge priority, merged id): Hugging Face merges.
class PairMap {
 public:
  struct Merge {
    std::uint32_t priority;
    TokenId merged;
  };
  void insert(TokenId left, TokenId right, Merge merge);  // keeps the first insert of a pair
  const Merge* find(TokenId left, TokenId right) const;
  std::size_t size() const { return count_; }

 private:
  struct Slot {
    std::uint64_t key = kEmpty;
    Merge merge{};
  };
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
  void grow();
  std::vector<Slot> slots_;
  std::size_t count_ = 0;
};

// What a loader produces; BpeTokenizer only reads it.
struct BpeModel {
  std::string kind;                 // "tiktoken" | "huggingface"
  std::string source;               // the file, for error messages
  std::vector<std::string> tokens;  // raw bytes by id (added tokens included); "" = no token
  BytesMap mergeable;               // bytes -> id of the BPE vocabulary (no added tokens)
  // tiktoken: any adjacent pair whose concatenation is a token merges, lowest id first.
  // Hugging Face: only listed merges, lowest merge index first.
  bool rank_merges = true;
  PairMap merges;
  bool whole_piece_first = true;  // a piece that is one token is emitted as it (tiktoken;
                                  // Hugging Face's model.ignore_merges)
  bool nfc = false;               // normalizer (Hugging Face)
  std::string pattern;            // pre-tokenizer regex, PCRE2 syntax
  std::vector<AddedToken> added;
};

std::unique_ptr<Tokenizer> make_bpe_tokenizer(BpeModel model);
BpeModel load_tiktoken_model(const std::filesystem::path& ranks, const LoadOptions& options);
BpeModel load_hf_json_model(const std::filesystem::path& path);
std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& path);

// Splits `text` at the added tokens it contains (leftmost, longest first) and calls
// on_text(segment) for the text between them and on_added(id) for each one.
class AddedTokenSplitter {
 public:
  explicit AddedTokenSplitter(const std::vector<AddedToken>& added);
  template <class OnText, class OnAdded>
  void split(std::string_view text, OnText&& on_text, OnAdded&& on_added) const {
    std::size_t begin = 0, pos = 0;
    while (pos < text.size()) {
      const auto first = static_cast<unsigned char>(text[pos]);
      if (first_byte_[first]) {
        if (const AddedToken* hit = match_at(text, pos)) {
          if (pos > begin) on_text(text.substr(begin, pos - begin));
          on_added(hit->id);
          pos += hit->content.size();
          begin = pos;
          continue;
        }
      }
      ++pos;
    }
    if (begin < text.size()) on_text(text.substr(begin));
  }

 private:
  const AddedToken* match_at(std::string_view text, std::size_t pos) const;
  std::vector<AddedToken> by_length_;  // longest first
  std::array<bool, 256> first_byte_{};
};

// Reads a whole file; throws TokenizerError naming it.
std::string read_file(const std::filesystem::path& path, std::string_view what);

}  // namespace tttmem::tokenizer::detail
