// The experiment on a second model family: a tiny random Gemma3 with a sentencepiece tokenizer
// trained here (spm_train, Debian package `sentencepiece`), through train-minimal with the
// adapter study's preset and trainable set, then `run` in every condition of `all`.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "experiment_test_util.h"
#include "test_support.h"
#include "tttmem/experiment.h"
#include "tttmem/io.h"
#include "tttmem/ruler.h"

namespace tttmem::experiment {
namespace {

std::map<std::pair<std::string, std::string>, std::string> answers(const std::filesystem::path& jsonl) {
  std::map<std::pair<std::string, std::string>, std::string> out;
  for (const Record& r : read_records(jsonl)) out[{r.sample_id, r.probe_id}] = r.predicted;
  return out;
}

// A tiny random Gemma3 and a Gemma-style sentencepiece tokenizer (pad 0, eos 1, bos 2, unk 3,
// byte fallback) trained on a small conversation benchmark's texts.
class Gemma3Pipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::run_command("command -v spm_train >/dev/null").exit_code != 0)
      GTEST_SKIP() << "spm_train not installed (Debian package sentencepiece)";
    tttmem("build-benchmark --format v2 --samples-per-level 2 --seed 5 --out " + path("bench.json"));
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
    tttmem("init-model --config " +
           (test::source_dir() / "configs/models/tiny-gemma3.json").string() + " --seed 1 --out " +
           path("base"));
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  test::CommandResult tttmem(const std::string& args) const {
    const test::CommandResult result = test::run_tttmem(args);
    EXPECT_EQ(result.exit_code, 0) << "tttmem " << args << "\n" << result.output;
    return result;
  }
  test::ScratchDir dir;
};

TEST_F(Gemma3Pipeline, TrainsTheStudysSetAndRunsEveryCondition) {
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

  // No placement given: a Gemma3 graft goes on the config's full-attention layers (tiny-gemma3:
  // layer 5 of 6).
  tttmem("run --model " + path("base") + common + " --ttt-chunk 16 --ttt-init diagonal --out " +
         path("default_graft"));
  const nlohmann::json placed =
      nlohmann::json::parse(io::read_file(dir / "default_graft" / "run.json"));
  EXPECT_EQ(placed.at("ttt").at("config").at("ttt_layers"), nlohmann::json::array({5}));
  EXPECT_EQ(placed.at("ttt").at("preset"), "gemma3-global");

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

// The study's three modes on a RULER file counted in the model's own tokens.
TEST_F(Gemma3Pipeline, RulerSamplesRunInTheStudysThreeModes) {
  tttmem("build-benchmark --format ruler --task niah_single --length 1024 --samples 3 --tokenizer " +
         path("spm.model") + " --out " + path("ruler.json"));
  for (const char* mode : {"in_context", "ttt_paper", "ttt_strict"})
    tttmem("run --model " + path("base") + " --tokenizer " + path("spm.model") + " --benchmark " +
           path("ruler.json") + " --condition " + mode + " --max-new-tokens 16 --batch-size 2 " +
           "--ttt-preset gemma3-study --ttt-chunk 64 --ttt-init diagonal --out " + path("modes"));
  tttmem("run --model " + path("base") + " --tokenizer " + path("spm.model") + " --benchmark " +
         path("ruler.json") + " --condition ttt_strict --ingest-bos --max-new-tokens ruler " +
         "--ttt-preset gemma3-study --ttt-chunk 64 --ttt-init diagonal --out " + path("modes_bos"));
  const nlohmann::json ruler = nlohmann::json::parse(io::read_file(dir / "ruler.json"));
  const auto tok = tokenizer::Tokenizer::load(dir / "spm.model");
  std::map<std::string, std::map<std::string, Record>> by_mode;
  for (const char* mode : {"in_context", "ttt_paper", "ttt_strict"})
    for (Record& r : read_records(dir / "modes" / ("condition_" + std::string(mode) + ".jsonl")))
      by_mode[mode][r.sample_id] = std::move(r);
  for (Record& r : read_records(dir / "modes_bos" / "condition_ttt_strict.jsonl"))
    by_mode["ttt_strict_bos"][r.sample_id] = std::move(r);
  // On a RULER file ttt_paper decodes as the study did, with the base down_proj.
  EXPECT_EQ(nlohmann::json::parse(io::read_file(dir / "modes" / "identity_ttt_paper.json"))
                .at("protocol_options")
                .at("paper_decode_base_down"),
            true);
  // --max-new-tokens ruler: the file's own budget for niah.
  EXPECT_EQ(nlohmann::json::parse(io::read_file(dir / "modes_bos" / "identity_ttt_strict.json"))
                .at("protocol_options")
                .at("max_new_tokens"),
            ruler.at("tokens_to_generate"));
  EXPECT_EQ(ruler.at("tokens_to_generate"), 128);
  for (const auto& sample : ruler.at("samples")) {
    const std::string id = sample.at("id");
    SCOPED_TRACE(id);
    const Record& in_context = by_mode.at("in_context").at(id);
    const Record& paper = by_mode.at("ttt_paper").at(id);
    const Record& strict = by_mode.at("ttt_strict").at(id);
    EXPECT_EQ(in_context.gold, sample.at("answer"));
    // The document is in the prompt of the first two and ingested, whole, by the third: prompts
    // start with BOS (Gemma's tokenizer adds it), the ingested document has none unless asked.
    const std::string document = sample.at("document"), question = sample.at("question");
    auto tokens = [&](const std::string& text) {
      return static_cast<std::int64_t>(tok->encode(text).size());
    };
    EXPECT_EQ(in_context.prompt_tokens,
              1 + tokens("You are given a document and a question. Answer with just the value, no "
                         "explanation.\n\nDocument:\n" + document + "\n\nQuestion: " + question +
                         "\nAnswer:"));
    EXPECT_EQ(paper.prompt_tokens, in_context.prompt_tokens);
    EXPECT_EQ(strict.prompt_tokens,
              1 + tokens("Answer the following question with just the value, no explanation.\n\n"
                         "Question: " + question + "\nAnswer:"));
    EXPECT_EQ(strict.ingested_tokens, tokens(document));
    EXPECT_GT(strict.ingested_tokens, 400);
    EXPECT_EQ(by_mode.at("ttt_strict_bos").at(id).ingested_tokens, strict.ingested_tokens + 1);
    EXPECT_EQ(strict.ingest_truncated_from, 0);
    // A fresh adapter (zero conv) is an exact no-op: the study's untrained ttt_paper is its icl.
    EXPECT_EQ(paper.output_ids, in_context.output_ids);
    EXPECT_LE(in_context.generated_tokens, 16);
  }
  // The report: a cell per (task, length, mode), each scored both ways from the records.
  tttmem("evaluate --results " + path("modes") + " --benchmark " + path("ruler.json") +
         " --bootstrap 200 --out " + path("report"));
  const nlohmann::json report = nlohmann::json::parse(io::read_file(dir / "report" / "report.json"));
  ASSERT_EQ(report.at("cells").size(), 3u);
  for (const auto& cell : report.at("cells")) {
    SCOPED_TRACE(cell.dump());
    EXPECT_EQ(cell.at("task"), "niah_single");
    EXPECT_EQ(cell.at("length"), 1024);
    EXPECT_EQ(cell.at("n"), 3);
    double any_of = 0;
    for (const auto& [id, r] : by_mode.at(cell.at("condition").get<std::string>())) {
      const auto& sample = *std::find_if(ruler.at("samples").begin(), ruler.at("samples").end(),
                                         [&](const auto& s) { return s.at("id") == id; });
      any_of += ruler::any_of_match(r.predicted,
                                    sample.at("answer_aliases").get<std::vector<std::string>>());
    }
    EXPECT_DOUBLE_EQ(cell.at("any_of").get<double>(), any_of / 3);
    EXPECT_LE(cell.at("any_of_ci95")[0].get<double>(), cell.at("any_of").get<double>());
    // Latency as the study splits it: ttt_strict's ingestion, then its answer; the other modes
    // ingest nothing. No device peak on the CPU.
    double ingest = 0, answer = 0;
    for (const auto& [id, r] : by_mode.at(cell.at("condition").get<std::string>())) {
      ingest += r.ingest_seconds / 3;
      answer += r.seconds / 3;
    }
    EXPECT_NEAR(cell.at("mean_ingest_seconds").get<double>(), ingest, 1e-12);
    EXPECT_NEAR(cell.at("mean_answer_seconds").get<double>(), answer, 1e-12);
    EXPECT_NEAR(cell.at("mean_seconds").get<double>(), ingest + answer, 1e-12);
    EXPECT_GT(answer, 0);
    if (cell.at("condition") == "ttt_strict")
      EXPECT_GT(ingest, 0);
    else
      EXPECT_EQ(ingest, 0);
    EXPECT_TRUE(cell.at("peak_device_bytes").is_null());
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "report" / "results.md"));

  // Another length joins the same report (its folder's run.json names its benchmark).
  tttmem("build-benchmark --format ruler --task niah_single --length 1536 --samples 2 --tokenizer " +
         path("spm.model") + " --out " + path("ruler_1536.json"));
  tttmem("run --model " + path("base") + " --tokenizer " + path("spm.model") + " --benchmark " +
         path("ruler_1536.json") + " --condition in_context --max-new-tokens 16 --out " +
         path("modes_1536"));
  tttmem("evaluate --results " + path("modes") + " --also " + path("modes_1536") +
         " --bootstrap 0 --out " + path("report2"));
  const nlohmann::json both = nlohmann::json::parse(io::read_file(dir / "report2" / "report.json"));
  ASSERT_EQ(both.at("cells").size(), 4u);
  EXPECT_EQ(both.at("cells")[3].at("length"), 1536);
  EXPECT_EQ(both.at("cells")[3].at("n"), 2);
  EXPECT_TRUE(both.at("cells")[3].at("any_of_ci95").is_null());  // --bootstrap 0

  // Two folders with the same cell (ttt_strict at 1024, with and without --ingest-bos) cannot
  // share a report: refused by name before anything is written.
  const test::CommandResult clash = test::run_tttmem(
      "evaluate --results " + path("modes") + " --also " + path("modes_bos") + " --out " +
      path("report3"));
  EXPECT_EQ(clash.exit_code, 1) << clash.output;
  EXPECT_NE(clash.output.find("niah_single at 1024 tokens under condition ttt_strict is in both " +
                              path("modes") + " and " + path("modes_bos")),
            std::string::npos)
      << clash.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "report3"));
}

}  // namespace
}  // namespace tttmem::experiment
