// tttmem sanity: the gate a TTT checkpoint passes before any run (SPEC.md "sanity"). Loads the
// model and its TTT (TttFlags::setup), runs experiment::run_sanity, prints each check, writes
// --json, exits 1 when a required check fails.
#include <ATen/ATen.h>

#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "commands.h"
#include "flag_checks.h"
#include "ttt_flags.h"
#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/model.h"
#include "tttmem/sanity.h"
#include "tttmem/tokenizer.h"

namespace tttmem::cli {

namespace {

void print(const experiment::SanityCheck& check) {
  std::cout << (check.passed ? "[PASS] " : "[FAIL] ") << check.name
            << (check.required ? "" : " (reported, not required)") << ": "
            << (check.relation.empty() ? "no value" : "value ")
            << nlohmann::json(check.value).dump() << " " << check.relation << " "
            << nlohmann::json(check.threshold).dump() << " (" << check.seconds << " s)\n      "
            << check.description << "\n";
  for (const std::string& line : check.details) std::cout << "      " << line << "\n";
}

}  // namespace

Action add_sanity(CLI::App& app, const GlobalOptions& global) {
  auto* sub = app.add_subcommand(
      "sanity", "Check that the TTT graft is alive and behaves as specified; exit 1 if a "
                "required check fails");
  struct Options {
    std::string model, json, tokenizer;
    std::int64_t attention_window = 0;
    TttFlags ttt_flags;
  };
  auto o = std::make_shared<Options>();
  sub->add_option("--model", o->model, "Model folder (config.json + safetensors)")->required();
  o->ttt_flags.add_to(*sub);
  sub->add_option("--tokenizer", o->tokenizer,
                  "Tokenizer for the check texts (.tiktoken, tokenizer.json/.model or a folder); "
                  "default: --model");
  sub->add_option("--json", o->json, "Write the checks and their values to this JSON file");
  add_attention_window(*sub, o->attention_window);
  return [o, &global]() -> int {
    const at::Device device = model::parse_device(global.device);
    const at::ScalarType dtype = model::parse_compute_dtype(global.dtype, device);
    const ModelConfig config = ModelConfig::load(o->model);
    const io::Checkpoint checkpoint = io::Checkpoint::open(o->model);
    const std::optional<TttSetup> ttt =
        o->ttt_flags.setup(config, o->model, checkpoint, device, dtype, global.seed);
    if (!ttt)
      throw std::runtime_error(
          "sanity checks the TTT graft, but the model runs without TTT: " + o->model +
          "/config.json enables no TTT layer; give --ttt CKPT with --ttt-preset or "
          "--ttt-layers");
    std::unique_ptr<tokenizer::Tokenizer> tok;
    try {
      tok = tokenizer::Tokenizer::load(o->tokenizer.empty() ? o->model : o->tokenizer);
    } catch (const std::exception& e) {
      if (!o->tokenizer.empty()) throw;
      throw std::runtime_error(std::string(e.what()) +
                               "; give --tokenizer (e.g. configs/tokenizers/qwen3)");
    }
    model::Decoder decoder(config, checkpoint, device, dtype);
    if (o->attention_window > 0) decoder.set_attention_window(o->attention_window);
    log::info("sanity: TTT on ", ttt->config.layers.size(), " layers, chunk ",
              ttt->config.chunk, ", from ", ttt->source);

    const experiment::SanityReport report =
        experiment::run_sanity(decoder, *tok, ttt->config, ttt->params);
    std::size_t required = 0, passed = 0;
    for (const experiment::SanityCheck& check : report.checks) {
      print(check);
      required += check.required;
      passed += check.required && check.passed;
    }
    std::cout << "sanity: " << passed << "/" << required << " required checks passed"
              << (report.passed() ? "" : ": the graft is not fit to run") << "\n";
    if (!o->json.empty()) {
      nlohmann::ordered_json out;
      out["model"] = o->model;
      out["ttt"] = {{"source", ttt->source},
                    {"config", ttt->config.to_json()},
                    {"config_sources", ttt->sources}};
      out["device"] = global.device;
      out["dtype"] = c10::toString(dtype);
      const nlohmann::ordered_json checks = report.to_json();
      for (const auto& [key, value] : checks.items()) out[key] = value;
      io::atomic_write_file(o->json, out.dump(2) + "\n");
    }
    return report.passed() ? 0 : 1;
  };
}

}  // namespace tttmem::cli
