// train-minimal end to end through the binary, on a tiny random model with a byte-level tokenizer
// and a chat + text corpus the test writes: resume is bit-identical (2 x 5 steps == 10 steps), the
// metrics and checkpoints have what SPEC.md `train` lists, divergence stops the run. Plus the
// corpus rules (assistant-only labels, packing) through the library.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../cli/hostile_util.h"
#include "test_support.h"
#include "tttmem/bench.h"
#include "tttmem/config.h"
#include "tttmem/io.h"
#include "tttmem/protocol.h"
#include "tttmem/tensor_io.h"
#include "tttmem/tokenizer.h"
#include "tttmem/train.h"
#include "tttmem/ttt.h"

namespace tttmem::train {
namespace {

namespace fs = std::filesystem;
using test::run_tttmem;

std::string base64(unsigned char byte) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out += alphabet[byte >> 2];
  out += alphabet[(byte & 3) << 4];
  return out + "==";
}

void write(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

// A tiny model (vocab 320: 256 bytes + <|endoftext|> 256, <|im_start|> 257, <|im_end|> 258),
// its tokenizer and a corpus of chats and plain texts, made once for the suite.
class TinySetup {
 public:
  TinySetup() {
    std::string ranks;
    for (int b = 0; b < 256; ++b) ranks += base64(static_cast<unsigned char>(b)) + " " + std::to_string(b) + "\n";
    fs::create_directories(dir_ / "tok");
    write(dir_ / "tok" / "bytes.tiktoken", ranks);
    write(dir_ / "tok" / "bytes_added_tokens.json",
          R"({"<|endoftext|>": 256, "<|im_start|>": 257, "<|im_end|>": 258})");
    nlohmann::json config = nlohmann::json::parse(io::read_file(test::source_dir() / "configs" / "models" / "tiny-qwen3.json"));
    config["vocab_size"] = 320;
    config["hidden_size"] = 32;
    config["intermediate_size"] = 64;
    config["head_dim"] = 8;
    config["num_hidden_layers"] = 2;
    config["bos_token_id"] = 256;
    config["eos_token_id"] = 258;
    write(dir_ / "tiny.json", config.dump(2));
    const auto r = run_tttmem("--seed 3 init-model --config " + (dir_ / "tiny.json").string() +
                              " --out " + (dir_ / "model").string());
    if (r.exit_code != 0) throw std::runtime_error("init-model failed: " + r.output);
    std::string corpus;
    const char* facts[] = {"The office moved to Lisbon.", "Maria's cat is called Pepper.",
                           "The meeting is on Thursday at ten.", "Tom prefers green tea."};
    for (int i = 0; i < 12; ++i) {
      const std::string fact = facts[i % 4];
      nlohmann::json chat = {{"messages",
                              {{{"role", "user"}, {"content", "Remember this: " + fact}},
                               {{"role", "assistant"}, {"content", "Noted. " + fact}},
                               {{"role", "user"}, {"content", "Say it again, please."}},
                               {{"role", "assistant"}, {"content", fact + " (" + std::to_string(i) + ")"}}}}};
      corpus += chat.dump() + "\n";
      corpus += nlohmann::json{{"text", "Note " + std::to_string(i) + ": " + fact}}.dump() + "\n";
    }
    write(dir_ / "corpus.jsonl", corpus);
  }
  const fs::path& dir() const { return dir_.path(); }
  std::string train_args(const fs::path& out, const fs::path& data = {}) const {
    return "train-minimal --model " + (dir() / "model").string() + " --tokenizer " +
           (dir() / "tok").string() + " --data " +
           (data.empty() ? dir() / "corpus.jsonl" : data).string() +
           " --out " + out.string() +
           " --ttt-layers 0,1 --ttt-chunk 8 --ttt-lr 0.1 --ttt-init dense --seq-len 40"
           " --batch-size 2 --grad-accum 2 --warmup 3 --packing pack";
  }

 private:
  test::ScratchDir dir_;
};

const TinySetup& setup() {
  static const TinySetup instance;
  return instance;
}

std::vector<nlohmann::json> metrics(const fs::path& file) {
  std::vector<nlohmann::json> out;
  std::istringstream in(io::read_file(file));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(TrainCli, ResumeIsBitIdentical) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  const auto whole = run_tttmem(s.train_args(out / "whole") + " --lr 1e-3 --steps 10 --save-every 5");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const auto first = run_tttmem(s.train_args(out / "split") + " --lr 1e-3 --steps 5");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto second = run_tttmem(s.train_args(out / "split") + " --lr 1e-3 --steps 10 --resume");
  ASSERT_EQ(second.exit_code, 0) << second.output;

  const auto a = io::load_tensors(out / "whole" / "state.safetensors", at::kCPU);
  const auto b = io::load_tensors(out / "split" / "state.safetensors", at::kCPU);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  }
  const auto ma = metrics(out / "whole" / "metrics.jsonl");
  const auto mb = metrics(out / "split" / "metrics.jsonl");
  ASSERT_EQ(ma.size(), 10u);
  ASSERT_EQ(mb.size(), 10u);
  for (std::size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(ma[i]["step"], static_cast<int>(i + 1));
    EXPECT_EQ(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>()) << "step " << i + 1;
    EXPECT_EQ(ma[i]["grad_norm"].get<double>(), mb[i]["grad_norm"].get<double>());
    EXPECT_EQ(ma[i]["lr"].get<double>(), mb[i]["lr"].get<double>());
  }
}

// The training seed draws the TTT tensors --ttt-init creates and, under --shuffle, the order of
// the rows (file order without it, as the seed trained); a resumed run draws the same order.
TEST(TrainCli, ShuffleMakesTheSeedChooseTheOrderAndResumesBitIdentically) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  auto losses = [&](const std::string& name) {
    std::vector<double> out_losses;
    for (const auto& line : metrics(out / name / "metrics.jsonl")) out_losses.push_back(line["loss"]);
    return out_losses;
  };
  auto train = [&](const std::string& seed, const std::string& name, const std::string& extra) {
    const auto r = run_tttmem("--seed " + seed + " " + s.train_args(out / name) + " --lr 1e-3 " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  };
  train("1", "file_1", "--steps 4");
  train("1", "shuffled_1", "--steps 4 --shuffle");
  EXPECT_NE(losses("shuffled_1").at(0), losses("file_1").at(0)) << "another first batch";
  train("1", "resumed_1", "--steps 2 --shuffle");
  train("1", "resumed_1", "--steps 4 --shuffle --resume");
  EXPECT_EQ(losses("resumed_1"), losses("shuffled_1"));
  const auto refused = run_tttmem("--seed 1 " + s.train_args(out / "resumed_1") + " --lr 1e-3 --steps 5 --resume");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("order: the state has 'shuffled by seed', this run 'file'"),
            std::string::npos)
      << refused.output;
}

TEST(TrainData, ShuffleIsAPermutationOfTheTrainingSetsDrawnFromTheSeed) {
  TrainingData data;
  for (std::int64_t i = 0; i < 50; ++i) {
    data.rows.push_back({{i}, {}});
    data.eval_rows.push_back({{i}, {}});
    MemoryExample example;
    example.ingest = {i};
    data.memory.push_back(example);
    data.memory_eval.push_back(example);
  }
  auto order = [](const TrainingData& d) {
    std::vector<std::int64_t> rows, memory, eval_rows, memory_eval;
    for (const Row& r : d.rows) rows.push_back(r.ids.at(0));
    for (const Row& r : d.eval_rows) eval_rows.push_back(r.ids.at(0));
    for (const MemoryExample& m : d.memory) memory.push_back(m.ingest.at(0));
    for (const MemoryExample& m : d.memory_eval) memory_eval.push_back(m.ingest.at(0));
    return std::vector<std::vector<std::int64_t>>{rows, memory, eval_rows, memory_eval};
  };
  const auto before = order(data);
  TrainingData a = data, b = data, c = data;
  shuffle_training_order(a, 7);
  shuffle_training_order(b, 7);
  shuffle_training_order(c, 8);
  const auto oa = order(a), ob = order(b), oc = order(c);
  EXPECT_EQ(oa, ob);
  EXPECT_NE(oa[0], before[0]);
  EXPECT_NE(oa[1], before[1]);
  EXPECT_NE(oa[0], oc[0]);
  EXPECT_EQ(oa[2], before[2]) << "eval sets keep their order";
  EXPECT_EQ(oa[3], before[3]);
  for (int k = 0; k < 2; ++k) {
    auto sorted = oa[k];
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, before[k]) << "a permutation";
  }
}

// A --resume under other settings would mix two runs in one metrics file and overwrite the state
// with a hybrid: refused, naming each difference, with nothing changed.
TEST(TrainCli, ResumeUnderOtherSettingsIsRefused) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  const auto first = run_tttmem(s.train_args(out / "run") + " --lr 1e-3 --steps 2");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::string metrics_before = io::read_file(out / "run" / "metrics.jsonl");
  const std::string state_before = io::read_file(out / "run" / "state.safetensors");
  write(out / "other.jsonl", io::read_file(s.dir() / "corpus.jsonl") +
                                 R"({"text": "One more line makes it another corpus."})" "\n");
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {s.train_args(out / "run") + " --lr 2e-3 --steps 4 --resume", {"lr: the state has '0.001', this run '0.002'"}},
      {s.train_args(out / "run") + " --lr 1e-3 --loss-on assistant --steps 4 --resume", {"loss_on", "'all'", "'assistant'"}},
      {s.train_args(out / "run", out / "other.jsonl") + " --lr 1e-3 --steps 4 --resume", {"data_sha256"}},
  };
  for (const auto& [args, parts] : cases) {
    const auto r = run_tttmem(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("was written by another run"), std::string::npos) << r.output;
    for (const auto& part : parts) EXPECT_NE(r.output.find(part), std::string::npos) << part << "\n" << r.output;
    EXPECT_EQ(io::read_file(out / "run" / "metrics.jsonl"), metrics_before);
    EXPECT_EQ(io::read_file(out / "run" / "state.safetensors"), state_before);
  }
  // The same settings continue (more steps under a constant schedule is more training).
  const auto again = run_tttmem(s.train_args(out / "run") + " --lr 1e-3 --steps 3 --resume");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(metrics(out / "run" / "metrics.jsonl").size(), 3u);
}

TEST(TrainCli, MetricsAndCheckpointsHoldWhatTheSpecLists) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  const auto r = run_tttmem(s.train_args(out / "run") + " --lr 1e-3 --steps 4 --save-every 2 --eval-every 2"
                            " --eval-data " + (s.dir() / "corpus.jsonl").string() +
                            " --grad-checkpointing --schedule cosine");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = metrics(out / "run" / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) {
    for (const char* key : {"loss", "grad_norm", "lr", "tokens_per_s", "param_delta_rel", "ttt_norms"})
      EXPECT_TRUE(line.contains(key)) << key << " missing in " << line.dump();
    EXPECT_EQ(line["ttt_norms"].size(), 4u);  // proj and conv of layers 0 and 1
  }
  EXPECT_TRUE(lines[1].contains("eval_loss"));
  EXPECT_FALSE(lines[0].contains("eval_loss"));
  EXPECT_NEAR(lines[0]["lr"].get<double>(), 1e-3 / 3, 1e-12);  // warmup step 1 of 3
  EXPECT_GT(lines[3]["param_delta_rel"].get<double>(), 0.0);
  // The TTT checkpoint loads back as a --ttt file with the HF names, conv moved off zero.
  const auto ttt = io::load_tensors(out / "run" / "ttt.safetensors", at::kCPU);
  std::map<std::string, at::Tensor> by_name(ttt.begin(), ttt.end());
  ASSERT_EQ(by_name.size(), 4u);
  EXPECT_GT(by_name.at("model.layers.1.mlp.ttt_conv.weight").abs().max().item<double>(), 0.0);
  const auto forward = run_tttmem("forward --model " + (s.dir() / "model").string() + " --ids 1,2,3"
                                  " --ttt-layers 0,1 --ttt-chunk 8 --ttt " +
                                  (out / "run" / "ttt.safetensors").string() + " --out " +
                                  (out / "logits.safetensors").string());
  EXPECT_EQ(forward.exit_code, 0) << forward.output;
  // ...and it records how it was trained, so --ttt alone runs it the same way, and a flag that
  // contradicts it is refused unless --ttt-override says it is deliberate.
  const auto recipe = ttt::Recipe::from_metadata(io::Checkpoint::open(out / "run" / "ttt.safetensors"));
  ASSERT_TRUE(recipe.has_value());
  EXPECT_EQ(recipe->config.layers, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(recipe->config.chunk, 8);
  EXPECT_EQ(recipe->config.lr, 0.1);
  EXPECT_EQ(recipe->init, "dense");  // the model had no TTT tensors
  EXPECT_EQ(recipe->preset, "");
  const std::string plain = "forward --model " + (s.dir() / "model").string() +
                            " --ids 1,2,3 --ttt " + (out / "run" / "ttt.safetensors").string();
  const auto bare = run_tttmem(plain + " --out " + (out / "bare.safetensors").string());
  ASSERT_EQ(bare.exit_code, 0) << bare.output;
  const auto flagged = run_tttmem(plain + " --ttt-lr 0.1 --out " + (out / "flagged.safetensors").string());
  ASSERT_EQ(flagged.exit_code, 0) << flagged.output;
  const auto logits = [](const fs::path& file) {
    for (auto& [name, tensor] : io::load_tensors(file, at::kCPU))
      if (name == "logits") return tensor;
    return at::Tensor();
  };
  const at::Tensor bare_logits = logits(out / "bare.safetensors");
  ASSERT_TRUE(bare_logits.defined());
  EXPECT_TRUE(at::equal(bare_logits, logits(out / "flagged.safetensors")));
  const auto contradiction = run_tttmem(plain + " --ttt-chunk 16 --out " + (out / "x.safetensors").string());
  EXPECT_EQ(contradiction.exit_code, 1) << contradiction.output;
  for (const char* part : {"--ttt-chunk 16 contradicts", "ttt_chunk 8", "--ttt-override"})
    EXPECT_NE(contradiction.output.find(part), std::string::npos) << part << "\n" << contradiction.output;
  EXPECT_FALSE(fs::exists(out / "x.safetensors"));
  const auto overridden = run_tttmem(plain + " --ttt-chunk 16 --ttt-override --out " +
                                     (out / "x.safetensors").string());
  EXPECT_EQ(overridden.exit_code, 0) << overridden.output;
  if (run_tttmem("--help").exit_code == 0 && std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    EXPECT_TRUE(fs::exists(out / "run" / "loss.png"));
    EXPECT_TRUE(fs::exists(out / "run" / "loss.svg"));
  }
}

// --trainable all: OUT/model/ is a complete model folder: every trained weight equals its master,
// the frozen ones (none here) and the config carry over, the TTT fields are the run's, and the
// folder runs with no TTT flag the same as the base architecture with --ttt.
TEST(TrainCli, TrainableAllWritesAModelFolderThatRunsAsTrained) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  const auto r = run_tttmem(s.train_args(out / "run") + " --trainable all --lr 1e-2 --steps 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path folder = out / "run" / "model";
  const auto config = nlohmann::json::parse(io::read_file(folder / "config.json"));
  EXPECT_EQ(config["ttt_layers"], nlohmann::json::array({0, 1}));
  EXPECT_EQ(config["ttt_chunk"], 8);
  EXPECT_EQ(config["vocab_size"], 320);
  const auto weights = io::load_tensors(folder / "model.safetensors", at::kCPU);
  const auto state = io::load_tensors(out / "run" / "state.safetensors", at::kCPU);
  const auto base = io::load_tensors(s.dir() / "model" / "model.safetensors", at::kCPU);
  std::map<std::string, at::Tensor> masters(state.begin(), state.end());
  ASSERT_EQ(weights.size(), base.size() + 4);  // plus proj and conv of layers 0 and 1
  for (const auto& [name, tensor] : weights) {
    ASSERT_TRUE(masters.count(name)) << name << " is not a trained tensor";
    EXPECT_TRUE(at::equal(tensor, masters.at(name).to(tensor.scalar_type()))) << name;
  }
  auto logits = [&](const std::string& args, const fs::path& file) {
    const auto f = run_tttmem("forward --ids 5,6,7,8,9,10,11,12,13,14 --out " + file.string() + " " + args);
    EXPECT_EQ(f.exit_code, 0) << f.output;
    for (const auto& [name, tensor] : io::load_tensors(file, at::kCPU))
      if (name == "logits") return tensor;
    ADD_FAILURE() << file << " has no logits";
    return at::Tensor();
  };
  const at::Tensor own = logits("--model " + folder.string(), out / "own.safetensors");
  const at::Tensor flagged = logits("--model " + folder.string() + " --ttt " +
                                        (out / "run" / "ttt.safetensors").string(),
                                    out / "flagged.safetensors");
  const at::Tensor untrained = logits("--model " + (s.dir() / "model").string() +
                                          " --ttt-layers 0,1 --ttt-chunk 8 --ttt " +
                                          (out / "run" / "ttt.safetensors").string(),
                                      out / "base.safetensors");
  EXPECT_TRUE(at::equal(own, flagged));
  EXPECT_FALSE(at::allclose(own, untrained));
}

TEST(TrainCli, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  const auto r = run_tttmem(s.train_args(out / "run") +
                            " --trainable all --lr 1e30 --clip 0 --steps 40 --save-every 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("diverged at step"), std::string::npos) << r.output;
  const auto lines = metrics(out / "run" / "metrics.jsonl");
  ASSERT_FALSE(lines.empty());
  const auto state = io::SafetensorsFile::open(out / "run" / "state.safetensors");
  EXPECT_EQ(state->metadata().at("steps_done"), std::to_string(lines.size()));
}

// A corpus with no token to learn made the first step's loss 0 / 0, reported as "diverged at
// step 1: the loss is -nan". It is refused naming the file, before training and before --out
// exists; --eval-data alike.
TEST(TrainCli, CorpusWithoutTokensToLearnIsRefusedBeforeTraining) {
  const TinySetup& s = setup();
  test::ScratchDir dir;
  const fs::path blank = dir / "blank.jsonl", texts = dir / "texts.jsonl", out = dir / "run";
  write(blank, "\n  \n\r\n");
  std::string text_lines;
  for (int i = 0; i < 4; ++i)
    text_lines += nlohmann::json{{"text", "Note " + std::to_string(i) + ": the office moved."}}.dump() + "\n";
  write(texts, text_lines);
  const struct {
    std::string args, message, what;
  } cases[] = {
      {s.train_args(out, blank), blank.string() + ": no tokens: every line is blank (expected JSONL",
       "blank --data"},
      {s.train_args(out) + " --eval-data " + blank.string(),
       blank.string() + ": no tokens: every line is blank", "blank --eval-data"},
      {s.train_args(out, texts) + " --loss-on assistant",
       texts.string() + ": no tokens to train on: 4 documents give 2 rows and none has a labelled "
                        "token after its first (expected `messages` with assistant turns",
       "only text documents, --loss-on assistant"},
  };
  for (const auto& c : cases) {
    test::expect_failure(run_tttmem(c.args + " --steps 2"), {1, {c.message}}, c.what);
    EXPECT_FALSE(fs::exists(out)) << c.what;
  }
}

// ---- the memory objective (SPEC.md `train`, Objectives) on the tiny model

// A small v2 benchmark (two samples per level, distractors of 48 byte tokens), made once.
const fs::path& memory_benchmark() {
  static const test::ScratchDir dir;
  static const fs::path file = [] {
    const fs::path out = dir / "bench.json";
    const auto r = run_tttmem("--seed 7 build-benchmark --format v2 --samples-per-level 2 "
                              "--distractor-tokens 48 --tokenizer " +
                              (setup().dir() / "tok").string() + " --out " + out.string());
    if (r.exit_code != 0) throw std::runtime_error("build-benchmark failed: " + r.output);
    return out;
  }();
  return file;
}

std::string memory_args(const fs::path& out) {
  const TinySetup& s = setup();
  return "train-minimal --model " + (s.dir() / "model").string() + " --tokenizer " +
         (s.dir() / "tok").string() + " --out " + out.string() + " --memory-data " +
         memory_benchmark().string() +
         " --ttt-layers 0,1 --ttt-chunk 16 --ttt-lr 0.01 --ttt-init dense --batch-size 2"
         " --grad-accum 1 --lr 1e-3";
}

TEST(TrainMemory, LowersTheMemoryLossAndResumesBitIdentically) {
  test::ScratchDir out;
  // Every weight trains, so six steps move the loss by a margin no rounding could fake.
  const std::string flags = " --trainable all --eval-every 1 --memory-eval-data " +
                            memory_benchmark().string();
  const auto whole = run_tttmem(memory_args(out / "whole") + " --objective memory --steps 6 --save-every 3" + flags);
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const auto first = run_tttmem(memory_args(out / "split") + " --objective memory --steps 3" + flags);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto second = run_tttmem(memory_args(out / "split") + " --objective memory --steps 6 --resume" + flags);
  ASSERT_EQ(second.exit_code, 0) << second.output;

  const auto ma = metrics(out / "whole" / "metrics.jsonl");
  const auto mb = metrics(out / "split" / "metrics.jsonl");
  ASSERT_EQ(ma.size(), 6u);
  ASSERT_EQ(mb.size(), 6u);
  for (std::size_t i = 0; i < ma.size(); ++i) {
    EXPECT_TRUE(ma[i].contains("memory_loss") && ma[i].contains("eval_memory_loss")) << ma[i].dump();
    EXPECT_FALSE(ma[i].contains("lm_loss")) << ma[i].dump();
    EXPECT_EQ(ma[i]["loss"].get<double>(), ma[i]["memory_loss"].get<double>());
    EXPECT_EQ(ma[i]["memory_loss"].get<double>(), mb[i]["memory_loss"].get<double>()) << "step " << i + 1;
    EXPECT_EQ(ma[i]["eval_memory_loss"].get<double>(), mb[i]["eval_memory_loss"].get<double>());
  }
  // The eval set is the training set: six steps of the memory objective lower its loss there.
  EXPECT_LT(ma[5]["eval_memory_loss"].get<double>(), ma[0]["eval_memory_loss"].get<double>() - 1e-3);

  const auto a = io::load_tensors(out / "whole" / "state.safetensors", at::kCPU);
  const auto b = io::load_tensors(out / "split" / "state.safetensors", at::kCPU);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  const auto state = io::SafetensorsFile::open(out / "whole" / "state.safetensors");
  EXPECT_EQ(state->metadata().at("objective"), "memory");
  EXPECT_EQ(state->metadata().at("memory_position"), "12");  // 6 steps x 2 conversations
  EXPECT_TRUE(fs::exists(out / "whole" / "ttt.safetensors"));

  // Resuming under another objective would train on other data from that state: refused.
  const TinySetup& s = setup();
  const auto other = run_tttmem(memory_args(out / "split") + " --objective mixed --data " +
                                (s.dir() / "corpus.jsonl").string() + " --steps 8 --resume" + flags);
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_NE(other.output.find("objective: the state has 'memory', this run 'mixed'"),
            std::string::npos)
      << other.output;
}

// --memory e2e: meta-learning theta through the inner loop. The LM objective lowers the held-in
// eval loss, resumes bit-identically, writes e2e.safetensors recording its settings (which
// `run --e2e` then needs no flag for), and refuses a resume under another inner loop.
TEST(TrainE2E, MetaLearningLowersTheLossAndResumesBitIdentically) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  auto args = [&](const fs::path& dir, const std::string& inner_lr = "0.5") {
    return "train-minimal --model " + (s.dir() / "model").string() + " --tokenizer " +
           (s.dir() / "tok").string() + " --data " + (s.dir() / "corpus.jsonl").string() +
           " --out " + dir.string() + " --seq-len 24 --batch-size 2 --packing pack" +
           " --memory e2e --e2e-init --e2e-mini-batch 8 --e2e-inner-lr " + inner_lr +
           " --lr 3e-3 --eval-every 1 --eval-data " + (s.dir() / "corpus.jsonl").string();
  };
  const auto whole = run_tttmem(args(out / "whole") + " --steps 6 --save-every 3");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const auto first = run_tttmem(args(out / "split") + " --steps 3");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto second = run_tttmem(args(out / "split") + " --steps 6 --resume");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const auto ma = metrics(out / "whole" / "metrics.jsonl");
  const auto mb = metrics(out / "split" / "metrics.jsonl");
  ASSERT_EQ(ma.size(), 6u);
  ASSERT_EQ(mb.size(), 6u);
  for (std::size_t i = 0; i < ma.size(); ++i)
    EXPECT_EQ(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>()) << "step " << i + 1;
  EXPECT_LT(ma[5]["eval_loss"].get<double>(), ma[0]["eval_loss"].get<double>() - 1e-3);
  const auto a = io::load_tensors(out / "whole" / "e2e.safetensors", at::kCPU);
  const auto b = io::load_tensors(out / "split" / "e2e.safetensors", at::kCPU);
  ASSERT_EQ(a.size(), 3u);  // gate, up and down of layer 1, the last quarter of two layers
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  EXPECT_FALSE(fs::exists(out / "whole" / "ttt.safetensors"));
  const auto file = io::SafetensorsFile::open(out / "whole" / "e2e.safetensors");
  EXPECT_EQ(nlohmann::json::parse(file->metadata().at("e2e_config")).at("e2e_inner_lr"), 0.5);
  // The state records the inner loop: another one cannot continue it.
  const auto other = run_tttmem(args(out / "split", "0.25") + " --steps 8 --resume");
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_NE(other.output.find("e2e_config"), std::string::npos) << other.output;
}

TEST(TrainE2E, MemoryObjectiveLowersTheAnswerLoss) {
  test::ScratchDir out;
  const TinySetup& s = setup();
  const auto r = run_tttmem(
      "train-minimal --model " + (s.dir() / "model").string() + " --tokenizer " +
      (s.dir() / "tok").string() + " --out " + (out / "m").string() + " --memory-data " +
      memory_benchmark().string() + " --memory-eval-data " + memory_benchmark().string() +
      " --objective memory --memory e2e --e2e-init --e2e-mini-batch 32 --e2e-inner-lr 0.5"
      " --batch-size 2 --lr 3e-3 --steps 4 --eval-every 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = metrics(out / "m" / "metrics.jsonl");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_LT(m[3]["eval_memory_loss"].get<double>(), m[0]["eval_memory_loss"].get<double>() - 1e-3);
  // In-Place TTT's flags do not configure E2E.
  const auto mixed = run_tttmem(memory_args(out / "x") + " --objective memory --memory e2e --e2e-init --steps 1");
  EXPECT_EQ(mixed.exit_code, 1) << mixed.output;
  EXPECT_NE(mixed.output.find("do not apply to --memory e2e"), std::string::npos) << mixed.output;
}

// Checkpointing the inner loop's mini-batches changes what the backward pass keeps, not what it
// computes: both objectives take the same steps with and without it.
TEST(TrainE2E, GradCheckpointingTakesTheSameSteps) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  const std::string common = "train-minimal --model " + (s.dir() / "model").string() +
                             " --tokenizer " + (s.dir() / "tok").string() +
                             " --memory e2e --e2e-init --e2e-mini-batch 8 --e2e-inner-lr 0.5" +
                             " --lr 3e-3 --batch-size 2 --steps 3 --save-every 0";
  const std::string lm = common + " --data " + (s.dir() / "corpus.jsonl").string() +
                         " --seq-len 24 --packing pack";
  const std::string memory = common + " --objective memory --memory-data " +
                             memory_benchmark().string();
  for (const auto& [name, args] : {std::pair{"lm", lm}, std::pair{"memory", memory}}) {
    const auto plain = run_tttmem(args + " --out " + (out / name / "plain").string());
    ASSERT_EQ(plain.exit_code, 0) << plain.output;
    const auto checkpointed =
        run_tttmem(args + " --grad-checkpointing --out " + (out / name / "ckpt").string());
    ASSERT_EQ(checkpointed.exit_code, 0) << checkpointed.output;
    const auto a = metrics(out / name / "plain" / "metrics.jsonl");
    const auto b = metrics(out / name / "ckpt" / "metrics.jsonl");
    ASSERT_EQ(a.size(), 3u) << name;
    ASSERT_EQ(b.size(), 3u) << name;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double x = a[i]["loss"].get<double>(), y = b[i]["loss"].get<double>();
      EXPECT_NEAR(y, x, 1e-5 * std::abs(x)) << name << " step " << i + 1;
    }
    EXPECT_NE(a[0]["loss"].get<double>(), a[2]["loss"].get<double>()) << name;
  }
}

TEST(TrainMemory, MixedAddsTheWeightedMemoryLoss) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  const auto r = run_tttmem(memory_args(out / "run") + " --objective mixed --memory-weight 0.5 --data " +
                            (s.dir() / "corpus.jsonl").string() + " --steps 2 --seq-len 40");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto lines = metrics(out / "run" / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) {
    const double lm = line.at("lm_loss").get<double>(), memory = line.at("memory_loss").get<double>();
    EXPECT_GT(lm, 0.0);
    EXPECT_GT(memory, 0.0);
    EXPECT_DOUBLE_EQ(line.at("loss").get<double>(), lm + 0.5 * memory);
  }
}

TEST(TrainMemory, FlagsThatWouldChangeNothingAreUsageErrors) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  const std::string data = " --data " + (s.dir() / "corpus.jsonl").string();
  const std::string base = "train-minimal --model " + (s.dir() / "model").string() + " --tokenizer " +
                           (s.dir() / "tok").string() + " --out " + (out / "run").string() +
                           " --ttt-layers 0,1 --ttt-init dense --steps 1";
  const std::string bench = " --memory-data " + memory_benchmark().string();
  for (const std::string& flags :
       {std::string(" --objective memory"), " --objective mixed" + data, " --objective memory" + bench + data,
        " --objective memory --memory-weight 2" + bench, data + bench, data + " --memory-protocol fixed"}) {
    const auto r = run_tttmem(base + flags);
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.output;
  }
}

TEST(TrainMemory, ExamplesHoldTheConditionBPromptAndTheGoldAnswer) {
  const TinySetup& s = setup();
  const auto tok = tokenizer::Tokenizer::load(s.dir() / "tok");
  const bench::Benchmark benchmark = bench::load_benchmark(memory_benchmark());
  const auto examples = load_memory_examples(memory_benchmark(), *tok, 258,
                                             protocol::ProtocolOptions::preset("seed"), std::nullopt);
  ASSERT_EQ(examples.size(), benchmark.samples.size());
  auto text = [&](const std::vector<std::int64_t>& ids, std::size_t from, std::size_t to) {
    return tok->decode(std::vector<tokenizer::TokenId>(ids.begin() + from, ids.begin() + to));
  };
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const bench::Sample& sample = benchmark.samples[i];
    const MemoryExample& example = examples[i];
    EXPECT_EQ(example.sample_id, sample.sample_id);
    // Condition B ingests the conversation; D, on level 3, the conversation and the distractor.
    EXPECT_EQ(text(example.ingest, 0, example.ingest.size()),
              sample.level == 3 ? sample.conversation + "\n\n" + *sample.distractor : sample.conversation);
    ASSERT_EQ(example.probes.size(), sample.probes.size());
    for (std::size_t k = 0; k < example.probes.size(); ++k) {
      const Row& row = example.probes[k];
      const auto prompt = static_cast<std::size_t>(
          std::find_if(row.labels.begin(), row.labels.end(), [](auto l) { return l != -100; }) -
          row.labels.begin());
      EXPECT_EQ(text(row.ids, 0, prompt),
                tokenizer::seed_prompt_without_conversation(sample.probes[k].question));
      EXPECT_EQ(text(row.ids, prompt, row.ids.size() - 1), sample.probes[k].gold_answer);
      EXPECT_EQ(row.ids.back(), 258);
      EXPECT_TRUE(std::equal(row.ids.begin() + static_cast<std::ptrdiff_t>(prompt), row.ids.end(),
                             row.labels.begin() + static_cast<std::ptrdiff_t>(prompt)));
    }
  }
  // A micro-batch of conversations n-1 and 0 (it wraps) holds all their probes, in order.
  const auto n = static_cast<std::int64_t>(examples.size());
  const MemoryBatch batch = make_memory_batch(examples, n - 1, 2, 256);
  const std::size_t last = examples.back().probes.size(), first = examples.front().probes.size();
  ASSERT_EQ(batch.probes.ids.size(0), static_cast<std::int64_t>(last + first));
  EXPECT_EQ(batch.conversation.eq(0).sum().item<std::int64_t>(), static_cast<std::int64_t>(last));
  EXPECT_EQ(batch.conversation[-1].item<std::int64_t>(), 1);
  EXPECT_EQ(batch.ingest.attention_mask[1].sum().item<std::int64_t>(),
            static_cast<std::int64_t>(examples.front().ingest.size()));
}

// A family whose tokenizer adds BOS (Gemma3) gets it at the start of every probe row, unlabelled,
// and at the start of the ingestion only under ingest_bos, as `run` feeds them.
TEST(TrainMemory, BosStartsEachProbeRowAndTheIngestionOnlyWhenAsked) {
  const TinySetup& s = setup();
  const auto tok = tokenizer::Tokenizer::load(s.dir() / "tok");
  protocol::ProtocolOptions protocol = protocol::ProtocolOptions::preset("seed");
  const auto plain = load_memory_examples(memory_benchmark(), *tok, 258, protocol, std::nullopt);
  const auto with_bos = load_memory_examples(memory_benchmark(), *tok, 258, protocol, 259);
  protocol.ingest_bos = true;
  const auto ingest_bos = load_memory_examples(memory_benchmark(), *tok, 258, protocol, 259);
  ASSERT_EQ(plain.size(), with_bos.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(with_bos[i].ingest, plain[i].ingest);
    ASSERT_EQ(ingest_bos[i].ingest.size(), plain[i].ingest.size() + 1);
    EXPECT_EQ(ingest_bos[i].ingest.front(), 259);
    EXPECT_TRUE(std::equal(plain[i].ingest.begin(), plain[i].ingest.end(),
                           ingest_bos[i].ingest.begin() + 1));
    for (std::size_t k = 0; k < plain[i].probes.size(); ++k) {
      const Row& a = plain[i].probes[k];
      const Row& b = with_bos[i].probes[k];
      ASSERT_EQ(b.ids.size(), a.ids.size() + 1);
      EXPECT_EQ(b.ids.front(), 259);
      EXPECT_EQ(b.labels.front(), -100);
      EXPECT_TRUE(std::equal(a.ids.begin(), a.ids.end(), b.ids.begin() + 1));
      EXPECT_TRUE(std::equal(a.labels.begin(), a.labels.end(), b.labels.begin() + 1));
    }
  }
}

// DECISIONS.md `## train`: in pure bf16 an AdamW step of ~lr = 1e-5 is below half an ulp of
// ttt_proj's typical values (~0.02) and rounds away, as in the seed; fp32 masters keep it.
TEST(TrainCli, SeedBf16LosesTheProjUpdatesThatFp32MastersKeep) {
  const TinySetup& s = setup();
  test::ScratchDir out;
  auto tensors = [&](const std::string& precision, int steps) {
    const fs::path dir = out / (precision + std::to_string(steps));
    const auto r = run_tttmem(s.train_args(dir) + " --lr 1e-5 --precision " + precision +
                              " --steps " + std::to_string(steps));
    if (r.exit_code != 0) throw std::runtime_error(r.output);
    const auto loaded = io::load_tensors(dir / "ttt.safetensors", at::kCPU);
    return std::map<std::string, at::Tensor>(loaded.begin(), loaded.end());
  };
  const std::string proj = "model.layers.0.mlp.ttt_proj.weight";
  const std::string conv = "model.layers.0.mlp.ttt_conv.weight";
  // Where |w| >= 2^-7 half a bf16 ulp is >= 3e-5, three times the step: nothing there moves.
  const auto bf16_1 = tensors("seed-bf16", 1), bf16_3 = tensors("seed-bf16", 3);
  const at::Tensor large = bf16_1.at(proj).abs().ge(1.0 / 128);
  ASSERT_GT(large.sum().item<std::int64_t>(), 100);
  EXPECT_TRUE(at::equal(bf16_1.at(proj).masked_select(large), bf16_3.at(proj).masked_select(large)));
  EXPECT_FALSE(at::equal(bf16_1.at(conv), bf16_3.at(conv)));  // from zero, the conv does move
  const auto fp32_1 = tensors("fp32-master", 1), fp32_3 = tensors("fp32-master", 3);
  const at::Tensor moved = fp32_1.at(proj).ne(fp32_3.at(proj)).masked_select(large);
  EXPECT_GT(moved.to(at::kDouble).mean().item<double>(), 0.9);  // fp32 masters keep the steps
}

TEST(TrainDivergence, LossRuleNeedsThreeStepsInARowAboveThreeTimesTheMedian) {
  EXPECT_NE(loss_divergence(NAN, {}), "");
  EXPECT_NE(loss_divergence(INFINITY, {1, 1, 1, 1, 1}), "");
  EXPECT_EQ(loss_divergence(100, {1, 1, 1, 1, 100, 100}), "");    // too little history
  EXPECT_EQ(loss_divergence(3.01, {1, 1, 1, 1, 1}), "");          // one spike: a hard batch
  EXPECT_EQ(loss_divergence(3.01, {1, 1, 1, 1, 1, 3.5}), "");     // two
  EXPECT_NE(loss_divergence(3.01, {1, 1, 1, 1, 1, 3.5, 3.5}), "");  // three stop the run
  EXPECT_EQ(loss_divergence(3.0, {1, 1, 1, 1, 1, 3.5, 3.5}), "");   // not above 3x
  EXPECT_EQ(loss_divergence(3.5, {1, 1, 1, 1, 1, 3.5, 1, 3.5}), "");  // not in a row
  // The median (1), not the mean (4.5 after the 30).
  EXPECT_NE(loss_divergence(4, {1, 1, 1, 1, 1, 1, 1, 30, 4, 4}), "");
  std::vector<double> long_run(60, 10.0);
  long_run.resize(110, 1.0);  // the last 50 are 1
  long_run.push_back(3.5);
  long_run.push_back(3.5);
  EXPECT_NE(loss_divergence(3.5, long_run), "");
}

TEST(TrainCorpus, AssistantOnlyLabelsCoverExactlyTheAnswers) {
  const TinySetup& s = setup();
  const auto tok = tokenizer::Tokenizer::load(s.dir() / "tok");
  test::ScratchDir dir;
  write(dir / "chat.jsonl",
        R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "See you."}]})"
        "\n");
  const auto rows = load_corpus(dir / "chat.jsonl", *tok, {4096, Packing::truncate, LossOn::assistant, std::nullopt});
  ASSERT_EQ(rows.size(), 1u);
  std::vector<tokenizer::TokenId> answer, all;
  for (std::size_t i = 0; i < rows[0].ids.size(); ++i) {
    all.push_back(static_cast<tokenizer::TokenId>(rows[0].ids[i]));
    if (rows[0].labels[i] != -100) answer.push_back(static_cast<tokenizer::TokenId>(rows[0].labels[i]));
  }
  // The whole row is the chat template's text; the labelled part is the two answers with their
  // <|im_end|> (the last one with its empty think block, as the template renders it).
  const std::vector<tokenizer::ChatMessage> chat{{"system", "Be brief."}, {"user", "Hi"},
                                                 {"assistant", "Hello!"}, {"user", "Bye"},
                                                 {"assistant", "See you."}};
  EXPECT_EQ(tok->decode(all), tokenizer::render_qwen3_chat(chat));
  EXPECT_EQ(tok->decode(answer), "Hello!<|im_end|><think>\n\n</think>\n\nSee you.<|im_end|>");
  const auto every = load_corpus(dir / "chat.jsonl", *tok, {4096, Packing::truncate, LossOn::all, std::nullopt});
  EXPECT_EQ(every[0].labels, every[0].ids);
}

TEST(TrainCorpus, PackingCutsFullRowsAndTruncationCutsDocuments) {
  const TinySetup& s = setup();
  const auto tok = tokenizer::Tokenizer::load(s.dir() / "tok");
  const auto packed = load_corpus(s.dir() / "corpus.jsonl", *tok, {64, Packing::pack, LossOn::all, std::nullopt});
  const auto truncated = load_corpus(s.dir() / "corpus.jsonl", *tok, {64, Packing::truncate, LossOn::all, std::nullopt});
  EXPECT_EQ(truncated.size(), 24u);  // one row per document
  std::size_t total = 0;
  for (const Row& row : packed) {
    EXPECT_EQ(row.ids.size(), 64u);
    total += row.ids.size();
  }
  for (const Row& row : truncated) EXPECT_LE(row.ids.size(), 64u);
  EXPECT_EQ(packed[0].ids[0], 257);  // <|im_start|> of the first chat
  // Text documents end with <|endoftext|> before the next one starts.
  std::vector<std::int64_t> stream;
  for (const Row& row : packed) stream.insert(stream.end(), row.ids.begin(), row.ids.end());
  EXPECT_NE(std::find(stream.begin(), stream.end(), 256), stream.end());
  const Batch batch = make_batch(truncated, 22, 3, 256);  // rows 22, 23, then 0: wraps around
  EXPECT_EQ(batch.ids.size(0), 3);
  EXPECT_EQ(batch.labels.masked_select(batch.attention_mask.eq(0)).ne(-100).sum().item<int>(), 0);
  const auto n = static_cast<std::int64_t>(truncated[0].ids.size());
  EXPECT_TRUE(at::equal(batch.ids[2].narrow(0, 0, n), at::tensor(truncated[0].ids, at::kLong)));
  EXPECT_EQ(batch.attention_mask[2].sum().item<std::int64_t>(), n);
}

// With a BOS (Gemma3) every document starts with it, unlabelled, in both layouts.
TEST(TrainCorpus, BosStartsEveryDocumentAndIsNeverALabel) {
  const TinySetup& s = setup();
  const auto tok = tokenizer::Tokenizer::load(s.dir() / "tok");
  const auto plain = load_corpus(s.dir() / "corpus.jsonl", *tok, {4096, Packing::truncate, LossOn::all, std::nullopt});
  const auto truncated =
      load_corpus(s.dir() / "corpus.jsonl", *tok, {4096, Packing::truncate, LossOn::all, 259});
  ASSERT_EQ(truncated.size(), plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    ASSERT_EQ(truncated[i].ids.size(), plain[i].ids.size() + 1);
    EXPECT_EQ(truncated[i].ids.front(), 259);
    EXPECT_EQ(truncated[i].labels.front(), -100);
    EXPECT_TRUE(std::equal(plain[i].ids.begin(), plain[i].ids.end(), truncated[i].ids.begin() + 1));
  }
  const auto packed = load_corpus(s.dir() / "corpus.jsonl", *tok, {64, Packing::pack, LossOn::all, 259});
  std::size_t starts = 0;
  for (const Row& row : packed)
    for (std::size_t j = 0; j < row.ids.size(); ++j)
      if (row.ids[j] == 259) {
        ++starts;
        EXPECT_EQ(row.labels[j], -100);
      }
  EXPECT_EQ(packed[0].ids[0], 259);
  EXPECT_GT(starts, 1u);
}

// LongAlpaca rows as the adapter study formats them; the response is the assistant part.
TEST(TrainCorpus, InstructionRowsTakeTheStudysAlpacaFormat) {
  const TinySetup& s = setup();
  const auto tok = tokenizer::Tokenizer::load(s.dir() / "tok");
  test::ScratchDir dir;
  std::ofstream(dir / "alpaca.jsonl")
      << R"({"instruction": "Sum it.", "input": "2 and 3", "output": "5"})" << "\n"
      << R"({"instruction": "Greet.", "input": "", "output": "Hi"})" << "\n"
      << R"({"output": "alone"})" << "\n";
  auto text = [&](const Row& row, bool labelled_only) {
    std::vector<tokenizer::TokenId> ids;
    for (std::size_t i = 0; i < row.ids.size(); ++i)
      if (!labelled_only || row.labels[i] != -100) ids.push_back(static_cast<tokenizer::TokenId>(row.ids[i]));
    return tok->decode(ids);
  };
  const auto all = load_corpus(dir / "alpaca.jsonl", *tok, {4096, Packing::truncate, LossOn::all, std::nullopt});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(text(all[0], false),
            "### Instruction:\nSum it.\n\n### Input:\n2 and 3\n\n### Response:\n5<|endoftext|>");
  EXPECT_EQ(text(all[1], false), "### Instruction:\nGreet.\n\n### Response:\nHi<|endoftext|>");
  EXPECT_EQ(text(all[2], false), "### Instruction:\n\n\n### Response:\nalone<|endoftext|>");
  EXPECT_EQ(all[0].labels, all[0].ids);
  const auto response = load_corpus(dir / "alpaca.jsonl", *tok,
                                    {4096, Packing::truncate, LossOn::assistant, std::nullopt});
  EXPECT_EQ(text(response[0], true), "5<|endoftext|>");
  EXPECT_EQ(response[0].ids, all[0].ids);
  // The study's rows: BOS first, no end token.
  const auto study = load_corpus(dir / "alpaca.jsonl", *tok,
                                 {4096, Packing::truncate, LossOn::all, 259, false});
  EXPECT_EQ(study[1].ids.front(), 259);
  EXPECT_EQ(text(study[1], true), "### Instruction:\nGreet.\n\n### Response:\nHi");
  std::ofstream(dir / "bad.jsonl") << R"({"instruction": "x", "input": 3, "output": "y"})" << "\n";
  try {
    load_corpus(dir / "bad.jsonl", *tok, {64, Packing::truncate, LossOn::all, std::nullopt});
    ADD_FAILURE() << "a numeric input was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:1: `input` must be a string"), std::string::npos)
        << e.what();
  }
}

TEST(TrainCorpus, BadLinesAreNamed) {
  const TinySetup& s = setup();
  const auto tok = tokenizer::Tokenizer::load(s.dir() / "tok");
  test::ScratchDir dir;
  write(dir / "bad.jsonl", "{\"text\": \"fine\"}\n{\"other\": 1}\n");
  try {
    load_corpus(dir / "bad.jsonl", *tok, {8, Packing::truncate, LossOn::all, std::nullopt});
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
}

// scripts/convert_seed_checkpoint.py on a .pt written like the seed's (a dict of bf16 tensors).
TEST(SeedCheckpoint, ConvertsToSafetensorsWithTheSameNamesAndValues) {
  test::ScratchDir dir;
  const std::string python = TTTMEM_PYTHON;
  const auto made = test::run_command(
      python + " -c \"import torch; torch.save({"
      "'model.layers.0.mlp.ttt_proj.weight': (torch.arange(16.) / 8).view(4, 4).bfloat16(), "
      "'model.layers.0.mlp.ttt_conv.weight': (torch.arange(20.) / 16).view(4, 1, 5).bfloat16()}, '" +
      (dir / "ttt_minimal.pt").string() + "')\"");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string script = (test::source_dir() / "scripts" / "convert_seed_checkpoint.py").string();
  const auto r = test::run_command(python + " " + script + " " + (dir / "ttt_minimal.pt").string() +
                                   " " + (dir / "ttt.safetensors").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto tensors = io::load_tensors(dir / "ttt.safetensors", at::kCPU);
  std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
  ASSERT_EQ(by_name.size(), 2u);
  const at::Tensor proj = by_name.at("model.layers.0.mlp.ttt_proj.weight");
  EXPECT_EQ(proj.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(proj, (at::arange(16, at::kFloat) / 8).view({4, 4}).to(at::kBFloat16)));
  EXPECT_TRUE(at::equal(by_name.at("model.layers.0.mlp.ttt_conv.weight"),
                        (at::arange(20, at::kFloat) / 16).view({4, 1, 5}).to(at::kBFloat16)));
  // A key that is not a TTT tensor is refused, and nothing is written.
  const auto bad = test::run_command(
      python + " -c \"import torch; torch.save({'model.embed_tokens.weight': torch.zeros(2)}, '" +
      (dir / "bad.pt").string() + "')\" && " + python + " " + script + " " +
      (dir / "bad.pt").string() + " " + (dir / "bad.safetensors").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("is not a ttt_proj/ttt_conv weight"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir / "bad.safetensors"));
}

}  // namespace
}  // namespace tttmem::train
