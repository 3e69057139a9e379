// The sentencepiece backend (tokenizer.model, Gemma): libsentencepiece encodes; decoding is done
// piece by piece here so byte-fallback pieces stay raw bytes and a decode of a prefix of the
// ids is a prefix of the decode of all of them (what StreamDecoder needs).
#include <sentencepiece_processor.h>

#include <unordered_map>

#include "bpe.h"

namespace tttmem::tokenizer::detail {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, sentencepiece's space

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& path)
      : source_(path.string()), splitter_({}) {
    const auto status = sp_.Load(path.string());
    if (!status.ok())
      throw TokenizerError("sentencepiece model '" + source_ + "' does not load: " +
                           status.ToString());
    const int n = sp_.GetPieceSize();
    pieces_.resize(n);
    for (int id = 0; id < n; ++id) {
      const std::string& piece = sp_.IdToPiece(id);
      if (sp_.IsByte(id)) {  // "<0xNN>"
        pieces_[id] = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
      } else if (sp_.IsControl(id)) {
        added_.push_back(AddedToken{id, piece, true});
      } else if (sp_.IsUnknown(id)) {
        pieces_[id] = " \xE2\x81\x87 ";  // " ⁇ ", sentencepiece's surface for <unk>
      } else {
        std::string text;
        for (std::size_t i = 0; i < piece.size();) {
          if (std::string_view(piece).substr(i).starts_with(kSpace)) {
            text += ' ';
            i += kSpace.size();
          } else {
            text += piece[i++];
          }
        }
        pieces_[id] = std::move(text);
      }
      by_piece_.emplace(piece, id);
    }
    splitter_ = AddedTokenSplitter(added_);
    // The model adds a leading space when its encoding of "a" starts with the space piece; the
    // decoder then drops the first one.
    std::vector<std::string> probe;
    sp_.Encode("a", &probe).IgnoreError();
    strip_leading_space_ = !probe.empty() && std::string_view(probe[0]).starts_with(kSpace);
    if (sp_.eos_id() >= 0) eos_ = sp_.eos_id();
    for (const AddedToken& t : added_)
      if (t.content == "<end_of_turn>") eos_ = t.id;
  }

  void encode_ordinary(std::string_view text, std::vector<TokenId>& out) const override {
    std::vector<int> ids;
    const auto status = sp_.Encode(std::string(text), &ids);
    if (!status.ok())
      throw TokenizerError("sentencepiece model '" + source_ + "' failed to encode: " +
                           status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }
  const AddedTokenSplitter& added_token_splitter() const override { return splitter_; }

  std::string decode_bytes(std::span<const TokenId> ids) const override {
    std::string out;
    for (TokenId id : ids) {
      check(id);
      out += pieces_[id];
    }
    if (strip_leading_space_ && !out.empty() && out.front() == ' ') out.erase(0, 1);
    return out;
  }
  std::string id_to_token(TokenId id) const override {
    check(id);
    return sp_.IdToPiece(id);
  }
  std::optional<TokenId> token_to_id(std::string_view token) const override {
    if (auto it = by_piece_.find(std::string(token)); it != by_piece_.end()) return it->second;
    return std::nullopt;
  }
  std::size_t vocab_size() const override { return pieces_.size(); }
  const std::vector<AddedToken>& added_tokens() const override { return added_; }
  std::optional<TokenId> eos_id() const override { return eos_; }
  std::string_view kind() const override { return "sentencepiece"; }

 private:
  void check(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= pieces_.size())
      throw TokenizerError("token id " + std::to_string(id) + " is not in the vocabulary of " +
                           source_ + " (" + std::to_string(pieces_.size()) + " ids)");
  }

  std::string source_;
  sentencepiece::SentencePieceProcessor sp_;
  std::vector<std::string> pieces_;  // decoded bytes by id ("" for control pieces)
  std::vector<AddedToken> added_;    // the control pieces, split out whole when allowed
  std::unordered_map<std::string, TokenId> by_piece_;
  AddedTokenSplitter splitter_;
  bool strip_leading_space_ = false;
  std::optional<TokenId> eos_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece(const std::filesystem::path& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace tttmem::tokenizer::detail
