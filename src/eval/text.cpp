// Text scoring exactly as the seed's evaluate.py and analyze_phase_a.py (SPEC.md `## eval`):
// everything works on Unicode code points.
#include <unicode/ustring.h>

#include <algorithm>
#include <array>

#include "tttmem/eval.h"

namespace tttmem::eval {

namespace {

// What Python's `\s` (str.isspace) matches.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// The seed's 82 punctuation code points (SPEC.md S6.2). Curly quotes, U+FF0E and 〈〉 are not in.
bool is_seed_punctuation(char32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  // The single code points outside the full-width ranges below.
  static constexpr std::array<char32_t, 20> kSingles{
      0x00B7, 0x2013, 0x2014, 0x2026, 0x2027, 0x3001, 0x3002, 0x300A, 0x300B, 0x300C,
      0x300D, 0x300E, 0x300F, 0x3010, 0x3011, 0x3014, 0x3015, 0x301C, 0xFF0F, 0xFF61};
  return std::find(kSingles.begin(), kSingles.end(), c) != kSingles.end() ||
         (c >= 0xFF01 && c <= 0xFF0D) || (c >= 0xFF1A && c <= 0xFF20) ||
         (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF5E);
}

[[noreturn]] void icu_failure(const char* step, UErrorCode status) {
  throw EvalError(std::string("text normalisation failed in ") + step + ": ICU error " +
                  u_errorName(status));
}

// Python str.lower: ICU's full, locale-independent lowercase mapping (SpecialCasing's
// unconditional entries and Final_Sigma, as CPython applies them).
std::u32string lower(std::u32string text) {
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; })) {
    for (char32_t& c : text)
      if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    return text;
  }
  UErrorCode status = U_ZERO_ERROR;
  std::u16string utf16(text.size() * 2, u'\0');
  int32_t len16 = 0;
  u_strFromUTF32(utf16.data(), static_cast<int32_t>(utf16.size()), &len16,
                 reinterpret_cast<const UChar32*>(text.data()), static_cast<int32_t>(text.size()),
                 &status);
  if (U_FAILURE(status)) icu_failure("u_strFromUTF32", status);
  // Lowercasing grows a string by at most a factor of 3 (SpecialCasing).
  std::u16string lowered(static_cast<std::size_t>(len16) * 3 + 4, u'\0');
  const int32_t len_lower = u_strToLower(lowered.data(), static_cast<int32_t>(lowered.size()),
                                         utf16.data(), len16, "", &status);
  if (U_FAILURE(status)) icu_failure("u_strToLower", status);
  std::u32string out(static_cast<std::size_t>(len_lower), U'\0');
  int32_t len32 = 0;
  u_strToUTF32(reinterpret_cast<UChar32*>(out.data()), static_cast<int32_t>(out.size()), &len32,
               lowered.data(), len_lower, &status);
  if (U_FAILURE(status)) icu_failure("u_strToUTF32", status);
  out.resize(static_cast<std::size_t>(len32));
  return out;
}

}  // namespace

std::u32string decode_utf8(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size();) {
    const auto b0 = static_cast<unsigned char>(utf8[i]);
    std::size_t len = b0 < 0x80 ? 1 : b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC2 ? 2 : 0;
    if (len == 0 || i + len > utf8.size() || b0 > 0xF4)
      throw EvalError("invalid UTF-8 at byte " + std::to_string(i));
    char32_t c = len == 1 ? b0 : b0 & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(utf8[i + k]);
      if ((b & 0xC0) != 0x80) throw EvalError("invalid UTF-8 at byte " + std::to_string(i));
      c = (c << 6) | (b & 0x3F);
    }
    static constexpr std::array<char32_t, 5> kMin{0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      throw EvalError("invalid UTF-8 at byte " + std::to_string(i));
    out.push_back(c);
    i += len;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

std::u32string normalize(std::string_view utf8) {
  const std::u32string lowered = lower(decode_utf8(utf8));
  std::u32string out;
  out.reserve(lowered.size());
  bool pending_space = false;  // a run of spaces/punctuation seen since the last kept character
  for (char32_t c : lowered) {
    if (is_python_space(c) || is_seed_punctuation(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space && !out.empty()) out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::string python_strip(std::string_view utf8) {
  const std::u32string text = decode_utf8(utf8);
  std::size_t begin = 0, end = text.size();
  while (begin < end && is_python_space(text[begin])) ++begin;
  while (end > begin && is_python_space(text[end - 1])) --end;
  return encode_utf8(std::u32string_view(text).substr(begin, end - begin));
}

std::string first_line(std::string_view utf8) {
  std::string stripped = python_strip(utf8);
  const std::size_t lf = stripped.find('\n');
  if (lf != std::string::npos) stripped.resize(lf);
  return stripped;
}

bool contains_match(std::u32string_view norm_predicted, std::u32string_view norm_gold) {
  return !norm_gold.empty() && norm_predicted.find(norm_gold) != std::u32string_view::npos;
}

double char_f1(std::u32string_view norm_predicted, std::u32string_view norm_gold) {
  if (norm_predicted.empty() || norm_gold.empty()) return 0.0;
  std::u32string p(norm_predicted), g(norm_gold);
  std::sort(p.begin(), p.end());
  std::sort(g.begin(), g.end());
  // Multiset intersection size of the two sorted code-point lists.
  std::int64_t overlap = 0;
  for (std::size_t i = 0, j = 0; i < p.size() && j < g.size();) {
    if (p[i] < g[j]) {
      ++i;
    } else if (g[j] < p[i]) {
      ++j;
    } else {
      ++overlap, ++i, ++j;
    }
  }
  if (overlap == 0) return 0.0;
  const double precision = static_cast<double>(overlap) / static_cast<double>(p.size());
  const double recall = static_cast<double>(overlap) / static_cast<double>(g.size());
  return 2 * precision * recall / (precision + recall);
}

ProbeScore score_probe(std::string_view predicted, std::string_view gold) {
  const std::u32string norm_pred = normalize(predicted), norm_gold = normalize(gold);
  ProbeScore s;
  s.em = contains_match(norm_pred, norm_gold) ? 1.0 : 0.0;
  s.f1 = char_f1(norm_pred, norm_gold);
  s.strict_em = !norm_gold.empty() && normalize(first_line(predicted)) == norm_gold ? 1.0 : 0.0;
  return s;
}

bool is_degenerate(std::string_view predicted) {
  const std::u32string p = decode_utf8(python_strip(predicted));
  const std::size_t n = p.size();
  if (n == 0) return true;
  std::size_t run = 1;
  for (std::size_t i = 1; i < n; ++i) {
    run = p[i] == p[i - 1] ? run + 1 : 1;
    if (run >= 6 && p[i] != U'\n') return true;
  }
  if (n < 12) return false;
  const std::u32string_view v(p);
  for (std::size_t size = 4; size <= std::min<std::size_t>(20, n / 3); ++size)
    for (std::size_t start = 0; start + 3 * size <= n; ++start) {
      const std::u32string_view chunk = v.substr(start, size);
      int repeats = 1;
      for (std::size_t pos = start + size; pos + size <= n && v.substr(pos, size) == chunk;
           pos += size)
        if (++repeats >= 3) return true;
    }
  return false;
}

}  // namespace tttmem::eval
