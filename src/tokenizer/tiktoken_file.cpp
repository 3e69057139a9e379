// Loader for a .tiktoken ranks file ("<base64 token bytes> <rank>" per line) plus added tokens.
#include <nlohmann/json.hpp>

#include <charconv>
#include <unordered_map>

#include "bpe.h"
#include "tttmem/log.h"

namespace tttmem::tokenizer::detail {
namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 (padding required, as tiktoken's files have it); nullopt when malformed.
std::optional<std::string> decode_base64(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  while (pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
  std::string out;
  std::uint32_t acc = 0;
  for (std::size_t i = 0; i < in.size() - pad; ++i) {
    const int v = base64_value(in[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    if (i % 4 == 3) {
      out.push_back(static_cast<char>(acc >> 16));
      out.push_back(static_cast<char>(acc >> 8));
      out.push_back(static_cast<char>(acc));
      acc = 0;
    }
  }
  if (pad == 2) {
    if (acc & 0xF) return std::nullopt;  // non-canonical trailing bits
    out.push_back(static_cast<char>(acc >> 4));
  } else if (pad == 1) {
    if (acc & 0x3) return std::nullopt;
    out.push_back(static_cast<char>(acc >> 10));
    out.push_back(static_cast<char>(acc >> 2));
  }
  return out;
}

std::vector<AddedToken> load_added_tokens(const std::filesystem::path& path) {
  const std::string text = read_file(path, "added-tokens file");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw TokenizerError("added-tokens file '" + path.string() + "' is not valid JSON: " + e.what());
  }
  std::vector<AddedToken> out;
  try {
    if (doc.is_object() && doc.contains("added_tokens")) {
      for (const auto& t : doc.at("added_tokens"))
        out.push_back(AddedToken{t.at("id").get<TokenId>(), t.at("content").get<std::string>(),
                                 t.value("special", true)});
    } else if (doc.is_object()) {  // Hugging Face added_tokens.json: {"content": id}
      for (const auto& [content, id] : doc.items())
        out.push_back(AddedToken{id.get<TokenId>(), content, true});
    } else {
      throw TokenizerError("expected an object");
    }
  } catch (const std::exception& e) {
    throw TokenizerError("added-tokens file '" + path.string() +
                         "': expected {\"added_tokens\": [{\"id\", \"content\", \"special\"}]} "
                         "or {\"content\": id}: " + e.what());
  }
  return out;
}

std::filesystem::path find_added_tokens_next_to(const std::filesystem::path& ranks) {
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(ranks.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.ends_with("added_tokens.json")) found.push_back(entry.path());
  }
  if (found.size() > 1)
    throw TokenizerError("several *added_tokens.json files next to '" + ranks.string() +
                         "': name one with --added-tokens");
  if (found.empty()) {
    log::warn("no *added_tokens.json next to ", ranks.string(), ": loading without added tokens");
    return {};
  }
  return found.front();
}

// `text` for an error message, in single quotes: escaped as in JSON (control bytes as \uXXXX,
// invalid UTF-8 replaced), the first 40 bytes only, so a hostile line can neither move the cursor
// nor flood the terminal.
std::string quoted(std::string_view text) {
  constexpr std::size_t kShown = 40;
  const std::string json = nlohmann::json(std::string(text.substr(0, kShown)))
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return "'" + json.substr(1, json.size() - 2) + "'" + (text.size() > kShown ? "..." : "");
}

}  // namespace

BpeModel load_tiktoken_model(const std::filesystem::path& ranks_path, const LoadOptions& options) {
  const std::string text = read_file(ranks_path, "ranks file");
  BpeModel m;
  m.kind = "tiktoken";
  m.source = ranks_path.string();
  m.pattern = options.pattern;
  std::unordered_map<TokenId, std::size_t> rank_line;  // for duplicate-rank messages
  std::size_t line_no = 0, pos = 0;
  auto fail = [&](const std::string& what) -> TokenizerError {
    return TokenizerError("ranks file '" + ranks_path.string() + "' line " +
                          std::to_string(line_no) + ": " + what);
  };
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF
    if (line.empty()) continue;
    if (line.find('\r') != std::string_view::npos)
      throw fail("a carriage return inside the line (expected lines ending in LF or CRLF; a file "
                 "with CR-only line ends is one long line)");
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos)
      throw fail("expected '<base64 token> <rank>', found no rank");
    const auto token = decode_base64(line.substr(0, space));
    if (!token) throw fail("the token is not valid base64");
    const std::string_view rank_text = line.substr(space + 1);
    TokenId rank = -1;
    const auto [ptr, ec] = std::from_chars(rank_text.data(), rank_text.data() + rank_text.size(), rank);
    if (ec != std::errc() || ptr != rank_text.data() + rank_text.size() || rank < 0)
      throw fail("the rank " + quoted(rank_text) + " is not a non-negative integer");
    if (rank >= kMaxTokenId)
      throw fail("the rank " + std::to_string(rank) + " is beyond the supported maximum of " +
                 std::to_string(kMaxTokenId - 1));
    if (auto [it, fresh] = rank_line.emplace(rank, line_no); !fresh)
      throw fail("rank " + std::to_string(rank) + " already given on line " +
                 std::to_string(it->second));
    if (m.mergeable.find(*token) >= 0) throw fail("the token's bytes are already listed");
    m.mergeable.insert(*token, rank);
    if (m.tokens.size() <= static_cast<std::size_t>(rank)) m.tokens.resize(rank + 1);
    m.tokens[rank] = *token;
  }
  if (m.mergeable.size() == 0) throw TokenizerError("ranks file '" + ranks_path.string() + "' is empty");

  const std::filesystem::path added_path =
      options.added_tokens.empty() ? find_added_tokens_next_to(ranks_path) : options.added_tokens;
  if (!added_path.empty()) m.added = load_added_tokens(added_path);
  for (const AddedToken& t : m.added) {
    if (t.id < 0 || t.id >= kMaxTokenId || t.content.empty())
      throw TokenizerError("added-tokens file '" + added_path.string() + "': token '" + t.content +
                           "' needs an id from 0 to " + std::to_string(kMaxTokenId - 1) +
                           " and non-empty content");
    if (static_cast<std::size_t>(t.id) < m.tokens.size() && !m.tokens[t.id].empty())
      throw TokenizerError("added-tokens file '" + added_path.string() + "': id " +
                           std::to_string(t.id) + " of '" + t.content +
                           "' is already taken by a rank or an earlier added token");
    if (m.tokens.size() <= static_cast<std::size_t>(t.id)) m.tokens.resize(t.id + 1);
    m.tokens[t.id] = t.content;
  }
  return m;
}

}  // namespace tttmem::tokenizer::detail
