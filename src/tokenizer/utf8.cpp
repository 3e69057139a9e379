// UTF-8 validation and replacement (Python's errors="replace" rules), NFC via ICU, and the
// streaming decoder.
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <cstdint>
#include <cstring>

#include "tttmem/tokenizer.h"

namespace tttmem::tokenizer {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

struct Scan {
  enum Kind { valid, invalid, truncated } kind;
  std::size_t length;  // valid: the sequence; invalid: its maximal subpart; truncated: the rest
};

// Classifies the sequence at s[i] following Unicode's "maximal subpart" practice, which is
// what Python's decoder replaces with one U+FFFD each.
Scan scan_at(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {Scan::valid, 1};
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Scan::invalid, 1};
  }
  for (std::size_t k = 1; k < need; ++k) {
    if (i + k >= s.size()) return {Scan::truncated, k};
    const auto b = static_cast<unsigned char>(s[i + k]);
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return {Scan::invalid, k};
  }
  return {Scan::valid, need};
}

// Appends the decodable text of `bytes` to `out`; with keep_tail, a truncated sequence at the
// end is not replaced and its length is returned.
std::size_t append_replacing(std::string_view bytes, std::string& out, bool keep_tail) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const Scan scan = scan_at(bytes, i);
    if (scan.kind == Scan::valid) {
      out.append(bytes.substr(i, scan.length));
    } else if (scan.kind == Scan::truncated && keep_tail) {
      return bytes.size() - i;
    } else {
      out.append(kReplacement);
    }
    i += scan.length;
  }
  return 0;
}

[[noreturn]] void icu_failure(const char* step, UErrorCode status) {
  throw TokenizerError(std::string("NFC normalization failed in ") + step + ": ICU error " +
                       u_errorName(status));
}

}  // namespace

std::optional<std::size_t> find_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    // ASCII fast path: eight bytes at a time.
    while (i + 8 <= text.size()) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= text.size()) break;
    const Scan scan = scan_at(text, i);
    if (scan.kind != Scan::valid) return i;
    i += scan.length;
  }
  return std::nullopt;
}

std::string utf8_replace_invalid(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_replacing(bytes, out, false);
  return out;
}

std::string nfc(std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* normalizer = unorm2_getNFCInstance(&status);
  if (U_FAILURE(status)) icu_failure("unorm2_getNFCInstance", status);
  // Code points below U+0300 are NFC and never compose with each other.
  bool below_combining = true;
  for (char c : text) below_combining &= static_cast<unsigned char>(c) < 0xCC;
  if (below_combining) return std::string(text);

  std::u16string utf16(text.size(), u'\0');
  int32_t length = 0;
  u_strFromUTF8(utf16.data(), static_cast<int32_t>(utf16.size()), &length, text.data(),
                static_cast<int32_t>(text.size()), &status);
  if (U_FAILURE(status)) icu_failure("u_strFromUTF8", status);
  utf16.resize(length);
  if (unorm2_quickCheck(normalizer, utf16.data(), length, &status) == UNORM_YES &&
      U_SUCCESS(status))
    return std::string(text);
  status = U_ZERO_ERROR;
  std::u16string normalized(static_cast<std::size_t>(length) * 3 + 16, u'\0');
  const int32_t n = unorm2_normalize(normalizer, utf16.data(), length, normalized.data(),
                                     static_cast<int32_t>(normalized.size()), &status);
  if (U_FAILURE(status)) icu_failure("unorm2_normalize", status);
  std::string out(static_cast<std::size_t>(n) * 3, '\0');
  int32_t out_length = 0;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &out_length, normalized.data(), n,
              &status);
  if (U_FAILURE(status)) icu_failure("u_strToUTF8", status);
  out.resize(out_length);
  return out;
}

std::string StreamDecoder::push(TokenId id) {
  ids_.push_back(id);
  const std::string bytes = tokenizer_->decode_bytes(ids_);
  std::string out;
  const std::size_t tail = append_replacing(std::string_view(bytes).substr(consumed_), out, true);
  consumed_ = bytes.size() - tail;
  return out;
}

std::string StreamDecoder::finish() {
  const std::string bytes = tokenizer_->decode_bytes(ids_);
  std::string out = utf8_replace_invalid(std::string_view(bytes).substr(consumed_));
  ids_.clear();
  consumed_ = 0;
  return out;
}

}  // namespace tttmem::tokenizer
