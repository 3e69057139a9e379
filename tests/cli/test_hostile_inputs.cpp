// Hostile inputs through the binary (issue 9): hangs, resource blow-ups, values that wrapped
// silently, and errors that were raw library messages. Each must end with a message naming the
// flag, file or field and what was expected, exit 1 (runtime) or 2 (usage).
#include <nlohmann/json.hpp>

#include "hostile_util.h"

namespace tttmem::test {
namespace {

// Hangs: open() of a FIFO blocks until a writer appears.
TEST(HostileHangs, FifoAsSafetensorsOrConfigIsRefusedAtOnce) {
  const ScratchDir dir;
  const auto fifo = make_fifo(dir / "weights.safetensors");
  expect_failure(run_tttmem_within(20, "info --model '" + fifo.string() + "'"),
                 {1, {fifo.string(), "is a FIFO, expected a regular file"}}, "FIFO safetensors");
  std::filesystem::create_directory(dir / "model");
  make_fifo(dir / "model" / "config.json");
  expect_failure(run_tttmem_within(20, "info --model '" + (dir / "model").string() + "'"),
                 {1, {"config.json is a FIFO, expected a regular file"}}, "FIFO config.json");
  expect_failure(
      run_tttmem_within(20, "forward --ids 1 --out '" + (dir / "o.safetensors").string() +
                                "' --model '" + (dir / "model").string() + "'"),
      {1, {"config.json is a FIFO, expected a regular file"}}, "forward, FIFO config.json");
}

// Resource blow-ups: sizes are checked before anything is allocated from them.
TEST(HostileResources, TooManyTokensAreRefusedBeforeLoading) {
  const ScratchDir dir;
  std::filesystem::create_directory(dir / "model");
  write_text(dir / "model" / "config.json", tiny_config_json(4096));
  std::string ids = "1";
  for (int i = 1; i < 65536; ++i) ids += ",1";
  write_text(dir / "args", "--ids " + ids);
  expect_failure(run_tttmem_within(20, "forward --model '" + (dir / "model").string() + "' --out '" +
                                           (dir / "o.safetensors").string() + "' $(cat '" +
                                           (dir / "args").string() + "')"),
                 {1, {"65536 tokens", "max_position_embeddings (4096)"}}, "65k ids");
  EXPECT_FALSE(std::filesystem::exists(dir / "o.safetensors"));
}

TEST(HostileResources, HugeSamplesPerLevelIsAUsageError) {
  const ScratchDir dir;
  expect_failure(run_tttmem_within(20, "build-benchmark --samples-per-level 1000000000 --out '" +
                                           (dir / "b.json").string() + "'"),
                 {2, {"--samples-per-level", "'1000000000' is out of range", "from 1 to 10000"}},
                 "1e9 samples");
  EXPECT_FALSE(std::filesystem::exists(dir / "b.json"));
}

TEST(HostileResources, HugeConfigIsRefusedByField) {
  const ScratchDir dir;
  auto config = nlohmann::json::parse(tiny_config_json());
  config["num_hidden_layers"] = 1000000000;
  write_text(dir / "huge.json", config.dump());
  expect_failure(run_tttmem_within(20, "init-model --config '" + (dir / "huge.json").string() +
                                           "' --out '" + (dir / "m").string() + "'"),
                 {1, {"field 'num_hidden_layers'", "1000000000 is beyond the supported maximum"}},
                 "1e9 layers");
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "model.safetensors"));
}

// Unclear: sizes within the limits that this machine cannot hold.
TEST(HostileUnclear, InitModelTooLargeForMemorySaysSo) {
  const ScratchDir dir;
  auto config = nlohmann::json::parse(tiny_config_json());
  config["vocab_size"] = 4000000;
  config["hidden_size"] = 131072;
  write_text(dir / "big.json", config.dump());
  expect_failure(run_tttmem_within(20, "init-model --config '" + (dir / "big.json").string() +
                                           "' --out '" + (dir / "m").string() + "'"),
                 {1, {"big.json: the model's weights need", "more than this machine's"}},
                 "unallocatable sizes");
}

// Accepted but wrong: numbers past 64 bits wrapped silently.
TEST(HostileAccepted, NumbersBeyondTheirRangeAreUsageErrors) {
  const ScratchDir dir;
  const std::string out = " --out '" + (dir / "o").string() + "'";
  expect_failure(run_tttmem("--seed 18446744073709551616 build-benchmark --samples-per-level 1" + out),
                 {2, {"--seed", "'18446744073709551616' is out of range"}}, "seed 2^64");
  expect_failure(run_tttmem("forward --model m --ids 1 --ttt m --ttt-chunk 99999999999999999999" + out),
                 {2, {"--ttt-chunk", "'99999999999999999999' is out of range"}}, "chunk 1e20");
  write_text(dir / "tiny.json", tiny_config_json());
  expect_failure(run_tttmem("init-model --config '" + (dir / "tiny.json").string() +
                            "' --max-shard-size 999999999999GiB --out '" + (dir / "m").string() + "'"),
                 {1, {"--max-shard-size", "'999999999999GiB' is more than 2^64 bytes"}},
                 "shard size 1e12 GiB");
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "model.safetensors"));
}

// Unclear: raw library messages (309-digit ranges, "Is a directory", JSON type errors).
TEST(HostileUnclear, ZeroCountsGiveTheRange) {
  const ScratchDir dir;
  const std::string out = " --out '" + (dir / "o").string() + "'";
  for (const std::string& args :
       {"build-benchmark --samples-per-level 0" + out, "forward --model m --ids 1 --ttt m --ttt-chunk 0" + out}) {
    const CommandResult r = run_tttmem(args);
    expect_failure(r, {2, {"expected a whole number from 1 to"}}, args);
    EXPECT_LT(r.output.size(), 400u) << r.output;
  }
}

TEST(HostileUnclear, EmptyOutputPathIsAUsageError) {
  for (const std::string& args : {"build-benchmark --out ''", "forward --model m --ids 1 --out ''",
                                  "init-model --config c --out ''"})
    expect_failure(run_tttmem(args), {2, {"--out", "is empty"}}, args);
}

TEST(HostileUnclear, ModelGivenAsSafetensorsFileOrFolderConfig) {
  const ScratchDir dir;
  const auto model = make_tiny_model(dir);
  const std::string out = " --ids 1 --out '" + (dir / "o.safetensors").string() + "'";
  expect_failure(run_tttmem("forward --model '" + (model / "model.safetensors").string() + "'" + out),
                 {1, {"model.safetensors: is a .safetensors file; expected a model folder"}},
                 "--model FILE.safetensors");
  std::filesystem::remove(model / "config.json");
  std::filesystem::create_directory(model / "config.json");
  expect_failure(run_tttmem("forward --model '" + model.string() + "'" + out),
                 {1, {"config.json is a folder, expected a regular file"}}, "config.json folder");
  expect_failure(run_tttmem("info --model '" + model.string() + "'"),
                 {1, {"config.json is a folder, expected a regular file"}}, "info, config.json folder");
}

TEST(HostileUnclear, TokenizeFileGivenAFolder) {
  const ScratchDir dir;
  const auto ranks = write_byte_ranks(dir / "bytes.tiktoken");
  expect_failure(run_tttmem("tokenize --tokenizer '" + ranks.string() + "' --file '" +
                            dir.path().string() + "'"),
                 {1, {dir.path().string() + " is a folder, expected a regular file"}}, "--file DIR");
}

TEST(HostileUnclear, NonUtf8PathWithJsonStillPrintsJson) {
  const ScratchDir dir;
  const auto model = make_tiny_model(dir);
  const auto odd = dir / "mod\xff\xfe";
  std::filesystem::rename(model, odd);
  const CommandResult r =
      run_command("{ '" TTTMEM_BINARY "' info --json --model '" + odd.string() + "' 2>/dev/null; }");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_TRUE(contains(j["model"].get<std::string>(), "mod\xEF\xBF\xBD")) << j["model"];
  EXPECT_EQ(j["tensors"], 2 * 11 + 3);
}

}  // namespace
}  // namespace tttmem::test
