#include "json_strict.h"

#include <vector>

#include "tttmem/io.h"

namespace tttmem::io {

namespace {

using nlohmann::json;

// A SAX handler that builds the document like json::parse, refusing duplicate keys and deep
// nesting as it goes. (nlohmann's parser callback would do the same checks, but its DOM builder
// rescans the parent object at every object end: quadratic in the number of entries.)
class StrictBuilder {
 public:
  StrictBuilder(const std::string& source, int max_depth) : source_(source), max_depth_(max_depth) {}
  json take() { return std::move(root_); }

  bool null() { return add(json(nullptr)); }
  bool boolean(bool v) { return add(json(v)); }
  bool number_integer(json::number_integer_t v) { return add(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return add(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return add(json(v)); }
  bool string(json::string_t& v) { return add(json(std::move(v))); }
  bool binary(json::binary_t& v) { return add(json(json::binary_t(std::move(v)))); }
  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    json& object = *open_.back();
    if (object.contains(k)) throw IoError(source_ + ": duplicate key '" + k + "' in JSON");
    slot_ = &object[k];
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    throw IoError(source_ + ": invalid JSON: " + e.what());
  }

 private:
  // Places `value` where the parser is: the root, the next array element or the last key's slot.
  json* place(json&& value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    *slot_ = std::move(value);
    return slot_;
  }
  bool add(json&& value) {
    place(std::move(value));
    return true;
  }
  bool open(json&& container) {
    if (static_cast<int>(open_.size()) >= max_depth_)
      throw IoError(source_ + ": JSON nested deeper than " + std::to_string(max_depth_));
    open_.push_back(place(std::move(container)));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  const std::string& source_;
  const int max_depth_;
  json root_;
  std::vector<json*> open_;  // the containers being filled, innermost last
  json* slot_ = nullptr;     // the value slot of the last key read
};

}  // namespace

nlohmann::json parse_json_strict(std::string_view text, const std::string& source, int max_depth) {
  // nlohmann's lexer takes a NUL byte for the end of the input, so "{}\0garbage" would parse.
  // JSON text cannot hold a raw NUL (inside strings it must be escaped as \u0000).
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw IoError(source + ": invalid JSON: NUL byte at offset " + std::to_string(nul));
  StrictBuilder builder(source, max_depth);
  try {
    json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const json::exception& e) {
    throw IoError(source + ": invalid JSON: " + e.what());
  }
  return builder.take();
}

}  // namespace tttmem::io
