// Small parsers shared by flags and files (torch-free).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tttmem {

// "0,6,12" -> {0, 6, 12}: comma-separated whole integers (a trailing comma is ignored, an empty
// text gives an empty list). Throws std::invalid_argument naming `what`, the text and the entry.
std::vector<std::int64_t> parse_int_list(const std::string& text, const std::string& what);

}  // namespace tttmem
