#include "json_strict.h"

#include <set>
#include <vector>

#include "tttmem/io.h"

namespace tttmem::io {

nlohmann::json parse_json_strict(std::string_view text, const std::string& source, int max_depth) {
  using nlohmann::json;
  // One set of seen keys per open object; arrays push an empty placeholder so pops stay paired.
  std::vector<std::set<std::string>> open;
  const json::parser_callback_t check = [&](int depth, json::parse_event_t event,
                                            json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= max_depth)
          throw IoError(source + ": JSON nested deeper than " + std::to_string(max_depth));
        open.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open.empty() && !open.back().insert(parsed.get<std::string>()).second)
          throw IoError(source + ": duplicate key '" + parsed.get<std::string>() + "' in JSON");
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const json::exception& e) {
    throw IoError(source + ": invalid JSON: " + e.what());
  }
}

}  // namespace tttmem::io
