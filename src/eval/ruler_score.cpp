// RULER scoring (include/tttmem/ruler.h; SPEC.md `## ruler`): the study's
// any-of containment and RULER's string_match_all, both lowercasing as Python's str.lower does.
#include <unicode/ustring.h>

#include <string>
#include <string_view>

#include "tttmem/eval.h"
#include "tttmem/ruler.h"

namespace tttmem::ruler {

namespace {

// Python str.lower: ICU's full, locale-independent lowercase mapping (the root locale), with
// invalid UTF-8 replaced by U+FFFD as model output decoding does.
std::string lower(std::string_view utf8) {
  if (utf8.empty()) return {};
  UErrorCode status = U_ZERO_ERROR;
  int32_t len16 = 0;
  std::u16string text(utf8.size() + 1, u'\0');
  u_strFromUTF8WithSub(text.data(), static_cast<int32_t>(text.size()), &len16, utf8.data(),
                       static_cast<int32_t>(utf8.size()), 0xFFFD, nullptr, &status);
  if (U_FAILURE(status))
    throw RulerError(std::string("ruler: cannot lowercase text: ") + u_errorName(status));
  // Full case mapping can lengthen a string (U+0130 becomes two code units).
  std::u16string lowered(static_cast<std::size_t>(len16) * 3 + 4, u'\0');
  const int32_t len_lower = u_strToLower(lowered.data(), static_cast<int32_t>(lowered.size()),
                                         text.data(), len16, "", &status);
  std::string out(static_cast<std::size_t>(len_lower) * 3 + 4, '\0');
  int32_t len8 = 0;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &len8, lowered.data(), len_lower,
              &status);
  if (U_FAILURE(status))
    throw RulerError(std::string("ruler: cannot lowercase text: ") + u_errorName(status));
  out.resize(static_cast<std::size_t>(len8));
  return out;
}

bool is_ascii_space_or_punct(char c) {
  // string.whitespace + string.punctuation
  return std::string_view(" \t\n\r\v\f!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~").find(c) !=
         std::string_view::npos;
}

}  // namespace

std::string normalize_answer(std::string_view text) {
  const std::string stripped = eval::python_strip(lower(text));
  std::string_view s = stripped;
  while (!s.empty() && is_ascii_space_or_punct(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ascii_space_or_punct(s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool any_of_match(std::string_view prediction, std::span<const std::string> references) {
  const std::string predicted = normalize_answer(prediction);
  for (const std::string& reference : references) {
    const std::string gold = normalize_answer(reference);
    if (!gold.empty() && predicted.find(gold) != std::string::npos) return true;
  }
  return false;
}

double string_match_all(std::string_view prediction, std::span<const std::string> references) {
  if (references.empty()) throw RulerError("ruler: string_match_all needs at least one reference");
  const std::string predicted = lower(prediction);
  std::size_t found = 0;
  for (const std::string& reference : references)
    if (predicted.find(lower(reference)) != std::string::npos) ++found;
  return static_cast<double>(found) / static_cast<double>(references.size());
}

bool label_match(std::string_view prediction, std::string_view label) {
  const std::string predicted = normalize_answer(prediction);
  std::string_view s = predicted;
  if (s.starts_with("label:")) s.remove_prefix(6);
  while (!s.empty() && is_ascii_space_or_punct(s.front())) s.remove_prefix(1);
  std::size_t end = 0;
  while (end < s.size() && !is_ascii_space_or_punct(s[end])) ++end;
  const std::string gold = normalize_answer(label);
  return !gold.empty() && s.substr(0, end) == gold;
}

}  // namespace tttmem::ruler
