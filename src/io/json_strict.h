// JSON parsing for untrusted files (safetensors headers, indexes, config.json). Internal to io.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace tttmem::io {

// Like nlohmann::json::parse, but duplicate keys in any object are an error (nlohmann would keep
// the last one silently) and nesting deeper than `max_depth` is rejected (no legitimate file we
// read nests deeper, and it bounds work on hostile input). Throws IoError naming `source`.
nlohmann::json parse_json_strict(std::string_view text, const std::string& source,
                                 int max_depth = 64);

}  // namespace tttmem::io
