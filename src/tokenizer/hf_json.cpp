// Loader for a Hugging Face tokenizer.json with a byte-level BPE model (the Qwen layout:
// NFC normalizer, Split(regex, Isolated) + ByteLevel pre-tokenizer, added tokens).
#include <nlohmann/json.hpp>

#include "bpe.h"

namespace tttmem::tokenizer::detail {
namespace {

using nlohmann::json;

// The ByteLevel alphabet: printable Latin-1 bytes stand for themselves, the other bytes map to
// U+0100 upwards in byte order. Returns code point -> byte, -1 for code points outside it.
std::vector<int> unicode_to_byte() {
  std::vector<int> table(512, -1);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    table[printable ? b : 256 + extra++] = b;
  }
  return table;
}

// A vocab or merge string in the ByteLevel alphabet back to the raw bytes; nullopt if a code
// point is outside the alphabet.
std::optional<std::string> byte_level_decode(std::string_view s, const std::vector<int>& table) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::uint32_t cp;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < s.size()) {
      cp = ((b0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
      i += 2;
    } else {
      return std::nullopt;  // three-byte code points are all above U+0143
    }
    if (cp >= table.size() || table[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(table[cp]));
  }
  return out;
}

[[noreturn]] void unsupported(const std::filesystem::path& path, const std::string& field,
                              const json& value, const std::string& expected) {
  throw TokenizerError("tokenizer.json '" + path.string() + "': " + field + " is " +
                       value.dump().substr(0, 200) + ", expected " + expected);
}

// Accepts NFC, a Sequence holding only NFC, or none.
bool read_normalizer(const std::filesystem::path& path, const json& n) {
  if (n.is_null()) return false;
  const std::string type = n.value("type", "");
  if (type == "NFC") return true;
  if (type == "Sequence" && n.contains("normalizers")) {
    bool any = false;
    for (const json& inner : n.at("normalizers")) any |= read_normalizer(path, inner);
    return any;
  }
  unsupported(path, "normalizer", n, "null, NFC or a Sequence of NFC");
}

// The Qwen layout: Sequence[Split{Regex, Isolated, invert false}, ByteLevel{use_regex false}].
std::string read_pre_tokenizer(const std::filesystem::path& path, const json& p) {
  const std::string expected =
      "Sequence[Split{pattern: {Regex}, behavior: Isolated}, ByteLevel{use_regex: false}]";
  if (!p.is_object() || p.value("type", "") != "Sequence" || !p.contains("pretokenizers") ||
      p.at("pretokenizers").size() != 2)
    unsupported(path, "pre_tokenizer", p, expected);
  const json& split = p.at("pretokenizers")[0];
  const json& byte_level = p.at("pretokenizers")[1];
  if (split.value("type", "") != "Split" || split.value("behavior", "") != "Isolated" ||
      split.value("invert", false) || !split.contains("pattern") ||
      !split.at("pattern").contains("Regex"))
    unsupported(path, "pre_tokenizer.pretokenizers[0]", split, expected);
  if (byte_level.value("type", "") != "ByteLevel" || byte_level.value("use_regex", true) ||
      byte_level.value("add_prefix_space", false))
    unsupported(path, "pre_tokenizer.pretokenizers[1]", byte_level, expected);
  return split.at("pattern").at("Regex").get<std::string>();
}

}  // namespace

BpeModel load_hf_json_model(const std::filesystem::path& path) {
  json doc;
  try {
    doc = json::parse(read_file(path, "tokenizer.json"));
  } catch (const json::exception& e) {
    throw TokenizerError("tokenizer.json '" + path.string() + "' is not valid JSON: " + e.what());
  }
  BpeModel m;
  m.kind = "huggingface";
  m.source = path.string();
  m.rank_merges = false;
  try {
    const json& model = doc.at("model");
    if (model.value("type", "") != "BPE") unsupported(path, "model.type", model.at("type"), "\"BPE\"");
    for (const char* flag : {"byte_fallback", "fuse_unk"})
      if (model.value(flag, false)) unsupported(path, std::string("model.") + flag, model.at(flag), "false");
    if (!model.value("dropout", json()).is_null())
      unsupported(path, "model.dropout", model.at("dropout"), "null");
    m.whole_piece_first = model.value("ignore_merges", false);
    m.nfc = read_normalizer(path, doc.value("normalizer", json()));
    m.pattern = read_pre_tokenizer(path, doc.value("pre_tokenizer", json()));

    const std::vector<int> table = unicode_to_byte();
    for (const auto& [text, id_json] : model.at("vocab").items()) {
      const TokenId id = id_json.get<TokenId>();
      const auto bytes = byte_level_decode(text, table);
      if (!bytes || bytes->empty() || id < 0 || id >= kMaxTokenId)
        throw TokenizerError("tokenizer.json '" + path.string() + "': model.vocab entry '" + text +
                             "' -> " + std::to_string(id) +
                             " is not a non-empty ByteLevel string with an id from 0 to " +
                             std::to_string(kMaxTokenId - 1));
      if (m.mergeable.find(*bytes) >= 0)
        throw TokenizerError("tokenizer.json '" + path.string() + "': model.vocab lists the bytes of '" +
                             text + "' twice");
      if (m.tokens.size() <= static_cast<std::size_t>(id)) m.tokens.resize(id + 1);
      if (!m.tokens[id].empty())
        throw TokenizerError("tokenizer.json '" + path.string() + "': model.vocab gives id " +
                             std::to_string(id) + " twice");
      m.tokens[id] = *bytes;
      m.mergeable.insert(*bytes, id);
    }

    const json& merges = model.at("merges");
    for (std::size_t i = 0; i < merges.size(); ++i) {
      std::string left, right;
      if (merges[i].is_string()) {  // "left right"
        const std::string s = merges[i].get<std::string>();
        const std::size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
          unsupported(path, "model.merges[" + std::to_string(i) + "]", merges[i], "\"left right\"");
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else {  // ["left", "right"]
        if (!merges[i].is_array() || merges[i].size() != 2)
          unsupported(path, "model.merges[" + std::to_string(i) + "]", merges[i], "[left, right]");
        left = merges[i][0].get<std::string>();
        right = merges[i][1].get<std::string>();
      }
      const json& vocab = model.at("vocab");
      auto id_of = [&](const std::string& token) -> TokenId {
        const auto it = vocab.find(token);
        return it == vocab.end() ? -1 : it->get<TokenId>();
      };
      const TokenId l = id_of(left), r = id_of(right), merged = id_of(left + right);
      if (l < 0 || r < 0 || merged < 0)
        throw TokenizerError("tokenizer.json '" + path.string() + "': model.merges[" +
                             std::to_string(i) + "] \"" + left + " " + right +
                             "\" names a token not in model.vocab ('" +
                             (l < 0 ? left : r < 0 ? right : left + right) + "')");
      m.merges.insert(l, r, PairMap::Merge{static_cast<std::uint32_t>(i), merged});
    }

    for (const json& t : doc.value("added_tokens", json::array())) {
      AddedToken added{t.at("id").get<TokenId>(), t.at("content").get<std::string>(),
                       t.value("special", false)};
      for (const char* flag : {"lstrip", "rstrip", "single_word"})
        if (t.value(flag, false)) unsupported(path, std::string("added_tokens[].") + flag, t, "false");
      if (added.id < 0 || added.id >= kMaxTokenId || added.content.empty())
        unsupported(path, "added_tokens[]", t,
                    "an id from 0 to " + std::to_string(kMaxTokenId - 1) + " and non-empty content");
      if (m.tokens.size() <= static_cast<std::size_t>(added.id)) m.tokens.resize(added.id + 1);
      if (m.tokens[added.id].empty()) {
        m.tokens[added.id] = added.content;
      } else if (m.tokens[added.id] != added.content) {
        throw TokenizerError("tokenizer.json '" + path.string() + "': added token '" +
                             added.content + "' reuses id " + std::to_string(added.id));
      }
      m.added.push_back(std::move(added));
    }
  } catch (const json::exception& e) {
    throw TokenizerError("tokenizer.json '" + path.string() + "': " + e.what());
  }
  return m;
}

}  // namespace tttmem::tokenizer::detail
