// Hostile inputs to `run` and `train-minimal` through the binary: values that used to run
// anyway (an empty --samples, --limit 0, a NaN alpha, a prompt far past the context), CLI11's
// own range messages, and a conversation cut at the ingest limit that said nothing.
#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>

#include "hostile_util.h"

namespace tttmem::test {
namespace {

namespace fs = std::filesystem;

void expect_failure(const CommandResult& r, int exit_code, const std::vector<std::string>& parts,
                    const std::string& what) {
  EXPECT_EQ(r.exit_code, exit_code) << what << "\n" << r.output;
  for (const auto& part : parts) EXPECT_TRUE(contains(r.output, part)) << what << ": " << part << "\n" << r.output;
  EXPECT_FALSE(contains(r.output, "not in range")) << what << "\n" << r.output;
}

// Nothing but an empty folder may exist where a refused run was pointed.
bool wrote_nothing(const fs::path& out) { return !fs::exists(out) || fs::is_empty(out); }

// A tiny random Qwen3 with the Qwen tokenizer's vocabulary and a one-sample-per-level v1
// benchmark whose texts the tests edit.
class HostileRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir();
    auto r = run_tttmem("--seed 3 init-model --config '" +
                        (source_dir() / "configs/models/tiny-qwen3.json").string() + "' --out '" +
                        path("model").string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_tttmem("build-benchmark --seed 42 --samples-per-level 1 --out '" +
                   path("bench.json").string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete scratch_; }
  static fs::path path(const std::string& name) { return *scratch_ / name; }
  static std::string run_args(const std::string& benchmark, const std::string& out) {
    return "run --dtype fp32 --model '" + path("model").string() + "' --tokenizer '" +
           (source_dir() / "configs/tokenizers/qwen3").string() + "' --benchmark '" +
           path(benchmark).string() + "' --max-new-tokens 2 --out '" + path(out).string() + "' ";
  }
  // The benchmark with `edit` applied to its first sample, saved as `name`.
  static void edited(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    std::ifstream in(path("bench.json"), std::ios::binary);
    nlohmann::json bench = nlohmann::json::parse(in);
    edit(bench["samples"][0]);
    write_text(path(name), bench.dump());
  }
  static ScratchDir* scratch_;
};
ScratchDir* HostileRun::scratch_ = nullptr;

TEST_F(HostileRun, CountsOutOfRangeSayWhatIsAllowed) {
  const std::string run = run_args("bench.json", "usage") + "--condition c ";
  expect_failure(run_tttmem_within(20, run + "--batch-size 0"), 2,
                 {"--batch-size", "expected auto or a whole number from 1 to 65536, got '0'"},
                 "batch 0");
  expect_failure(run_tttmem_within(20, run + "--max-new-tokens 0"), 2,
                 {"--max-new-tokens", "'0' is out of range: expected a whole number from 1"},
                 "max-new-tokens 0");
  std::string ruler = run;
  ruler.replace(ruler.find("--max-new-tokens 2"), 18, "--max-new-tokens ruler");
  expect_failure(run_tttmem_within(60, ruler), 1,
                 {"--max-new-tokens ruler", "names no generation budget"}, "ruler budget on v1");
  expect_failure(run_tttmem_within(20, run + "--limit 0"), 2,
                 {"--limit", "'0' is out of range: expected a whole number from 1"}, "limit 0");
  expect_failure(run_tttmem_within(20, run + "--samples ''"), 2,
                 {"--samples", "expected comma-separated sample ids, got ''"}, "empty samples");
  expect_failure(run_tttmem_within(20, run + "--samples L1-0000,,L2-0000"), 2,
                 {"--samples", "got 'L1-0000,,L2-0000'"}, "empty entry");
  EXPECT_TRUE(wrote_nothing(path("usage")));
  expect_failure(run_tttmem_within(20, "train-minimal --model m --data d.jsonl --out '" +
                                           path("train").string() + "' --steps 0"),
                 2, {"--steps", "'0' is out of range: expected a whole number from 1"}, "steps 0");
  EXPECT_TRUE(wrote_nothing(path("train")));
}

TEST_F(HostileRun, NonFiniteAlphaIsRefused) {
  for (const char* alphas : {"nan", "0.5,inf"}) {
    expect_failure(run_tttmem_within(60, run_args("bench.json", "alphas") +
                                             "--condition b_scaled --alphas " + alphas),
                   1, {"--alphas", "is not a finite factor"}, alphas);
    EXPECT_TRUE(wrote_nothing(path("alphas")));
  }
}

TEST_F(HostileRun, PromptPastTheContextIsRefusedBeforeAnyWork) {
  // 600,000 words: far past tiny-qwen3's 4096 positions, gigabytes of activations if run.
  std::string question;
  question.reserve(3'000'000);
  for (int i = 0; i < 600'000; ++i) question += "word ";
  edited("long_question.json", [&](nlohmann::json& sample) { sample["probes"][0]["question"] = question; });
  expect_failure(run_tttmem_within(120, run_args("long_question.json", "long") + "--condition c"), 1,
                 {"probe L1-0000/P1", "max_position_embeddings (4096)"}, "3M-character question");
  EXPECT_TRUE(wrote_nothing(path("long")));
}

TEST_F(HostileRun, AnswersThatMayRunPastTheContextAreWarnedOf) {
  // A prompt just inside tiny-qwen3's 4096 positions, with room for fewer than 64 answer tokens.
  std::string question;
  for (int i = 0; i < 4000; ++i) question += " word";
  edited("near_context.json", [&](nlohmann::json& sample) { sample["probes"][0]["question"] = question; });
  const std::string args = "run --dtype fp32 --model '" + path("model").string() + "' --tokenizer '" +
                           (source_dir() / "configs/tokenizers/qwen3").string() + "' --benchmark '" +
                           path("near_context.json").string() + "' --condition c --samples L1-0000 ";
  CommandResult r = run_tttmem_within(300, args + "--max-new-tokens 2 --out '" + path("near2").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(contains(r.output, "positions the model was not trained for")) << r.output;
  r = run_tttmem_within(300, args + "--max-new-tokens 200 --out '" + path("near200").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "plus --max-new-tokens 200 exceeds the model's "
                                 "max_position_embeddings (4096)"))
      << r.output;
}

TEST_F(HostileRun, ConversationCutAtTheIngestLimitSaysSo) {
  // 5,000 words of conversation: B ingests only the first 4096 tokens (SPEC.md S2.6).
  std::string conversation;
  for (int i = 0; i < 5000; ++i) conversation += " word";
  edited("long_conversation.json", [&](nlohmann::json& sample) { sample["conversation"] = conversation; });
  const CommandResult r = run_tttmem_within(
      300, run_args("long_conversation.json", "cut") +
               "--condition b --samples L1-0000 --ttt-layers 0 --ttt-chunk 64 --ttt-init dense");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "sample L1-0000's ingested text has 5000 tokens; only the first 4096"))
      << r.output;
  std::ifstream in(path("cut") / "condition_b.jsonl");
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    const auto record = nlohmann::json::parse(line);
    EXPECT_EQ(record.at("ingested_tokens"), 4096) << line;
    EXPECT_EQ(record.at("ingest_truncated_from"), 5000) << line;
  }
  EXPECT_GT(lines, 0);
}

}  // namespace
}  // namespace tttmem::test
