#include "tttmem/parse.h"

#include <sstream>
#include <stdexcept>

namespace tttmem {

std::vector<std::int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<std::int64_t> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    std::size_t used = 0;
    std::int64_t value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size())
      throw std::invalid_argument(what + ": expected comma-separated integers like 1,2,3, got '" +
                                  text + "' ('" + item + "' is not one)");
    values.push_back(value);
  }
  return values;
}

}  // namespace tttmem
