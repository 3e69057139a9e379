// tttmem init-model: Write a random-initialised checkpoint in the real Hugging Face layout.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "commands.h"
#include "flag_checks.h"
#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/model.h"
#include "tttmem/tensor_io.h"

namespace tttmem::cli {

Action add_init_model(CLI::App& app, const GlobalOptions& global) {
  auto* sub = app.add_subcommand(
      "init-model", "Write a random-initialised checkpoint in the real Hugging Face layout");
  struct Options {
    std::string config, out;
    int shards = 1;
    std::string max_shard_size;
  };
  auto options = std::make_shared<Options>();
  sub->add_option("--config", options->config, "Model config (e.g. configs/models/tiny-qwen3.json)")
      ->required();
  sub->add_option("--out", options->out, "Output folder (config.json + safetensors)")
      ->required()
      ->check(output_folder());
  sub->add_option("--shards", options->shards,
                  "Number of safetensors shards (1: model.safetensors; more: shards + index)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--max-shard-size", options->max_shard_size,
                  "Split like Hugging Face's save_pretrained(max_shard_size=...): e.g. 4GB "
                  "(10^9) or 4GiB; 4GB gives Qwen3-8B's real 5-shard layout")
      ->excludes("--shards");
  return [options, &global]() -> int {
    const ModelConfig config = ModelConfig::load(options->config);
    const std::filesystem::path out = options->out;
    // Every check before the first byte: no weights without their config.json.
    io::check_output_path(out / "config.json");
    const io::ShardSplit split =
        options->max_shard_size.empty()
            ? io::ShardSplit(options->shards)
            : io::ShardSplit::by_max_bytes(
                  io::parse_byte_size(options->max_shard_size, "--max-shard-size"));
    double bytes = 0;
    for (const model::TensorSpec& spec : model::tensor_specs(config))
      bytes += static_cast<double>(spec.numel()) * (config.torch_dtype == "float32" ? 4 : 2);
    if (bytes > physical_memory_bytes()) {
      char message[256];
      std::snprintf(message, sizeof message,
                    "%s: the model's weights need %.1f GB (%s), more than this machine's %.1f GB "
                    "of memory", options->config.c_str(), bytes / 1e9, config.torch_dtype.c_str(),
                    physical_memory_bytes() / 1e9);
      throw std::runtime_error(message);
    }
    std::filesystem::create_directories(out);
    log::info("init-model: ", config.num_hidden_layers, " layers, hidden ", config.hidden_size,
              ", vocab ", config.vocab_size, ", seed ", global.seed, " -> ", out.string());
    const auto tensors = model::init_weights(config, global.seed);
    io::save_checkpoint(out, tensors, split);
    io::atomic_write_file(out / "config.json", config.to_json().dump(2) + "\n");
    log::info("init-model: wrote ", tensors.size(), " tensors to ", out.string());
    return 0;
  };
}

}  // namespace tttmem::cli
