// The experiment on a second model family: a tiny random Gemma3 with a sentencepiece tokenizer
// trained here (spm_train, Debian package `sentencepiece`), through train-minimal with the
// adapter study's preset and trainable set, then `run` in every condition of `all`.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "experiment_test_util.h"
#include "test_support.h"
#include "tttmem/experiment.h"
#include "tttmem/io.h"

namespace tttmem::experiment {
namespace {

std::map<std::pair<std::string, std::string>, std::string> answers(const std::filesystem::path& jsonl) {
  std::map<std::pair<std::string, std::string>, std::string> out;
  for (const Record& r : read_records(jsonl)) out[{r.sample_id, r.probe_id}] = r.predicted;
  return out;
}

TEST(Gemma3Pipeline, TrainsTheStudysSetAndRunsEveryCondition) {
  if (test::run_command("command -v spm_train >/dev/null").exit_code != 0)
    GTEST_SKIP() << "spm_train not installed (Debian package sentencepiece)";
  test::ScratchDir dir;
  const auto path = [&](const std::string& name) { return (dir / name).string(); };
  auto tttmem = [&](const std::string& args) {
    const test::CommandResult result = test::run_tttmem(args);
    EXPECT_EQ(result.exit_code, 0) << "tttmem " << args << "\n" << result.output;
    return result;
  };
  tttmem("build-benchmark --format v2 --samples-per-level 2 --seed 5 --out " + path("bench.json"));
  // A Gemma-style tokenizer: pad 0, eos 1, bos 2, unk 3, byte fallback.
  const nlohmann::json bench = nlohmann::json::parse(io::read_file(dir / "bench.json"));
  {
    std::ofstream corpus(dir / "corpus.txt"), data(dir / "train.jsonl");
    for (const auto& sample : bench.at("samples")) {
      corpus << sample.at("conversation").get<std::string>() << "\n";
      data << nlohmann::json{{"text", sample.at("conversation")}}.dump() << "\n";
    }
  }
  ASSERT_EQ(test::run_command("spm_train --input=" + path("corpus.txt") + " --model_prefix=" +
                              path("spm") + " --vocab_size=600 --model_type=bpe --pad_id=0 "
                              "--eos_id=1 --bos_id=2 --unk_id=3 --byte_fallback=true "
                              "--num_threads=1 --minloglevel=2 >/dev/null 2>&1")
                .exit_code,
            0);
  tttmem("init-model --config " + (test::source_dir() / "configs/models/tiny-gemma3.json").string() +
         " --seed 1 --out " + path("base"));
  const std::string common = " --tokenizer " + path("spm.model") + " --benchmark " +
                             path("bench.json") + " --condition all --limit 1 --batch-size 4";
  // Fresh adapter: the study's diagonal ttt_proj and zero conv make the graft an exact no-op, so
  // B (fast weights only) answers as C (nothing) does.
  tttmem("run --model " + path("base") + common +
         " --ttt-preset gemma3-study --ttt-chunk 16 --ttt-init diagonal --out " + path("fresh"));
  const auto fresh_c = answers(dir / "fresh" / "condition_c.jsonl");
  ASSERT_FALSE(fresh_c.empty());
  EXPECT_EQ(answers(dir / "fresh" / "condition_b.jsonl"), fresh_c);
  const nlohmann::json run = nlohmann::json::parse(io::read_file(dir / "fresh" / "run.json"));
  EXPECT_EQ(run.at("ttt").at("config").at("ttt_layers"), nlohmann::json::array({0}));

  // The study's trainable set: ttt_proj, ttt_conv and down_proj of its TTT layer.
  const test::CommandResult train =
      tttmem("train-minimal --model " + path("base") + " --tokenizer " + path("spm.model") +
             " --data " + path("train.jsonl") + " --out " + path("trained") +
             " --steps 6 --lr 1e-3 --seq-len 128 --trainable ttt+down --ttt-preset gemma3-study "
             "--ttt-chunk 16 --ttt-init diagonal");
  EXPECT_NE(train.output.find("3 trainable tensors"), std::string::npos) << train.output;
  tttmem("run --model " + path("trained/model") + " --ttt " + path("trained/ttt.safetensors") +
         common + " --out " + path("trained_run"));
  for (const char* condition : {"a", "b", "c", "d"})
    EXPECT_EQ(answers(dir / "trained_run" / ("condition_" + std::string(condition) + ".jsonl")).size(),
              answers(dir / "fresh" / ("condition_" + std::string(condition) + ".jsonl")).size())
        << condition;
}

}  // namespace
}  // namespace tttmem::experiment
