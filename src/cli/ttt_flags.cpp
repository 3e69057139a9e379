#include "ttt_flags.h"

#include "flag_checks.h"

#include <cmath>
#include <stdexcept>

namespace tttmem::cli {

void TttFlags::add_to(CLI::App& sub) {
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
                 "A stream's partial last chunk: seed (never written, upstream) or flush")
      ->check(CLI::IsMember({"seed", "flush"}));
  sub.add_option("--ttt-precision", precision,
                 "Fast weight: upstream (dense, model dtype, upstream rounding) or fp32 "
                 "(fp32 delta, low-rank while small)")
      ->check(CLI::IsMember({"upstream", "fp32"}));
  sub.add_option("--ttt-init", init,
                 "Initialise TTT tensors missing from the checkpoint: dense (normal 0.02, the "
                 "seed's) or diagonal (upstream training code's); conv starts at zero. "
                 "Without it a missing tensor is an error")
      ->check(CLI::IsMember({"dense", "diagonal"}));
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
