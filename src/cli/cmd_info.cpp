// tttmem info: summarise a model checkpoint: config, tensors, bytes, dtypes, shards.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "commands.h"
#include "tttmem/config.h"
#include "tttmem/io.h"

namespace tttmem::cli {

namespace {

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

nlohmann::json summarise(const std::filesystem::path& model) {
  nlohmann::json out;
  out["model"] = model.string();
  const auto config_path = model / "config.json";
  if (std::filesystem::is_directory(model) && std::filesystem::exists(config_path)) {
    const ModelConfig c = ModelConfig::load(model);  // the folder: config.json must be a file
    out["config"] = {{"model_type", c.model_type},
                     {"architectures", c.architectures},
                     {"num_hidden_layers", c.num_hidden_layers},
                     {"hidden_size", c.hidden_size},
                     {"num_attention_heads", c.num_attention_heads},
                     {"num_key_value_heads", c.num_key_value_heads},
                     {"head_dim", c.head_dim},
                     {"intermediate_size", c.intermediate_size},
                     {"vocab_size", c.vocab_size},
                     {"tie_word_embeddings", c.tie_word_embeddings},
                     {"rope_theta", c.rope_theta},
                     {"torch_dtype", c.torch_dtype}};
  } else {
    out["config"] = nullptr;
  }
  const io::Checkpoint ckpt = io::Checkpoint::open(model);
  out["tensors"] = ckpt.size();
  out["total_bytes"] = ckpt.total_bytes();
  nlohmann::json dtypes = nlohmann::json::object();
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> per_shard;  // file -> count, bytes
  for (const auto& name : ckpt.names()) {
    const io::TensorView& v = ckpt.get(name);
    auto& d = dtypes[std::string(io::dtype_name(v.dtype))];
    if (d.is_null()) d = {{"tensors", 0}, {"bytes", std::uint64_t{0}}};
    d["tensors"] = d["tensors"].get<std::uint64_t>() + 1;
    d["bytes"] = d["bytes"].get<std::uint64_t>() + v.nbytes;
    auto& s = per_shard[v.file.filename().string()];
    ++s.first;
    s.second += v.nbytes;
  }
  out["dtypes"] = dtypes;
  out["shards"] = nlohmann::json::array();
  for (const auto& [file, s] : per_shard)
    out["shards"].push_back({{"file", file}, {"tensors", s.first}, {"bytes", s.second}});
  return out;
}

void print_text(const nlohmann::json& s) {
  std::cout << "model:    " << s["model"].get<std::string>() << "\n";
  if (s["config"].is_null()) {
    std::cout << "config:   none (no config.json)\n";
  } else {
    const auto& c = s["config"];
    std::cout << "config:   " << c["model_type"].get<std::string>();
    for (const auto& a : c["architectures"]) std::cout << " " << a.get<std::string>();
    std::cout << "\n  layers " << c["num_hidden_layers"] << ", hidden " << c["hidden_size"]
              << ", heads " << c["num_attention_heads"] << " / kv heads "
              << c["num_key_value_heads"] << ", head_dim " << c["head_dim"]
              << "\n  intermediate " << c["intermediate_size"] << ", vocab " << c["vocab_size"]
              << ", tie_word_embeddings " << c["tie_word_embeddings"] << ", rope_theta "
              << c["rope_theta"] << ", dtype " << c["torch_dtype"].get<std::string>() << "\n";
  }
  const auto total = s["total_bytes"].get<std::uint64_t>();
  std::cout << "tensors:  " << s["tensors"] << "\n"
            << "bytes:    " << human_bytes(total) << " (" << total << " bytes)\n"
            << "dtypes:\n";
  for (const auto& [name, d] : s["dtypes"].items())
    std::cout << "  " << name << ": " << d["tensors"] << " tensors, "
              << human_bytes(d["bytes"].get<std::uint64_t>()) << "\n";
  std::cout << "shards:   " << s["shards"].size() << "\n";
  for (const auto& sh : s["shards"])
    std::cout << "  " << sh["file"].get<std::string>() << ": " << sh["tensors"] << " tensors, "
              << human_bytes(sh["bytes"].get<std::uint64_t>()) << " (" << sh["bytes"]
              << " bytes)\n";
}

}  // namespace

Action add_info(CLI::App& app, const GlobalOptions&) {
  auto* sub = app.add_subcommand(
      "info", "Summarise a model checkpoint: config, tensors, bytes, dtypes, shards");
  struct Options {
    std::string model;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  sub->add_option("--model", options->model,
                  "Checkpoint: a folder (config.json + model.safetensors or sharded with "
                  "model.safetensors.index.json) or a single .safetensors file")
      ->required();
  sub->add_flag("--json", options->json, "Print the summary as JSON instead of text");
  return [options]() -> int {
    const nlohmann::json summary = summarise(options->model);
    // A path that is not UTF-8 (a Latin-1 file name) is printed with U+FFFD in its place:
    // JSON text must be UTF-8.
    if (options->json)
      std::cout << summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    else
      print_text(summary);
    return 0;
  };
}

}  // namespace tttmem::cli
