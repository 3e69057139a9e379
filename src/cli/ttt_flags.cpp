#include "ttt_flags.h"

#include "flag_checks.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace tttmem::cli {

void TttFlags::add_to(CLI::App& sub) {
  sub.add_option("--ttt", checkpoint,
                 "TTT checkpoint (folder or .safetensors) holding the ttt_proj/ttt_conv tensors, "
                 "instead of the model's own (used when its config.json enables TTT); layers, "
                 "chunk, lr and target come from config.json's ttt_* fields unless --ttt-* "
                 "flags say otherwise");
  sub.add_option("--ttt-preset", preset,
                 "TTT settings to start from instead of config.json: paper (every 6th layer, "
                 "chunk 4096, lr 3) or seed (layers 0,6,...,30, chunk 64, lr 3)")
      ->check(CLI::IsMember({"paper", "seed"}));
  sub.add_option("--ttt-layers", layers, "TTT layers, e.g. 0,6,12 (each < num_hidden_layers)");
  sub.add_option("--ttt-chunk", chunk, "TTT chunk size C (tokens per fast-weight update)")
      ->check(whole_number(1, INT64_MAX));
  sub.add_option("--ttt-lr", lr, "TTT inner learning rate eta (finite)");
  sub.add_option("--ttt-target", target, "Update target source: hidden_states or input_embed")
      ->check(CLI::IsMember({"hidden_states", "input_embed"}));
  sub.add_option("--ttt-proj", proj, "Use ttt_proj (W_target): on or off")
      ->check(CLI::IsMember({"on", "off"}));
  sub.add_option("--ttt-partial-chunk", partial_chunk,
                 "A stream's partial last chunk: drop (never written, upstream) or flush")
      ->check(CLI::IsMember({"drop", "flush"}));
  sub.add_option("--ttt-precision", precision,
                 "Fast weight: upstream (dense, model dtype, upstream rounding) or fp32 "
                 "(fp32 delta, low-rank while small)")
      ->check(CLI::IsMember({"upstream", "fp32"}));
  sub.add_option("--ttt-init", init,
                 "Initialise TTT tensors missing from the checkpoint: dense (normal 0.02, the "
                 "seed's) or diagonal (upstream training code's); conv starts at zero. "
                 "Without it a missing tensor is an error")
      ->check(CLI::IsMember({"dense", "diagonal"}));
  auto* no_ttt = sub.add_flag("--no-ttt", off,
                              "Run the base model even when config.json enables TTT");
  for (const char* name :
       {"--ttt-preset", "--ttt-layers", "--ttt-chunk", "--ttt-lr", "--ttt-target", "--ttt-proj",
        "--ttt-partial-chunk", "--ttt-precision", "--ttt-init"})
    no_ttt->excludes(sub.get_option(name));
}

namespace {

std::string join_layers(const std::vector<std::int64_t>& layers) {
  std::string text;
  for (const std::int64_t layer : layers) text += (text.empty() ? "" : ",") + std::to_string(layer);
  return text;
}

}  // namespace

std::optional<TttSetup> TttFlags::setup(const ModelConfig& model,
                                        const std::filesystem::path& model_dir,
                                        const io::Checkpoint& model_checkpoint,
                                        const at::Device& device,
                                        at::ScalarType dtype, std::uint64_t seed) const {
  if (off) {
    if (!checkpoint.empty()) throw std::invalid_argument("--no-ttt: a TTT checkpoint is given too");
    return std::nullopt;
  }
  const std::string config_source = (model_dir / "config.json").string();
  ttt::TTTConfig config = resolve(model, config_source);
  const bool tuned = !(preset.empty() && layers.empty() && target.empty() && proj.empty() &&
                       partial_chunk.empty() && precision.empty() && init.empty() &&
                       chunk == 0 && lr.empty());
  if (config.layers.empty()) {
    // Flags that would change nothing are refused: a silent base-model run is the failure the
    // seed experiment lost days to.
    if (!checkpoint.empty() || tuned)
      throw std::invalid_argument(
          std::string(checkpoint.empty() ? "the --ttt-* flags" : "--ttt") + ": " + config_source +
          " enables no TTT layer (ttt_mode, ttt_layers) and neither --ttt-preset nor "
          "--ttt-layers is given");
    return std::nullopt;
  }
  if (!checkpoint.empty())
    return TttSetup{config,
                    ttt::TTTParams::load(io::Checkpoint::open(checkpoint), config, model, device,
                                         dtype, missing_init(), seed),
                    checkpoint};
  // The model folder is the TTT checkpoint, as upstream's checkpoints are. Check here rather
  // than in TTTParams::load so that the message names the flags that fix it.
  std::vector<std::string> needed;
  for (const std::int64_t layer : config.layers) {
    if (config.proj) needed.push_back(ttt::proj_name(layer));
    needed.push_back(ttt::conv_name(layer));
  }
  for (const std::string& name : needed)
    if (init.empty() && model_checkpoint.find(name) == nullptr)
      throw std::runtime_error(
          "TTT on layers " + join_layers(config.layers) + " (" + config_source +
          (tuned ? " and the --ttt-* flags" : "") + ") needs tensor " + name + ", which " +
          model_checkpoint.location().string() +
          " does not hold: give --ttt CKPT (a checkpoint with the TTT tensors), or "
          "--ttt-init dense|diagonal to start from init weights");
  return TttSetup{config,
                  ttt::TTTParams::load(model_checkpoint, config, model, device, dtype,
                                       missing_init(), seed),
                  model_dir.string()};
}

ttt::TTTConfig TttFlags::resolve(const ModelConfig& model, const std::string& config_source) const {
  // Overrides first, one validation last: a flag may repair what config.json or the preset
  // would get wrong for this model (e.g. upstream's layer 36 on a 36-layer model).
  ttt::TTTConfig config = preset.empty()
                              ? ttt::TTTConfig::fields_from_json(model.raw, config_source)
                              : ttt::TTTConfig::preset_fields(preset, model);
  if (!layers.empty()) config.set_layers(ttt::parse_layers(layers));
  if (chunk > 0) config.chunk = chunk;
  if (!lr.empty()) {
    std::size_t used = 0;
    double value = NAN;
    try {
      value = std::stod(lr, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != lr.size() || !std::isfinite(value))
      throw std::invalid_argument("--ttt-lr: expected a finite number, got '" + lr + "'");
    config.lr = value;
  }
  if (!target.empty()) config.target = ttt::parse_target(target);
  if (!proj.empty()) config.proj = proj == "on";
  if (!partial_chunk.empty()) config.partial_chunk = ttt::parse_partial_chunk(partial_chunk);
  if (!precision.empty()) config.precision = ttt::parse_precision(precision);
  try {
    config.validate(model);
  } catch (const std::exception& e) {
    throw std::invalid_argument(config_source + " with the --ttt-* flags: " + e.what());
  }
  return config;
}

std::optional<ttt::Init> TttFlags::missing_init() const {
  if (init.empty()) return std::nullopt;
  return ttt::parse_init(init);
}

}  // namespace tttmem::cli
