// The TTT-E2E flags and their resolution (SPEC.md "e2e").
#include "e2e_flags.h"

#include <stdexcept>

#include "flag_checks.h"
#include "tttmem/log.h"
#include "tttmem/parse.h"

namespace tttmem::cli {

void E2EFlags::add_to(CLI::App& sub) {
  sub.add_option("--memory", memory,
                 "Memory mechanism: inplace (In-Place TTT's fast down_proj) or e2e (TTT-E2E: "
                 "SGD on dynamic MLPs per mini-batch)")
      ->check(CLI::IsMember({"inplace", "e2e"}))
      ->capture_default_str();
  sub.add_option("--e2e", checkpoint,
                 "E2E parameters (a safetensors file train-minimal --memory e2e wrote); default: "
                 "the model checkpoint's dynamic_* tensors");
  sub.add_flag("--e2e-init", init,
               "Fresh E2E parameters from --seed (gate/up random, down zero): test-time SGD "
               "without meta-learned initial weights");
  sub.add_option("--e2e-layers", layers, "E2E layers, comma-separated (default: the last quarter)");
  sub.add_option("--e2e-mini-batch", mini_batch, "Tokens per inner SGD step (b)")
      ->check(whole_number(2, INT64_MAX));
  sub.add_option("--e2e-inner-lr", inner_lr, "Inner learning rate (finite, >= 0)");
  sub.add_option("--e2e-inner-steps", inner_steps, "SGD steps per mini-batch")
      ->check(whole_number(1, 1 << 20));
  sub.add_option("--e2e-window", window,
                 "Attention window in tokens while E2E is in use (0: the model's own)")
      ->check(whole_number(0, INT64_MAX));
  sub.add_option("--e2e-intermediate", intermediate, "Dynamic MLP width F' (0: the model's)")
      ->check(whole_number(0, INT64_MAX));
}

std::optional<E2ESetup> E2EFlags::setup(const ModelConfig& model,
                                        const io::Checkpoint& model_checkpoint,
                                        const at::Device& device, std::uint64_t seed,
                                        const TttFlags& ttt) const {
  const bool flagged = !checkpoint.empty() || init || !layers.empty() || !inner_lr.empty() ||
                       mini_batch > 0 || inner_steps > 0 || window >= 0 || intermediate >= 0;
  if (!enabled()) {
    if (flagged)
      throw std::invalid_argument("--e2e* flags apply to --memory e2e only (the memory is " +
                                  memory + ")");
    return std::nullopt;
  }
  if (ttt.given())
    throw std::invalid_argument("--ttt* flags configure In-Place TTT; they do not apply to "
                                "--memory e2e");
  if (!checkpoint.empty() && init)
    throw std::invalid_argument("--e2e CKPT and --e2e-init: give one source of E2E parameters");
  std::optional<io::Checkpoint> file;
  if (!checkpoint.empty()) file.emplace(io::Checkpoint::open(checkpoint));
  std::optional<e2e::E2EConfig> recorded =
      file ? e2e::E2EParams::recorded_config(*file, model) : std::nullopt;
  e2e::E2EConfig config =
      recorded ? *recorded : e2e::E2EConfig::fields_from_json(model.raw, model, "config.json");
  // A flag that contradicts the recorded config would run parameters with a shape or a loop
  // they were not trained for.
  auto conflict = [&](const char* flag) {
    if (recorded)
      throw std::invalid_argument(std::string(flag) + " contradicts the config " + checkpoint +
                                  " records (" + recorded->to_json().dump() + ")");
  };
  if (!layers.empty()) {
    config.set_layers(parse_int_list(layers, "--e2e-layers"));
    if (recorded && config.layers != recorded->layers) conflict("--e2e-layers");
  }
  if (mini_batch > 0) config.mini_batch = mini_batch;
  if (inner_steps > 0) config.inner_steps = inner_steps;
  if (window >= 0) config.window = window;
  if (intermediate >= 0) {
    config.intermediate = intermediate;
    if (recorded && config.width(model) != recorded->width(model)) conflict("--e2e-intermediate");
  }
  if (!inner_lr.empty()) config.inner_lr = finite_number(inner_lr, "--e2e-inner-lr");
  config.validate(model);
  if (init)
    return E2ESetup{config, e2e::E2EParams::init(config, model, seed, device),
                    "init seed " + std::to_string(seed)};
  const io::Checkpoint& source = file ? *file : model_checkpoint;
  return E2ESetup{config, e2e::E2EParams::load(source, config, model, device),
                  source.location().string()};
}

void E2ESetup::apply_window(model::Decoder& decoder, std::int64_t requested) const {
  if (config.window <= 0) return;
  if (requested > 0 && requested != config.window)
    throw std::invalid_argument("--attention-window " + std::to_string(requested) +
                                " and the E2E window " + std::to_string(config.window) +
                                " differ: give one");
  decoder.set_attention_window(config.window);
}

nlohmann::ordered_json describe(const E2ESetup& setup) {
  return {{"config", setup.config.to_json()}, {"source", setup.source}};
}

}  // namespace tttmem::cli
