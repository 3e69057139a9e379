// The byte-level BPE encoder: added-token split, optional NFC, PCRE2 pre-tokenizer, and a
// rank-ordered merge loop on each piece.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "bpe.h"

#include <pcre2.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <queue>
#include <unordered_map>

#include "tttmem/io.h"

namespace tttmem::tokenizer::detail {
namespace {

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  const __uint128_t m = static_cast<__uint128_t>(a ^ 0x2d358dccaa6c78a5ull) *
                        (b ^ 0x8bb84b93962eacc9ull);
  return static_cast<std::uint64_t>(m) ^ static_cast<std::uint64_t>(m >> 64);
}

inline std::uint64_t load_u64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint64_t load_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Tokens are short (most under 16 bytes): two overlapping word loads cover them.
inline std::uint64_t hash_bytes(std::string_view s) {
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t h = 0x9e3779b97f4a7c15ull * (n + 1);
  while (n > 16) {
    h = mix(h ^ load_u64(p), load_u64(p + 8));
    p += 16;
    n -= 16;
  }
  std::uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = load_u64(p);
    b = load_u64(p + n - 8);
  } else if (n >= 4) {
    a = load_u32(p);
    b = load_u32(p + n - 4);
  } else if (n > 0) {
    a = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
        (std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8) |
        static_cast<unsigned char>(p[n - 1]);
  }
  return mix(h ^ a, b ^ n);
}

inline std::uint64_t hash_pair(std::uint64_t key) { return mix(key, 0x94d049bb133111ebull); }

}  // namespace

// ---- BytesMap ----
void BytesMap::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<std::size_t>(1024, old.size() * 2), Slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    const std::uint64_t h = hash_bytes({arena_.data() + s.offset, s.length});
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      if (slots_[i].id < 0) {
        slots_[i] = s;
        break;
      }
    }
  }
}

void BytesMap::insert(std::string_view bytes, TokenId id) {
  if ((count_ + 1) * 3 > slots_.size()) grow();  // load factor under 1/3: short probe runs
  const std::uint64_t h = hash_bytes(bytes);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    if (slots_[i].id < 0) {
      slots_[i] = Slot{static_cast<std::uint32_t>(arena_.size()),
                       static_cast<std::uint32_t>(bytes.size()),
                       static_cast<std::uint32_t>(h >> 32), id};
      arena_.append(bytes);
      ++count_;
      return;
    }
  }
}

TokenId BytesMap::find(std::string_view bytes) const {
  if (slots_.empty()) return -1;
  const std::uint64_t h = hash_bytes(bytes);
  const auto tag = static_cast<std::uint32_t>(h >> 32);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id < 0) return -1;
    if (s.tag == tag && s.length == bytes.size() &&
        std::memcmp(arena_.data() + s.offset, bytes.data(), bytes.size()) == 0)
      return s.id;
  }
}

// ---- PairMap ----
void PairMap::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<std::size_t>(1024, old.size() * 2), Slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    for (std::size_t i = hash_pair(s.key) & mask;; i = (i + 1) & mask) {
      if (slots_[i].key == kEmpty) {
        slots_[i] = s;
        break;
      }
    }
  }
}

void PairMap::insert(TokenId left, TokenId right, Merge merge) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  const std::uint64_t key = (std::uint64_t(std::uint32_t(left)) << 32) | std::uint32_t(right);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash_pair(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i].key == key) return;
    if (slots_[i].key == kEmpty) {
      slots_[i] = Slot{key, merge};
      ++count_;
      return;
    }
  }
}

const PairMap::Merge* PairMap::find(TokenId left, TokenId right) const {
  if (slots_.empty()) return nullptr;
  const std::uint64_t key = (std::uint64_t(std::uint32_t(left)) << 32) | std::uint32_t(right);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash_pair(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i].merge;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

// ---- AddedTokenSplitter ----
AddedTokenSplitter::AddedTokenSplitter(const std::vector<AddedToken>& added) : by_length_(added) {
  std::stable_sort(by_length_.begin(), by_length_.end(),
                   [](const AddedToken& a, const AddedToken& b) {
                     return a.content.size() > b.content.size();
                   });
  for (const AddedToken& t : by_length_)
    if (!t.content.empty()) first_byte_[static_cast<unsigned char>(t.content[0])] = true;
}

const AddedToken* AddedTokenSplitter::match_at(std::string_view text, std::size_t pos) const {
  const std::string_view rest = text.substr(pos);
  for (const AddedToken& t : by_length_)
    if (!t.content.empty() && rest.starts_with(t.content)) return &t;
  return nullptr;
}

std::string read_file(const std::filesystem::path& path, std::string_view what) {
  try {
    return io::read_file(path);
  } catch (const io::IoError& e) {
    throw TokenizerError(std::string(what) + ": " + e.what());
  }
}

namespace {

// The members of Unicode's White_Space property, which \s means in tiktoken (Rust regex) and
// Hugging Face (Oniguruma). PCRE2's \s differs (it also matches U+180E), so the pattern's \s and
// \S are rewritten to this class before compiling.
constexpr std::string_view kWhiteSpace =
    R"(\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string with_unicode_whitespace(const std::string& pattern, const std::string& source) {
  std::string out;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (next == 'S') {
        if (in_class)
          throw TokenizerError(source + ": pre-tokenizer regex uses \\S inside a character class");
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

// A compiled pre-tokenizer regex (UTF + Unicode properties, JIT when available).
class PieceRegex {
 public:
  PieceRegex(const std::string& original, const std::string& source) {
    const std::string pattern = with_unicode_whitespace(original, source);
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      throw TokenizerError(source + ": pre-tokenizer regex does not compile at offset " +
                           std::to_string(offset) + ": " + reinterpret_cast<char*>(message));
    }
    jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
  }
  ~PieceRegex() { pcre2_code_free(code_); }
  PieceRegex(const PieceRegex&) = delete;
  PieceRegex& operator=(const PieceRegex&) = delete;

  // Calls on_piece for every match and for any text between matches (none with the Qwen
  // pattern, which covers every character); `text` is valid UTF-8.
  template <class F>
  void for_each_piece(std::string_view text, F&& on_piece) const {
    MatchState& state = match_state();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t pos = 0;
    while (pos < text.size()) {
      const int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), pos, 0, state.data,
                                            state.context)
                          : pcre2_match(code_, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                                        state.data, state.context);
      if (rc == PCRE2_ERROR_NOMATCH) {
        on_piece(text.substr(pos));
        return;
      }
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof message);
        throw TokenizerError("pre-tokenizer regex failed at byte " + std::to_string(pos) + ": " +
                             reinterpret_cast<char*>(message));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state.data);
      std::size_t start = ov[0], end = ov[1];
      if (start > pos) on_piece(text.substr(pos, start - pos));
      if (end == start) end = start + utf8_length(text[start]);  // an empty match: skip a character
      on_piece(text.substr(start, end - start));
      pos = end;
    }
  }

 private:
  static std::size_t utf8_length(char lead) {
    const auto b = static_cast<unsigned char>(lead);
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  }
  // One match block and a 1 MiB JIT stack per thread, so long whitespace runs cannot overflow
  // the 32 KiB default and encode stays thread-safe without locks.
  struct MatchState {
    MatchState() {
      data = pcre2_match_data_create(1, nullptr);
      context = pcre2_match_context_create(nullptr);
      stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
      pcre2_jit_stack_assign(context, nullptr, stack);
      // PCRE2's default of 10 million steps stops a match of a few MB of whitespace (the pattern
      // reads the run once per alternative); each match's work is linear in what it scans.
      pcre2_set_match_limit(context, UINT32_MAX);
    }
    ~MatchState() {
      pcre2_jit_stack_free(stack);
      pcre2_match_context_free(context);
      pcre2_match_data_free(data);
    }
    pcre2_match_data* data;
    pcre2_match_context* context;
    pcre2_jit_stack* stack;
  };
  static MatchState& match_state() {
    thread_local MatchState state;
    return state;
  }
  pcre2_code* code_ = nullptr;
  bool jit_ = false;
};

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeModel model)
      : m_(std::move(model)), regex_(m_.pattern, m_.source), splitter_(m_.added) {
    for (int b = 0; b < 256; ++b) {
      const char c = static_cast<char>(b);
      byte_ids_[b] = m_.mergeable.find(std::string_view(&c, 1));
      if (byte_ids_[b] < 0) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", b);
        throw TokenizerError(m_.source + ": the vocabulary has no token for the single byte " +
                             hex + " (byte-level BPE needs all 256)");
      }
    }
    byte_pairs_.assign(65536, PairMap::Merge{kNone, -1});
    for (int a = 0; a < 256; ++a) {
      for (int b = 0; b < 256; ++b) {
        PairMap::Merge& merge = byte_pairs_[(a << 8) | b];
        if (m_.rank_merges) {
          const char bytes[2] = {static_cast<char>(a), static_cast<char>(b)};
          if (const TokenId id = m_.mergeable.find(std::string_view(bytes, 2)); id >= 0)
            merge = PairMap::Merge{static_cast<std::uint32_t>(id), id};
        } else if (const PairMap::Merge* m = m_.merges.find(byte_ids_[a], byte_ids_[b])) {
          merge = *m;
        }
      }
    }
    for (const AddedToken& t : m_.added) added_by_content_.emplace(t.content, t.id);
    for (const char* name : {"<|im_end|>", "<|endoftext|>"}) {
      if (auto it = added_by_content_.find(name); it != added_by_content_.end()) {
        eos_ = it->second;
        break;
      }
    }
  }

  void encode_ordinary(std::string_view text, std::vector<TokenId>& out) const override {
    std::string normalized;
    if (m_.nfc) {
      normalized = nfc(text);
      text = normalized;
    }
    std::vector<Part> parts;
    regex_.for_each_piece(text, [&](std::string_view piece) { encode_piece(piece, parts, out); });
  }
  const AddedTokenSplitter& added_token_splitter() const override { return splitter_; }

  std::string decode_bytes(std::span<const TokenId> ids) const override {
    std::string out;
    for (TokenId id : ids) out += token_ref(id);
    return out;
  }
  std::string id_to_token(TokenId id) const override { return std::string(token_ref(id)); }
  std::optional<TokenId> token_to_id(std::string_view token) const override {
    if (auto it = added_by_content_.find(std::string(token)); it != added_by_content_.end())
      return it->second;
    const TokenId id = m_.mergeable.find(token);
    if (id < 0) return std::nullopt;
    return id;
  }
  std::size_t vocab_size() const override { return m_.tokens.size(); }
  const std::vector<AddedToken>& added_tokens() const override { return m_.added; }
  std::optional<TokenId> eos_id() const override { return eos_; }
  std::string_view kind() const override { return m_.kind; }

 private:
  // A part of the piece being merged, and the merge of it with the next part.
  struct Part {
    std::uint32_t start;
    TokenId id;
    std::uint32_t rank;  // of the merge with the next part; kNone when there is none
    TokenId merged;
  };
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  // Above this many bytes a piece is merged with a heap (merge_long); below, the linear scan of
  // tiktoken's algorithm is faster.
  static constexpr std::size_t kLongPiece = 96;

  // A direct-mapped cache of piece -> ids, one per thread (encode stays lock-free); entries
  // carry the id of the tokenizer that made them, unique per instance.
  struct PieceCache {
    static constexpr std::size_t kSlots = 4096, kMaxBytes = 48, kMaxIds = 12;
    struct Entry {
      std::uint64_t owner = 0;
      std::uint64_t hash = 0;
      std::uint8_t length = 0, count = 0;
      char bytes[kMaxBytes];
      TokenId ids[kMaxIds];
    };
    std::vector<Entry> entries = std::vector<Entry>(kSlots);
  };
  static PieceCache& piece_cache() {
    thread_local PieceCache cache;
    return cache;
  }
  static std::uint64_t next_instance() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }
  const std::uint64_t instance_ = next_instance();

  const std::string& token_ref(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= m_.tokens.size() || m_.tokens[id].empty())
      throw TokenizerError("token id " + std::to_string(id) + " is not in the vocabulary of " +
                           m_.source + " (" + std::to_string(m_.tokens.size()) + " ids)");
    return m_.tokens[id];
  }

  // The merge of parts[i] and parts[i+1] (parts[i+2] is where the pair ends).
  void rate_pair(std::string_view piece, std::vector<Part>& parts, std::size_t i) const {
    Part& p = parts[i];
    p.rank = kNone;
    if (i + 2 >= parts.size()) return;  // parts.back() is the end sentinel
    if (parts[i + 2].start - p.start == 2) {  // two single bytes: the common first round
      const auto first = static_cast<unsigned char>(piece[p.start]);
      const auto second = static_cast<unsigned char>(piece[p.start + 1]);
      const PairMap::Merge& merge = byte_pairs_[(std::size_t{first} << 8) | second];
      if (merge.merged >= 0) {
        p.rank = merge.priority;
        p.merged = merge.merged;
      }
    } else if (m_.rank_merges) {
      const TokenId id =
          m_.mergeable.find(piece.substr(p.start, parts[i + 2].start - p.start));
      if (id >= 0) {
        p.rank = static_cast<std::uint32_t>(id);
        p.merged = id;
      }
    } else if (const PairMap::Merge* merge = m_.merges.find(p.id, parts[i + 1].id)) {
      p.rank = merge->priority;
      p.merged = merge->merged;
    }
  }

  void encode_piece(std::string_view piece, std::vector<Part>& parts,
                    std::vector<TokenId>& out) const {
    if (piece.size() == 1) {
      out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    if (m_.whole_piece_first) {
      if (const TokenId id = m_.mergeable.find(piece); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    if (piece.size() > kLongPiece) {
      merge_long(piece, out);
      return;
    }
    // Pieces repeat (names, templates, common words): remember recent results per thread.
    PieceCache::Entry* entry = nullptr;
    if (piece.size() <= PieceCache::kMaxBytes) {
      const std::uint64_t hash = hash_bytes(piece);
      entry = &piece_cache().entries[hash & (PieceCache::kSlots - 1)];
      if (entry->owner == instance_ && entry->hash == hash && entry->length == piece.size() &&
          std::memcmp(entry->bytes, piece.data(), piece.size()) == 0) {
        out.insert(out.end(), entry->ids, entry->ids + entry->count);
        return;
      }
      entry->owner = 0;  // overwritten below, or left empty when the result is too long
      entry->hash = hash;
    }
    const std::size_t before = out.size();
    merge_short(piece, parts, out);
    if (entry && out.size() - before <= PieceCache::kMaxIds) {
      entry->owner = instance_;
      entry->length = static_cast<std::uint8_t>(piece.size());
      std::memcpy(entry->bytes, piece.data(), piece.size());
      entry->count = static_cast<std::uint8_t>(out.size() - before);
      std::copy(out.begin() + static_cast<std::ptrdiff_t>(before), out.end(), entry->ids);
    }
  }

  // tiktoken's merge loop: a linear scan for the lowest rank, fast for short pieces.
  void merge_short(std::string_view piece, std::vector<Part>& parts,
                   std::vector<TokenId>& out) const {
    parts.clear();
    for (std::size_t i = 0; i < piece.size(); ++i)
      parts.push_back(Part{static_cast<std::uint32_t>(i),
                           byte_ids_[static_cast<unsigned char>(piece[i])], kNone, -1});
    parts.push_back(Part{static_cast<std::uint32_t>(piece.size()), -1, kNone, -1});
    for (std::size_t i = 0; i + 2 < parts.size(); ++i) rate_pair(piece, parts, i);
    // Lowest rank first, leftmost among equals: the order tiktoken and Hugging Face merge in.
    while (parts.size() > 2) {
      std::size_t best = 0;
      std::uint32_t best_rank = kNone;
      for (std::size_t i = 0; i + 2 < parts.size(); ++i) {
        if (parts[i].rank < best_rank) {
          best_rank = parts[i].rank;
          best = i;
        }
      }
      if (best_rank == kNone) break;
      parts[best].id = parts[best].merged;
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
      rate_pair(piece, parts, best);
      if (best > 0) rate_pair(piece, parts, best - 1);
    }
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) out.push_back(parts[i].id);
  }

  // The same merge order for long pieces in O(n log n) instead of the scan's O(n^2): parts form
  // a linked list over byte positions, candidate pairs wait in a min-heap on (rank, start), and a
  // popped pair whose parts changed since it was pushed is stale and skipped.
  void merge_long(std::string_view piece, std::vector<TokenId>& out) const {
    const auto n = static_cast<std::uint32_t>(piece.size());
    std::vector<std::uint32_t> next(n), prev(n);
    std::vector<TokenId> id(n);
    std::vector<char> alive(n, 1);
    for (std::uint32_t i = 0; i < n; ++i) {
      next[i] = i + 1;
      prev[i] = i == 0 ? kNone : i - 1;
      id[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
    }
    struct Candidate {
      std::uint32_t rank, start, end;
      TokenId merged;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : start > o.start;
      }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto push = [&](std::uint32_t start) {
      const std::uint32_t mid = next[start];
      if (mid >= n) return;
      const std::uint32_t end = next[mid];
      if (m_.rank_merges) {
        if (const TokenId merged = m_.mergeable.find(piece.substr(start, end - start)); merged >= 0)
          heap.push({static_cast<std::uint32_t>(merged), start, end, merged});
      } else if (const PairMap::Merge* merge = m_.merges.find(id[start], id[mid])) {
        heap.push({merge->priority, start, end, merge->merged});
      }
    };
    for (std::uint32_t i = 0; i + 1 < n; ++i) push(i);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      if (!alive[c.start] || next[c.start] >= n || next[next[c.start]] != c.end) continue;
      alive[next[c.start]] = 0;
      id[c.start] = c.merged;
      next[c.start] = c.end;
      if (c.end < n) prev[c.end] = c.start;
      push(c.start);
      if (prev[c.start] != kNone) push(prev[c.start]);
    }
    for (std::uint32_t i = 0; i < n; i = next[i]) out.push_back(id[i]);
  }

  BpeModel m_;
  PieceRegex regex_;
  AddedTokenSplitter splitter_;
  std::array<TokenId, 256> byte_ids_{};
  // Merges of two single bytes, indexed by (first << 8) | second: a 512 KiB table that stays in
  // cache, for the lookups that dominate the first merge round.
  std::vector<PairMap::Merge> byte_pairs_;
  std::unordered_map<std::string, TokenId> added_by_content_;
  std::optional<TokenId> eos_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(BpeModel model) {
  return std::make_unique<BpeTokenizer>(std::move(model));
}

}  // namespace tttmem::tokenizer::detail
