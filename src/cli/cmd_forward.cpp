// tttmem forward: Run the model on token ids or text and write fp32 logits.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <memory>
#include <optional>
#include <stdexcept>

#include "commands.h"
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

}  // namespace

Action add_forward(CLI::App& app, const GlobalOptions& global) {
  auto* sub = app.add_subcommand("forward",
                                 "Run the model on token ids or text and write fp32 logits");
  struct Options {
    std::string model, ids, text, tokenizer, out, attention = "sdpa";
    std::string ttt, ttt_state_in, ttt_state_out;
    bool hidden_states = false;
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
      ->required();
  sub->add_flag("--hidden-states", options->hidden_states,
                "Also write hidden_states.{0..N} [T, hidden] fp32 (as HF: embeddings, each layer, "
                "the last after the final norm)");
  sub->add_option("--attention", options->attention, "Attention kernel: sdpa or math")
      ->check(CLI::IsMember({"sdpa", "math"}))
      ->capture_default_str();
  sub->add_option("--ttt", options->ttt,
                  "TTT checkpoint (folder or .safetensors) holding the ttt_proj/ttt_conv tensors, "
                  "instead of the model's own (used when its config.json enables TTT); layers, "
                  "chunk, lr and target come from config.json's ttt_* fields unless --ttt-* "
                  "flags say otherwise");
  options->ttt_flags.add_to(*sub);
  auto* no_ttt = sub->get_option("--no-ttt");
  sub->add_option("--ttt-state-in", options->ttt_state_in,
                  "Start from this TTT state (fast weights and pending tails) instead of W0")
      ->excludes(no_ttt);
  sub->add_option("--ttt-state-out", options->ttt_state_out,
                  "Write the TTT state after the forward (the KV cache is not kept)")
      ->excludes(no_ttt);
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
    const io::Checkpoint checkpoint = io::Checkpoint::open(options->model);
    model::Qwen3Model qwen3(config, checkpoint, device, dtype,
                            options->attention == "math" ? model::Attention::math
                                                         : model::Attention::sdpa);
    const auto T = static_cast<std::int64_t>(token_ids.size());
    const at::Tensor input = at::tensor(token_ids, at::kLong).view({1, T});
    std::vector<at::Tensor> hidden;
    model::ForwardOptions forward;
    if (options->hidden_states) forward.hidden_states = &hidden;
    const std::optional<TttSetup> ttt = options->ttt_flags.setup(
        config, options->model, checkpoint, options->ttt, device, dtype, global.seed);
    if (!ttt && !(options->ttt_state_in.empty() && options->ttt_state_out.empty()))
      throw std::invalid_argument("--ttt-state-in/--ttt-state-out: the model runs without TTT (" +
                                  options->model + "/config.json enables none; give --ttt, "
                                  "--ttt-preset or --ttt-layers)");
    ttt::TTTState ttt_state;
    std::unique_ptr<ttt::Graft> graft;
    if (ttt) {
      if (!options->ttt_state_in.empty())
        ttt_state = ttt::TTTState::load(options->ttt_state_in, device);
      graft = std::make_unique<ttt::Graft>(ttt->config, ttt->params, ttt_state);
      forward.mlp_override = graft.get();
      log::info("forward: TTT on ", ttt->config.layers.size(), " layers from ", ttt->source);
    }
    const c10::InferenceMode inference;
    const at::Tensor logits = qwen3.forward(input, forward);

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
