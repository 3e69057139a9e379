// The checkpoint layout and `tttmem init-model`.
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <fstream>
#include <map>
#include <set>

#include "model_test_util.h"

namespace tttmem::test {
namespace {

TEST(Layout, Qwen3_8bTensorListMatchesTheRealCheckpoint) {
  const ModelConfig config = ModelConfig::load(source_dir() / "configs/models/qwen3-8b.json");
  const auto specs = model::tensor_specs(config);
  std::int64_t bytes = 0;
  std::set<std::string> names;
  for (const auto& spec : specs) {
    bytes += spec.numel() * 2;  // bf16
    names.insert(spec.name);
  }
  // Figures from the Qwen/Qwen3-8B model card (SPEC.md "Data the repository ships").
  EXPECT_EQ(specs.size(), 399u);
  EXPECT_EQ(names.size(), 399u);
  EXPECT_EQ(bytes, 16'381'470'720);
  EXPECT_EQ(specs.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(specs.back().name, "lm_head.weight");
  EXPECT_EQ(specs.back().shape, (std::vector<std::int64_t>{151936, 4096}));
  EXPECT_TRUE(names.count("model.layers.35.mlp.down_proj.weight"));
  EXPECT_FALSE(names.count("model.layers.36.mlp.down_proj.weight"));
  ModelConfig tied = config;
  tied.tie_word_embeddings = true;
  EXPECT_EQ(model::tensor_specs(tied).size(), 398u);
}

TEST(Layout, Gemma3_1bTensorListHasTheRealShapes) {
  const ModelConfig config = ModelConfig::load(source_dir() / "configs/models/gemma3-1b.json");
  const auto specs = model::tensor_specs(config);
  std::int64_t params = 0;
  for (const auto& spec : specs) params += spec.numel();
  // 302.0M embeddings (tied: no lm_head) + 26 blocks of 26.84M + the final norm.
  EXPECT_EQ(specs.size(), 1u + 26 * 13 + 1);
  EXPECT_EQ(params, 262144LL * 1152 + 26 * 26'842'112LL + 1152);
  EXPECT_EQ(specs.back().name, "model.norm.weight");
  std::map<std::string, model::TensorSpec> by_name;
  for (const auto& spec : specs) by_name.emplace(spec.name, spec);
  EXPECT_EQ(by_name.at("model.layers.25.self_attn.q_proj.weight").shape,
            (std::vector<std::int64_t>{1024, 1152}));
  EXPECT_EQ(by_name.at("model.layers.25.self_attn.k_proj.weight").shape,
            (std::vector<std::int64_t>{256, 1152}));
  EXPECT_EQ(by_name.at("model.layers.0.mlp.down_proj.weight").shape,
            (std::vector<std::int64_t>{1152, 6912}));
  EXPECT_EQ(by_name.at("model.layers.0.post_feedforward_layernorm.weight").init, model::Init::zeros);
  // Full attention on layers 5, 11, 17, 23; a 512-token window elsewhere.
  const std::vector<std::int64_t> windows = config.attention_windows();
  for (std::int64_t i = 0; i < 26; ++i)
    EXPECT_EQ(windows[static_cast<std::size_t>(i)], (i + 1) % 6 == 0 ? 0 : 512) << i;
}

// Hugging Face's Gemma tokenizer puts <bos> (2) before every sequence; Qwen3's adds nothing.
TEST(Layout, SequencesStartWithBosWhereTheFamilysTokenizerAddsIt) {
  const ModelConfig qwen = ModelConfig::load(source_dir() / "configs/models/qwen3-8b.json");
  EXPECT_EQ(model::sequence_bos(qwen), std::nullopt);
  ModelConfig gemma = ModelConfig::load(source_dir() / "configs/models/gemma3-1b.json");
  EXPECT_EQ(model::sequence_bos(gemma), std::optional<std::int64_t>(2));
  gemma.bos_token_id = 7;
  EXPECT_EQ(model::sequence_bos(gemma), std::optional<std::int64_t>(7));
  gemma.bos_token_id.reset();
  EXPECT_THROW(
      {
        try {
          model::sequence_bos(gemma);
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("bos_token_id"), std::string::npos) << e.what();
          throw;
        }
      },
      std::runtime_error);
}

TEST(InitModel, TinyGemma3StartsFromZeroCentredNormsAndRuns) {
  c10::InferenceMode inference;
  ScratchDir dir;
  const CommandResult run = run_tttmem("init-model --config " +
                                       (source_dir() / "configs/models/tiny-gemma3.json").string() +
                                       " --seed 3 --out " + (dir / "m").string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const ModelConfig config = ModelConfig::load(dir / "m");
  EXPECT_EQ(config.model_type, "gemma3_text");
  const io::Checkpoint checkpoint = io::Checkpoint::open(dir / "m");
  EXPECT_EQ(checkpoint.find("lm_head.weight"), nullptr);
  for (const auto& spec : model::tensor_specs(config)) {
    const at::Tensor t = io::as_tensor(checkpoint.get(spec.name)).to(at::kFloat);
    if (spec.init == model::Init::zeros)  // (1 + w): HF's Gemma3 init
      EXPECT_TRUE((t == 0).all().item<bool>()) << spec.name;
    else
      EXPECT_NEAR(t.std().item<double>(), 0.02, 0.002) << spec.name;
  }
  model::Decoder model(config, checkpoint, at::kCPU, at::kFloat);
  const at::Tensor logits = model.forward(at::arange(300, at::kLong).unsqueeze(0));  // > window
  EXPECT_EQ(logits.sizes(), (at::IntArrayRef{1, 300, 4096}));
  EXPECT_TRUE(logits.isfinite().all().item<bool>());
}

TEST(Layout, Qwen3_8bFourGbShardsAreTheRealSplit) {
  // The real checkpoint: 5 shards, lm_head alone in the last, a layer split over two shards
  // (the Qwen/Qwen3-8B model card). save_pretrained's max_shard_size "4GB" reproduces it.
  const ModelConfig config = ModelConfig::load(source_dir() / "configs/models/qwen3-8b.json");
  const auto specs = model::tensor_specs(config);
  std::vector<std::uint64_t> bytes;
  for (const auto& spec : specs) bytes.push_back(static_cast<std::uint64_t>(spec.numel()) * 2);
  const auto first = io::plan_shards(bytes, io::ShardSplit::by_max_bytes(4'000'000'000));
  ASSERT_EQ(first.size(), 5u);
  EXPECT_EQ(first.back(), specs.size() - 1);
  EXPECT_EQ(specs[first.back()].name, "lm_head.weight");
  const auto layer_of = [&](std::size_t i) {
    const std::string& name = specs[i].name;
    return name.substr(0, name.find('.', std::string("model.layers.").size()));
  };
  int split_layers = 0;
  for (std::size_t s = 1; s + 1 < first.size(); ++s)
    split_layers += layer_of(first[s] - 1) == layer_of(first[s]);
  EXPECT_GT(split_layers, 0) << "no layer spans two shards";
}

TEST(InitModel, WritesAShardedLoadableDeterministicCheckpoint) {
  c10::InferenceMode inference;
  ScratchDir dir;
  const std::string config = (source_dir() / "configs/models/tiny-qwen3.json").string();
  for (const char* name : {"a", "b"}) {
    const CommandResult run = run_tttmem("init-model --config " + config + " --seed 7 --shards 3 --out " +
                                         (dir / name).string());
    ASSERT_EQ(run.exit_code, 0) << run.output;
  }
  ASSERT_EQ(run_tttmem("init-model --config " + config + " --seed 8 --out " + (dir / "c").string())
                .exit_code, 0);
  ASSERT_TRUE(std::filesystem::exists(dir / "a" / "model.safetensors.index.json"));
  ASSERT_TRUE(std::filesystem::exists(dir / "c" / "model.safetensors"));

  const ModelConfig written = ModelConfig::load(dir / "a");
  const ModelConfig expected = ModelConfig::load(config);
  EXPECT_EQ(written.to_json(), expected.to_json());
  const io::Checkpoint a = io::Checkpoint::open(dir / "a");
  const io::Checkpoint b = io::Checkpoint::open(dir / "b");
  const io::Checkpoint c = io::Checkpoint::open(dir / "c");
  EXPECT_EQ(a.shards().size(), 3u);
  const auto specs = model::tensor_specs(expected);
  EXPECT_EQ(a.size(), specs.size());
  for (const auto& spec : specs) {
    const io::TensorView& view = a.get(spec.name);
    EXPECT_EQ(view.shape, spec.shape) << spec.name;
    EXPECT_EQ(view.dtype, io::DType::BF16) << spec.name;
    const at::Tensor t = io::as_tensor(view).to(at::kFloat);
    EXPECT_TRUE(at::equal(t, io::as_tensor(b.get(spec.name)).to(at::kFloat))) << spec.name;
    if (spec.init != model::Init::normal) {
      EXPECT_EQ(spec.init, model::Init::ones) << spec.name;  // Qwen3 norms: x * w
      EXPECT_TRUE((t == 1).all().item<bool>()) << spec.name;
    } else {
      EXPECT_NEAR(t.std().item<double>(), 0.02, 0.002) << spec.name;
      EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.002) << spec.name;
      EXPECT_FALSE(at::equal(t, io::as_tensor(c.get(spec.name)).to(at::kFloat))) << spec.name;
    }
  }
  model::Decoder model(written, a, at::kCPU, at::kFloat);
  const at::Tensor logits = model.forward(at::arange(10, at::kLong).unsqueeze(0));
  EXPECT_EQ(logits.sizes(), (at::IntArrayRef{1, 10, 151936}));
  EXPECT_TRUE(logits.isfinite().all().item<bool>());
}

TEST(InitModel, ShardsSplitConsecutiveTensorsAndCutThroughLayers) {
  // Like the real Qwen3-8B index: tensors in state-dict order over the shards, so a layer's
  // tensors can sit in two shards. The fixture's config keeps this small (~2.3 MB fp32).
  ScratchDir dir;
  const CommandResult run =
      run_tttmem("init-model --config " + qwen3_reference("model/config.json").string() +
                 " --seed 1 --shards 5 --out " + (dir / "m").string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json index =
      nlohmann::json::parse(io::read_file(dir / "m" / "model.safetensors.index.json"));
  const auto specs = model::tensor_specs(ModelConfig::load(dir / "m"));
  ASSERT_EQ(index.at("weight_map").size(), specs.size());
  std::string previous = index.at("weight_map").at(specs.front().name);
  std::set<std::string> shards{previous}, split_layers;
  for (const auto& spec : specs) {
    const std::string shard = index.at("weight_map").at(spec.name);
    EXPECT_GE(shard, previous) << spec.name << ": shards must follow state-dict order";
    if (shard != previous && spec.name.rfind("model.layers.", 0) == 0 &&
        spec.name.find("self_attn.q_proj") == std::string::npos)
      split_layers.insert(spec.name.substr(0, spec.name.find('.', 13)));
    shards.insert(shard);
    previous = shard;
  }
  EXPECT_EQ(shards.size(), 5u);
  EXPECT_FALSE(split_layers.empty()) << "no layer spans two shards";
}

}  // namespace
}  // namespace tttmem::test
