#include "ttt_flags.h"

#include "flag_checks.h"
#include "tttmem/log.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace tttmem::cli {

void TttFlags::add_to(CLI::App& sub) {
  sub.add_option("--ttt", checkpoint,
                 "TTT checkpoint (folder or .safetensors) holding the ttt_proj/ttt_conv tensors, "
                 "instead of the model's own; its TTT settings come from its metadata "
                 "(train-minimal records them), else from config.json's ttt_* fields and the "
                 "--ttt-* flags");
  sub.add_option("--ttt-preset", preset,
                 "TTT settings to start from instead of config.json: paper (every 6th layer, "
                 "chunk 4096, lr 3), seed (layers 0,6,...,30, chunk 64, lr 3), gemma3-study "
                 "(every 6th layer, chunk 2048, lr 0.3) or gemma3-global (the full-attention "
                 "layers, chunk 2048, lr 0.3)")
      ->check(CLI::IsMember(ttt::preset_names()));
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
  sub.add_flag("--ttt-override", override_recipe,
               "Let --ttt-* flags change what the --ttt checkpoint records it was trained with "
               "(ablations), and ignore its tensors for layers that are not TTT layers here");
  auto* no_ttt = sub.add_flag("--no-ttt", off,
                              "Run the base model even when config.json enables TTT");
  for (const char* name :
       {"--ttt-preset", "--ttt-layers", "--ttt-chunk", "--ttt-lr", "--ttt-target", "--ttt-proj",
        "--ttt-partial-chunk", "--ttt-precision", "--ttt-init", "--ttt-override"})
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
  std::optional<io::Checkpoint> ttt_checkpoint;
  std::optional<ttt::Recipe> recipe;
  if (!checkpoint.empty()) {
    ttt_checkpoint = io::Checkpoint::open(checkpoint);
    recipe = ttt::Recipe::from_metadata(*ttt_checkpoint);
  }
  if (override_recipe && checkpoint.empty())
    throw std::invalid_argument("--ttt-override: no --ttt checkpoint is given, so there is "
                                "nothing to override");
  TttResolution resolved = resolve(model, config_source, recipe ? &*recipe : nullptr, checkpoint);
  const ttt::TTTConfig& config = resolved.config;
  const bool tuned = !(preset.empty() && layers.empty() && target.empty() && proj.empty() &&
                       partial_chunk.empty() && precision.empty() && init.empty() &&
                       chunk == 0 && lr.empty());
  if (config.layers.empty()) {
    // Flags that would change nothing are refused: a silent base-model run is the failure the
    // seed experiment lost days to.
    if (!checkpoint.empty() || tuned)
      throw std::invalid_argument(
          std::string(checkpoint.empty() ? "the --ttt-* flags" : "--ttt") + ": " + config_source +
          " enables no TTT layer (ttt_mode, ttt_layers), " +
          (checkpoint.empty() ? std::string() : checkpoint + " records no TTT settings, ") +
          "and neither --ttt-preset nor --ttt-layers is given");
    return std::nullopt;
  }
  if (recipe) {
    // config.json describes the model's own TTT tensors; a separate checkpoint runs as trained.
    const nlohmann::json own = ttt::TTTConfig::fields_from_json(model.raw, config_source).to_json();
    const nlohmann::json used = config.to_json();
    for (const auto& [field, value] : used.items())
      if (model.raw.contains(field) && !model.raw[field].is_null() && own[field] != value &&
          field != "ttt_mode")
        log::warn("ttt: ", config_source, "'s ", field, " ", own[field].dump(), " is not used: ",
                  checkpoint, " was trained with ", recipe->config.to_json()[field].dump());
  }

  // The first TTT tensor the source lacks (empty: none): --ttt-init makes it, else an error.
  const io::Checkpoint& source = ttt_checkpoint ? *ttt_checkpoint : model_checkpoint;
  std::string missing;
  for (const std::int64_t layer : config.layers) {
    if (config.proj && source.find(ttt::proj_name(layer)) == nullptr)
      missing = ttt::proj_name(layer);
    else if (source.find(ttt::conv_name(layer)) == nullptr)
      missing = ttt::conv_name(layer);
    if (!missing.empty()) break;
  }
  TttSetup out{config, {}, ttt_checkpoint ? checkpoint : model_dir.string(), resolved.preset,
               !missing.empty() && !init.empty() ? init : recipe ? recipe->init : std::string(),
               resolved.sources};

  if (ttt_checkpoint) {
    // Tensors for layers the config does not run would be ignored silently: another experiment
    // than the one the checkpoint was trained for.
    std::vector<std::int64_t> extra;
    for (const std::int64_t layer : ttt::checkpoint_layers(*ttt_checkpoint)) {
      if (layer >= model.num_hidden_layers)
        throw std::invalid_argument(
            "--ttt " + checkpoint + ": holds TTT tensors for layer " + std::to_string(layer) +
            ", which the model (" + config_source + ") does not have: it has " +
            std::to_string(model.num_hidden_layers) + " layers");
      if (!config.is_ttt_layer(layer)) extra.push_back(layer);
    }
    if (override_recipe && !recipe && extra.empty())
      throw std::invalid_argument(
          "--ttt-override: " + checkpoint + " records no TTT settings (written before tttmem "
          "recorded them, or converted) and holds no tensors for other layers, so there is "
          "nothing to override");
    if (!extra.empty()) {
      const std::string what = "--ttt " + checkpoint + " holds TTT tensors for layers " +
                               join_layers(extra) + ", which are not TTT layers here (layers " +
                               join_layers(config.layers) + " from " +
                               out.sources["ttt_layers"].get<std::string>() + ")";
      if (!override_recipe)
        throw std::invalid_argument(what + ": give --ttt-layers to match the checkpoint, or "
                                           "--ttt-override to leave them out deliberately");
      log::warn("ttt: ", what, "; ignored (--ttt-override)");
    }
    out.params = ttt::TTTParams::load(*ttt_checkpoint, config, model, device, dtype,
                                      missing_init(), seed);
    return out;
  }
  // The model folder is the TTT checkpoint, as upstream's checkpoints are. Check here rather
  // than in TTTParams::load so that the message names the flags that fix it.
  if (init.empty() && !missing.empty())
    throw std::runtime_error(
        "TTT on layers " + join_layers(config.layers) + " (" + config_source +
        (tuned ? " and the --ttt-* flags" : "") + ") needs tensor " + missing + ", which " +
        model_checkpoint.location().string() +
        " does not hold: give --ttt CKPT (a checkpoint with the TTT tensors), or "
        "--ttt-init dense|diagonal to start from init weights");
  out.params =
      ttt::TTTParams::load(model_checkpoint, config, model, device, dtype, missing_init(), seed);
  return out;
}

TttResolution TttFlags::resolve(const ModelConfig& model, const std::string& config_source,
                                const ttt::Recipe* recipe, const std::string& recipe_source) const {
  static const std::vector<std::string> kFields = {"ttt_layers", "ttt_chunk", "ttt_lr",
                                                   "ttt_target", "ttt_proj", "ttt_partial_chunk",
                                                   "ttt_precision"};
  // A Gemma3 model grafted without a placement (no recipe, --ttt-preset, --ttt-layers or TTT
  // setting in config.json, but use_ttt/ttt_mode or another --ttt-* flag) gets gemma3-global: the
  // graft on the config's full-attention layers, where the adapter study meant it (DECISIONS.md
  // `## ttt`).
  std::string named = preset;
  if (named.empty() && recipe == nullptr && layers.empty() && model.model_type == "gemma3_text") {
    bool switched_on = false, configured = false;
    for (const auto& [field, value] : model.raw.items())
      if (field == "use_ttt" || field == "ttt_mode")
        switched_on |= value.is_boolean() && value.get<bool>();
      else if (field.rfind("ttt_", 0) == 0 && !value.is_null())
        configured = true;
    const bool flagged = !init.empty() || chunk > 0 || !lr.empty() || !target.empty() ||
                         !proj.empty() || !partial_chunk.empty() || !precision.empty();
    if (!configured && (switched_on || flagged)) named = "gemma3-global";
  }
  TttResolution out;
  ttt::TTTConfig& config = out.config;
  out.sources = nlohmann::ordered_json::object();
  if (recipe != nullptr) {
    config = recipe->config;
    out.preset = recipe->preset;
    for (const std::string& field : kFields) out.sources[field] = "checkpoint " + recipe_source;
  } else if (!named.empty()) {
    config = ttt::TTTConfig::preset_fields(named, model);
    out.preset = named;
    for (const std::string& field : kFields)
      out.sources[field] = field == "ttt_layers" || field == "ttt_chunk" || field == "ttt_lr"
                               ? "preset " + named
                               : "default";
  } else {
    config = ttt::TTTConfig::fields_from_json(model.raw, config_source);
    for (const std::string& field : kFields) {
      const bool given = model.raw.contains(field) && !model.raw[field].is_null();
      const bool mode = field == "ttt_layers" && model.raw.contains("ttt_mode");
      out.sources[field] = given || mode ? "config.json" : "default";
    }
  }
  // One flag's change of one field. Against a recipe it must agree unless --ttt-override: a
  // checkpoint run under other settings than it was trained with is another experiment.
  auto apply = [&](const std::string& flag, const std::string& value, const char* field,
                   const auto& set) {
    ttt::TTTConfig changed = config;
    set(changed);
    const nlohmann::json before = config.to_json()[field], after = changed.to_json()[field];
    if (recipe != nullptr && before != after) {
      if (!override_recipe)
        throw std::invalid_argument(
            flag + " " + value + " contradicts --ttt " + recipe_source +
            ", which was trained with " + field + " " + before.dump() + " (" + flag + " gives " +
            after.dump() + "): drop the flag to run the checkpoint as trained, or add "
            "--ttt-override to change it deliberately");
      out.sources[field] = flag + " (overriding the checkpoint's " + before.dump() + ")";
    } else if (recipe == nullptr) {
      out.sources[field] = flag;
    }
    config = changed;
  };
  if (!preset.empty() && recipe != nullptr) {
    const ttt::TTTConfig named = ttt::TTTConfig::preset_fields(preset, model);
    apply("--ttt-preset", preset, "ttt_layers", [&](ttt::TTTConfig& c) { c.layers = named.layers; });
    apply("--ttt-preset", preset, "ttt_chunk", [&](ttt::TTTConfig& c) { c.chunk = named.chunk; });
    apply("--ttt-preset", preset, "ttt_lr", [&](ttt::TTTConfig& c) { c.lr = named.lr; });
    if (override_recipe) out.preset = preset;
  }
  if (!layers.empty()) {
    const auto parsed = ttt::parse_layers(layers);
    apply("--ttt-layers", layers, "ttt_layers", [&](ttt::TTTConfig& c) { c.set_layers(parsed); });
  }
  if (chunk > 0)
    apply("--ttt-chunk", std::to_string(chunk), "ttt_chunk", [&](ttt::TTTConfig& c) { c.chunk = chunk; });
  if (!lr.empty()) {
    const double value = finite_number(lr, "--ttt-lr");
    apply("--ttt-lr", lr, "ttt_lr", [&](ttt::TTTConfig& c) { c.lr = value; });
  }
  if (!target.empty())
    apply("--ttt-target", target, "ttt_target",
          [&](ttt::TTTConfig& c) { c.target = ttt::parse_target(target); });
  if (!proj.empty())
    apply("--ttt-proj", proj, "ttt_proj", [&](ttt::TTTConfig& c) { c.proj = proj == "on"; });
  if (!partial_chunk.empty())
    apply("--ttt-partial-chunk", partial_chunk, "ttt_partial_chunk", [&](ttt::TTTConfig& c) {
      c.partial_chunk = ttt::parse_partial_chunk(partial_chunk);
    });
  if (!precision.empty())
    apply("--ttt-precision", precision, "ttt_precision",
          [&](ttt::TTTConfig& c) { c.precision = ttt::parse_precision(precision); });
  try {
    config.validate(model);
  } catch (const std::exception& e) {
    throw std::invalid_argument(
        (recipe != nullptr ? "the TTT settings --ttt " + recipe_source + " records"
                           : config_source) +
        " with the --ttt-* flags: " + e.what());
  }
  return out;
}

std::optional<ttt::Init> TttFlags::missing_init() const {
  if (init.empty()) return std::nullopt;
  return ttt::parse_init(init);
}

}  // namespace tttmem::cli
