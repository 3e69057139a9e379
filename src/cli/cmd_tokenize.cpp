// tttmem tokenize: encode text to token ids (or decode ids to text).
#include <cstdio>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "tttmem/io.h"
#include "tttmem/tokenizer.h"

namespace tttmem::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer, text, file, added_tokens;
  bool special = false, decode = false, lines = false;
};

// "1,2 3" -> ids; the message names the offending entry.
std::vector<tokenizer::TokenId> parse_ids(const std::string& line) {
  std::vector<tokenizer::TokenId> ids;
  std::string entry;
  std::istringstream in(line);
  while (in >> entry) {
    std::istringstream parts(entry);
    for (std::string part; std::getline(parts, part, ',');) {
      if (part.empty()) continue;
      std::size_t used = 0;
      long long value = -1;
      try {
        value = std::stoll(part, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != part.size() || value < 0 || value > INT32_MAX)
        throw std::runtime_error("--decode: '" + part + "' is not a token id");
      ids.push_back(static_cast<tokenizer::TokenId>(value));
    }
  }
  return ids;
}

int run_tokenize(const TokenizeOptions& o) {
  tokenizer::LoadOptions load_options;
  load_options.added_tokens = o.added_tokens;
  const auto tok = tokenizer::Tokenizer::load(o.tokenizer, load_options);

  std::string input = o.text;
  if (!o.file.empty()) input = io::read_file(o.file);
  std::vector<std::string> inputs;
  if (o.lines) {
    std::istringstream in(input);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      inputs.push_back(line);
    }
  } else {
    inputs.push_back(input);
  }

  std::string out;
  for (const std::string& item : inputs) {
    if (o.decode) {
      out += tok->decode(parse_ids(item));
    } else {
      const auto ids = tok->encode(item, o.special);
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(ids[i]);
      }
    }
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

Action add_tokenize(CLI::App& app, const GlobalOptions&) {
  auto* cmd = app.add_subcommand(
      "tokenize", "Encode text to token ids (comma-separated, one line per sequence) or decode ids");
  auto o = std::make_shared<TokenizeOptions>();
  cmd->add_option("--tokenizer", o->tokenizer,
                  "A .tiktoken file, a tokenizer.json, a tokenizer.model or a model dir")
      ->required();
  auto* text = cmd->add_option("--text", o->text, "The text (or, with --decode, the ids)");
  auto* file = cmd->add_option("--file", o->file, "Read the text (or ids) from this file");
  text->excludes(file);
  file->excludes(text);
  cmd->add_option("--added-tokens", o->added_tokens,
                  "For a .tiktoken file: the added-tokens JSON (default: the *added_tokens.json "
                  "next to it)");
  cmd->add_flag("--special", o->special,
                "Match added tokens (<|im_start|>, <think>, ...) as whole tokens; without it they "
                "are encoded as plain text");
  cmd->add_flag("--decode", o->decode, "Input is token ids (commas or spaces); print the text");
  cmd->add_flag("--lines", o->lines, "One sequence per input line");
  return [o, text, file]() -> int {
    if (text->count() == 0 && file->count() == 0)
      throw std::runtime_error("tokenize: give --text or --file");
    return run_tokenize(*o);
  };
}

}  // namespace tttmem::cli
