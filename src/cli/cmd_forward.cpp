// tttmem forward: Run the model on token ids or text and write fp32 logits.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>

#include "commands.h"
#include "flag_checks.h"
#include "ttt_flags.h"
#include "tttmem/parse.h"
#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/model.h"
#include "tttmem/tensor_io.h"
#include "tttmem/tokenizer.h"
#include "tttmem/ttt.h"

namespace tttmem::cli {

namespace {

std::vector<std::int64_t> parse_ids(const std::string& text) {
  const std::vector<std::int64_t> ids = parse_int_list(text, "--ids");
  for (const std::int64_t id : ids)
    if (id < 0) throw std::invalid_argument("--ids: '" + std::to_string(id) + "' is not a token id");
  if (ids.empty()) throw std::invalid_argument("--ids: no token ids given");
  return ids;
}

// Before any work: the sequence must fit the model's positions, and the fp32 outputs (logits,
// hidden states) the machine's memory, else the forward fails after minutes, or swaps.
void check_sizes(std::size_t tokens, const ModelConfig& config, bool hidden_states) {
  const auto T = static_cast<std::int64_t>(tokens);
  if (T > config.max_position_embeddings)
    throw std::invalid_argument("--ids/--text: " + std::to_string(T) +
                                " tokens, more than the model's max_position_embeddings (" +
                                std::to_string(config.max_position_embeddings) + ")");
  const double floats =
      static_cast<double>(T) *
      (static_cast<double>(config.vocab_size) +
       (hidden_states ? static_cast<double>(config.num_hidden_layers + 1) * config.hidden_size : 0));
  const double bytes = 4 * floats;
  const double memory = physical_memory_bytes();
  if (bytes > memory / 2) {
    char message[256];
    std::snprintf(message, sizeof message,
                  "--ids/--text: %lld tokens need %.1f GB of fp32 outputs (logits [T, vocab_size]%s), "
                  "more than half of this machine's %.1f GB of memory; give fewer tokens",
                  static_cast<long long>(T), bytes / 1e9, hidden_states ? " and hidden states" : "",
                  memory / 1e9);
    throw std::invalid_argument(message);
  }
}

}  // namespace

Action add_forward(CLI::App& app, const GlobalOptions& global) {
  auto* sub = app.add_subcommand("forward",
                                 "Run the model on token ids or text and write fp32 logits");
  struct Options {
    std::string model, ids, text, tokenizer, out, attention = "sdpa";
    std::string ttt_state_in, ttt_state_out;
    bool hidden_states = false;
    std::int64_t attention_window = 0;
    TttFlags ttt_flags;
  };
  auto options = std::make_shared<Options>();
  sub->add_option("--model", options->model, "Checkpoint folder (config.json + safetensors)")
      ->required();
  auto* ids = sub->add_option("--ids", options->ids, "Comma-separated token ids, e.g. 1,2,3");
  auto* text = sub->add_option("--text", options->text, "Text to tokenize (needs --tokenizer)");
  ids->excludes(text);
  auto* tok = sub->add_option("--tokenizer", options->tokenizer,
                              "Tokenizer: .tiktoken, tokenizer.json/.model or a model folder");
  text->needs(tok);
  sub->add_option("--out", options->out, "Output .safetensors: logits [T, vocab] fp32")
      ->required()
      ->check(output_file());
  sub->add_flag("--hidden-states", options->hidden_states,
                "Also write hidden_states.{0..N} [T, hidden] fp32 (as HF: embeddings, each layer, "
                "the last after the final norm)");
  sub->add_option("--attention", options->attention, "Attention kernel: sdpa or math")
      ->check(CLI::IsMember({"sdpa", "math"}))
      ->capture_default_str();
  add_attention_window(*sub, options->attention_window);
  options->ttt_flags.add_to(*sub);
  auto* no_ttt = sub->get_option("--no-ttt");
  sub->add_option("--ttt-state-in", options->ttt_state_in,
                  "Start from this TTT state (fast weights and pending tails) instead of W0")
      ->excludes(no_ttt);
  sub->add_option("--ttt-state-out", options->ttt_state_out,
                  "Write the TTT state after the forward (the KV cache is not kept)")
      ->excludes(no_ttt)
      ->check(output_file());
  return [options, &global]() -> int {
    std::vector<std::int64_t> token_ids;
    if (!options->ids.empty()) {
      token_ids = parse_ids(options->ids);
    } else if (!options->text.empty()) {
      const auto tokenizer = tokenizer::Tokenizer::load(options->tokenizer);
      for (tokenizer::TokenId id : tokenizer->encode(options->text)) token_ids.push_back(id);
    } else {
      throw std::invalid_argument("forward: give --ids or --text");
    }
    const at::Device device = model::parse_device(global.device);
    const at::ScalarType dtype = model::parse_compute_dtype(global.dtype, device);
    const ModelConfig config = ModelConfig::load(options->model);
    check_sizes(token_ids.size(), config, options->hidden_states);
    const io::Checkpoint checkpoint = io::Checkpoint::open(options->model);
    model::Decoder decoder(config, checkpoint, device, dtype,
                            options->attention == "math" ? model::Attention::math
                                                         : model::Attention::sdpa);
    if (options->attention_window > 0) decoder.set_attention_window(options->attention_window);
    const auto T = static_cast<std::int64_t>(token_ids.size());
    const at::Tensor input = at::tensor(token_ids, at::kLong).view({1, T});
    std::vector<at::Tensor> hidden;
    model::ForwardOptions forward;
    if (options->hidden_states) forward.hidden_states = &hidden;
    const std::optional<TttSetup> ttt = options->ttt_flags.setup(
        config, options->model, checkpoint, device, dtype, global.seed);
    if (!ttt && !(options->ttt_state_in.empty() && options->ttt_state_out.empty()))
      throw std::invalid_argument("--ttt-state-in/--ttt-state-out: the model runs without TTT (" +
                                  options->model + "/config.json enables none; give --ttt, "
                                  "--ttt-preset or --ttt-layers)");
    ttt::TTTState ttt_state;
    std::unique_ptr<ttt::Graft> graft;
    if (ttt) {
      if (!options->ttt_state_in.empty()) {
        ttt_state = ttt::TTTState::load(options->ttt_state_in, device);
        ttt_state.check(ttt->config, config, dtype, options->ttt_state_in);
      }
      graft = std::make_unique<ttt::Graft>(ttt->config, ttt->params, ttt_state);
      forward.mlp_override = graft.get();
      log::info("forward: TTT on ", ttt->config.layers.size(), " layers from ", ttt->source);
    }
    const c10::InferenceMode inference;
    const at::Tensor logits = decoder.forward(input, forward);

    io::NamedTensors outputs{{"ids", input[0]},
                             {"logits", logits[0].to(at::kCPU, at::kFloat)}};
    for (std::size_t i = 0; i < hidden.size(); ++i)
      outputs.emplace_back("hidden_states." + std::to_string(i),
                           hidden[i][0].to(at::kCPU, at::kFloat));
    io::save_tensors(options->out, outputs);
    if (!options->ttt_state_out.empty()) ttt_state.save(options->ttt_state_out);
    log::info("forward: ", T, " tokens -> ", options->out);
    return 0;
  };
}

}  // namespace tttmem::cli
