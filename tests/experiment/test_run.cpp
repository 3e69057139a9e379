// `tttmem run` end to end on a tiny random Qwen3 (vocabulary of the Qwen tokenizer) with live TTT
// parameters (non-zero conv, chunk 8 so probes update their fast weights), in fp32: batched runs
// equal batch-size-1 runs token for token in every condition, a killed run resumes exactly, and
// bad setups fail with a clear message.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "experiment_test_util.h"
#include "test_support.h"
#include "tttmem/e2e.h"
#include "tttmem/experiment.h"
#include "tttmem/io.h"
#include "tttmem/tensor_io.h"
#include "tttmem/ttt.h"

#include <c10/core/InferenceMode.h>

namespace tttmem::experiment {
namespace {

using Results = std::map<std::pair<std::string, std::string>, Record>;

Results results(const std::filesystem::path& jsonl) {
  Results out;
  for (Record& r : read_records(jsonl)) out[{r.sample_id, r.probe_id}] = std::move(r);
  return out;
}

// One model, TTT checkpoint and benchmark for the whole suite (made once: seconds).
class RunCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new test::ScratchDir();
    test::make_tiny_model(*scratch_ / "model");
    auto made = test::run_tttmem("build-benchmark --seed 42 --samples-per-level 2 --out '" +
                                 (*scratch_ / "bench.json").string() + "'");
    ASSERT_EQ(made.exit_code, 0) << made.output;
    test::save_live_ttt(*scratch_ / "model", *scratch_ / "ttt.safetensors");
    // Rows must stop at different steps, so that rows join a batch mid-decode and the cache
    // compacts: <|endoftext|> takes (slightly scaled up) the lm_head row of the token the model
    // generates most, so a row stops wherever it would have emitted that token.
    made = run("probe_model", "--condition c --samples L3-0000 --batch-size 4");
    ASSERT_EQ(made.exit_code, 0) << made.output;
    std::map<std::int64_t, int> counts;
    for (const Record& r : read_records(path("probe_model") / "condition_c.jsonl"))
      for (std::int64_t id : r.output_ids) ++counts[id];
    const auto most = std::max_element(counts.begin(), counts.end(), [](auto& a, auto& b) {
      return a.second < b.second;
    });
    const auto weights_file = *scratch_ / "model" / "model.safetensors";
    io::NamedTensors tensors = io::load_tensors(weights_file, at::kCPU);
    for (auto& [name, tensor] : tensors) {
      tensor = tensor.clone();
      if (name == "lm_head.weight") tensor[151643].copy_(tensor[most->first] * 1.05);
    }
    io::save_tensors(weights_file, tensors);
  }
  static void TearDownTestSuite() { delete scratch_; }

  static std::string run_args(const std::string& out, const std::string& extra) {
    return "run --dtype fp32 --model '" + (*scratch_ / "model").string() + "' --benchmark '" +
           (*scratch_ / "bench.json").string() + "' --tokenizer '" +
           (test::source_dir() / "configs/tokenizers/qwen3").string() + "' --ttt '" +
           (*scratch_ / "ttt.safetensors").string() +
           "' --ttt-layers 0,2 --ttt-chunk 8 --ttt-lr 3 --max-new-tokens 8 --out '" +
           (*scratch_ / out).string() + "' " + extra;
  }
  static test::CommandResult run(const std::string& out, const std::string& extra) {
    return test::run_tttmem(run_args(out, extra));
  }
  static std::filesystem::path path(const std::string& name) { return *scratch_ / name; }
  // The settings the suite's TTT checkpoint runs with (run_args' --ttt-* flags).
  static ttt::TTTConfig live_ttt_config() {
    ttt::TTTConfig config;
    config.set_layers({0, 2});
    config.chunk = 8;
    config.lr = 3;
    return config;
  }
  // The suite's TTT checkpoint, loaded for `model` in fp32 on the CPU.
  static ttt::TTTParams live_ttt_params(const ttt::TTTConfig& ttt, const ModelConfig& model) {
    return ttt::TTTParams::load(io::Checkpoint::open(path("ttt.safetensors")), ttt, model, at::kCPU,
                                at::kFloat);
  }

  static void expect_same(const std::string& a, const std::string& b,
                          const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      const Results ra = results(path(a) / ("condition_" + name + ".jsonl"));
      const Results rb = results(path(b) / ("condition_" + name + ".jsonl"));
      ASSERT_FALSE(ra.empty()) << name;
      ASSERT_EQ(ra.size(), rb.size()) << name;
      for (const auto& [key, record] : ra) {
        const Record& other = rb.at(key);
        EXPECT_EQ(record.output_ids, other.output_ids) << name << " " << key.first << "/" << key.second;
        EXPECT_EQ(record.predicted, other.predicted) << name << " " << key.first << "/" << key.second;
        EXPECT_EQ(record.stop_reason, other.stop_reason);
      }
      EXPECT_EQ(io::read_file(path(a) / ("condition_" + name + ".json")),
                io::read_file(path(b) / ("condition_" + name + ".json")))
          << name;
    }
  }

  static test::ScratchDir* scratch_;
};
test::ScratchDir* RunCommand::scratch_ = nullptr;

TEST_F(RunCommand, BatchedRunsEqualBatchSizeOneInEveryCondition) {
  // L2-0001 (2 probes) and L3-0000 (10): every condition, D included, in a few seconds.
  const std::string both = " --samples L2-0001,L3-0000", small = " --samples L2-0001";
  for (const std::string batch : {"1", "8"}) {
    const std::string b = " --batch-size " + batch;
    for (const std::string& args :
         {"--condition all" + both, "--condition ttt_paper" + small,
          "--condition a_prime --noise-scales 0.05" + small, "--condition b_scaled --alphas 0.5" + small}) {
      const auto r = run("seed_" + batch, args + b);
      ASSERT_EQ(r.exit_code, 0) << args << b << "\n" << r.output;
    }
  }
  // Batch 3 over 12 probes: rows join mid-decode.
  // scroll: rows start from their sample's stream (conversations of different lengths).
  const std::string scroll = "--condition scroll --attention-window 16" + both;
  for (const std::string batch : {"1", "3"}) {
    auto r = run("fixed_" + batch, "--protocol fixed --condition all" + both + " --batch-size " + batch);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run("scroll_fixed_" + batch, "--protocol fixed " + scroll + " --batch-size " + batch);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  for (const std::string batch : {"1", "8"}) {
    const auto r = run("scroll_seed_" + batch, scroll + " --batch-size " + batch);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  expect_same("seed_1", "seed_8", {"a", "b", "c", "d", "ttt_paper", "a_prime_0p05", "b_scaled_0p5"});
  // On a conversation benchmark ttt_paper keeps the seed's live fast weights while decoding.
  EXPECT_EQ(nlohmann::json::parse(io::read_file(path("seed_1") / "identity_ttt_paper.json"))
                .at("protocol_options")
                .at("paper_decode_base_down"),
            false);
  expect_same("fixed_1", "fixed_3", {"a", "b", "c", "d"});
  expect_same("scroll_seed_1", "scroll_seed_8", {"scroll"});
  expect_same("scroll_fixed_1", "scroll_fixed_3", {"scroll"});

  // The files are what SPEC.md "run" (Results) says: one record per selected probe, D on level 3 only.
  const Results b = results(path("seed_1") / "condition_b.jsonl");
  const Results c = results(path("seed_1") / "condition_c.jsonl");
  const Results d = results(path("seed_1") / "condition_d.jsonl");
  EXPECT_FALSE(d.empty());
  for (const auto& [key, record] : d) EXPECT_EQ(record.level, 3) << key.first;
  std::size_t differ = 0;
  for (const auto& [key, record] : b) {
    EXPECT_EQ(record.generated_tokens, static_cast<std::int64_t>(record.output_ids.size()));
    EXPECT_GT(record.prompt_tokens, 0);
    EXPECT_TRUE(record.stop_reason == "stop_token" || record.stop_reason == "max_new_tokens");
    differ += record.output_ids != c.at(key).output_ids;
  }
  EXPECT_GT(differ, 0u) << "the TTT memory changed no answer: the parameters are not live";
  std::size_t early = 0;  // rows that stopped before max_new_tokens (so others joined mid-decode)
  for (const auto& [key, record] : c) early += record.stop_reason == "stop_token";
  EXPECT_GT(early, 0u);
  EXPECT_LT(early, c.size());
  // The seed protocol leaks probe-time updates; freezing (fixed) changes B's answers.
  const Results fixed_b = results(path("fixed_1") / "condition_b.jsonl");
  std::size_t leak = 0;
  ASSERT_FALSE(fixed_b.empty());
  for (const auto& [key, record] : fixed_b) leak += record.output_ids != b.at(key).output_ids;
  EXPECT_GT(leak, 0u);
  const auto run_json = nlohmann::json::parse(io::read_file(path("fixed_3") / "run.json"));
  EXPECT_EQ(run_json.at("protocol"), "fixed");
  EXPECT_EQ(run_json.at("protocol_options").at("freeze_while_answering"), true);
  EXPECT_EQ(run_json.at("benchmark").at("sha256").get<std::string>(),
            sha256_file(path("bench.json")));
  EXPECT_EQ(run_json.at("attention_windows"), nlohmann::json::array({0, 0, 0, 0}));
  EXPECT_EQ(run_json.at("conditions").size(), 4u);
  // The engine's cache now has 2 x max_new_tokens of slack, so these short runs never compact;
  // KVCache::compact itself is checked in tests/model (test_decoder.cpp).
  EXPECT_EQ(nlohmann::json::parse(io::read_file(path("scroll_fixed_3") / "run.json"))
                .at("attention_windows"),
            nlohmann::json::array({16, 16, 16, 16}));
  // A stream that forgets by its window is not B's explicit drop: its tails and its last window
  // of filler stay.
  const Results scrolled = results(path("scroll_seed_1") / "condition_scroll.jsonl");
  ASSERT_EQ(scrolled.size(), b.size());
  std::size_t differ_from_b = 0;
  for (const auto& [key, record] : scrolled) {
    EXPECT_EQ(record.prompt_tokens, b.at(key).prompt_tokens) << "B's prompt, without the conversation";
    differ_from_b += record.output_ids != b.at(key).output_ids;
  }
  EXPECT_GT(differ_from_b, 0u);
}

// scroll is one stream: conversation, filler, prompt and answer in one greedy generation, TTT
// live throughout, under the same window. The engine (batched, each row starting from a copy of
// its sample's stream) must give exactly that stream's tokens.
TEST_F(RunCommand, ScrollAnswersEqualOnePlainStreamOfConversationFillerAndPrompt) {
  const ModelConfig config = ModelConfig::load(path("model"));
  const io::Checkpoint checkpoint = io::Checkpoint::open(path("model"));
  model::Decoder qwen3(config, checkpoint, at::kCPU, at::kFloat);
  constexpr std::int64_t kWindow = 16;
  qwen3.set_attention_window(kWindow);
  const auto tok = tokenizer::Tokenizer::load(test::source_dir() / "configs/tokenizers/qwen3");
  const ttt::TTTConfig ttt_config = live_ttt_config();
  const ttt::TTTParams params = live_ttt_params(ttt_config, config);
  protocol::ProtocolOptions protocol;
  protocol.max_new_tokens = 8;
  const protocol::Condition scroll = protocol::make_condition(protocol::kScroll, protocol);
  const bench::Benchmark benchmark = bench::load_benchmark(path("bench.json"));
  const auto samples =
      protocol::select_samples(benchmark, {"L2-0001", "L3-0000"}, std::nullopt, false);
  std::filesystem::create_directories(path("scroll_engine"));
  Engine engine(qwen3, *tok, &ttt_config, &params, {false, path("scroll_engine"), protocol, {}});
  engine.run(scroll, samples, 3);
  const Results got = results(path("scroll_engine") / "condition_scroll.jsonl");
  ASSERT_EQ(got.size(), 12u);

  auto encode = [&](const std::string& text) {
    const auto ids = tok->encode(text);
    return std::vector<std::int64_t>(ids.begin(), ids.end());
  };
  const c10::InferenceMode inference;
  for (const bench::Sample* sample : samples) {
    const std::vector<std::int64_t> filler = protocol::scroll_filler(*sample, *tok, kWindow);
    ASSERT_EQ(filler.size(), static_cast<std::size_t>(kWindow - 1));
    for (const bench::Probe& probe : sample->probes) {
      std::vector<std::int64_t> stream = encode(sample->conversation);
      stream.insert(stream.end(), filler.begin(), filler.end());
      const std::vector<std::int64_t> prompt =
          encode(protocol::probe_prompt(scroll, protocol, *sample, probe));
      EXPECT_EQ(prompt, encode(tokenizer::seed_prompt_without_conversation(probe.question)));
      stream.insert(stream.end(), prompt.begin(), prompt.end());
      ttt::TTTState state;
      ttt::Graft graft(ttt_config, params, state);
      model::SharedOverride memory(graft);
      const std::vector<std::int64_t> expected =
          model::BatchDecoder(qwen3, {}, &memory)
              .run({{0, stream, {}, 0, protocol.max_new_tokens}})
              .at(0)
              .generated;
      EXPECT_EQ(got.at({sample->sample_id, probe.probe_id}).output_ids, expected)
          << sample->sample_id << "/" << probe.probe_id;
    }
  }
}

// --memory e2e: B, D and scroll answer from their sample's final dynamic weights, each row its
// own; the engine's records equal the library's inner loop followed by a decode of the prompt
// alone (B, D: a fresh cache; scroll: the loop's own cache, continued).
TEST_F(RunCommand, E2EConditionsAnswerFromTheInnerLoopsFinalWeights) {
  const ModelConfig config = ModelConfig::load(path("model"));
  const io::Checkpoint checkpoint = io::Checkpoint::open(path("model"));
  model::Decoder qwen3(config, checkpoint, at::kCPU, at::kFloat);
  qwen3.set_attention_window(16);
  const auto tok = tokenizer::Tokenizer::load(test::source_dir() / "configs/tokenizers/qwen3");
  e2e::E2EConfig e2e_config = e2e::E2EConfig::defaults(config);
  e2e_config.mini_batch = 16;
  e2e_config.inner_lr = 2.0;
  const e2e::E2EParams theta = e2e::E2EParams::init(e2e_config, config, 4, at::kCPU);
  protocol::ProtocolOptions protocol;
  protocol.max_new_tokens = 6;
  const bench::Benchmark benchmark = bench::load_benchmark(path("bench.json"));
  auto encode = [&](const std::string& text) {
    const auto ids = tok->encode(text);
    return std::vector<std::int64_t>(ids.begin(), ids.end());
  };
  for (const char* kind : {"b", "d", "scroll"}) {
    SCOPED_TRACE(kind);
    const protocol::Condition condition = protocol::make_condition(kind, protocol);
    const auto samples = protocol::select_samples(benchmark, {"L3-0000", "L3-0001"},
                                                  std::nullopt, false);
    const auto out = path(std::string("e2e_engine_") + kind);
    std::filesystem::create_directories(out);
    EngineOptions options{false, out, protocol, {}};
    options.e2e_config = &e2e_config;
    options.e2e_params = &theta;
    Engine(qwen3, *tok, nullptr, nullptr, options).run(condition, samples, 3);
    const Results got = results(out / ("condition_" + condition.name + ".jsonl"));
    ASSERT_EQ(got.size(), samples[0]->probes.size() + samples[1]->probes.size());
    for (const bench::Sample* sample : samples) {
      std::vector<std::int64_t> text = encode(*protocol::ingest_text(condition, *sample));
      if (condition.filler_until_out_of_window) {
        const auto filler = protocol::scroll_filler(*sample, *tok, 16);
        text.insert(text.end(), filler.begin(), filler.end());
      }
      const auto length = static_cast<std::int64_t>(text.size());
      e2e::IngestOptions ingest_options;
      ingest_options.keep_cache = true;
      const e2e::IngestResult ingested =
          e2e::ingest(qwen3, e2e_config, e2e::E2EState::initial(theta, 1),
                      at::tensor(text, at::kLong).view({1, length}), ingest_options);
      const e2e::E2EState& state = ingested.state;
      const std::shared_ptr<const model::KVCache> cache = ingested.cache;
      EXPECT_EQ(state.updates, (length - 1 + 15) / 16);
      const c10::InferenceMode inference;
      for (const bench::Probe& probe : sample->probes) {
        e2e::DecoderMemory memory(e2e_config);
        memory.add(0, state);
        const std::vector<std::int64_t> prompt =
            encode(protocol::probe_prompt(condition, protocol, *sample, probe));
        const model::DecodeRow row{0, prompt, condition.continue_stream ? cache : nullptr, 0,
                                   protocol.max_new_tokens};
        EXPECT_EQ(got.at({sample->sample_id, probe.probe_id}).output_ids,
                  model::BatchDecoder(qwen3, {}, &memory).run({row}).at(0).generated)
            << sample->sample_id << "/" << probe.probe_id;
      }
    }
  }
}

TEST_F(RunCommand, E2EFromTheCommandLine) {
  const std::string common = "run --dtype fp32 --model '" + path("model").string() +
                             "' --benchmark '" + path("bench.json").string() + "' --tokenizer '" +
                             (test::source_dir() / "configs/tokenizers/qwen3").string() +
                             "' --limit 1 --max-new-tokens 3 ";
  const std::string base = common + "--memory e2e --e2e-init --e2e-mini-batch 32 --e2e-inner-lr 1.5 ";
  const auto r = test::run_tttmem(base + "--condition all --out '" + path("e2e_all").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto run_json = nlohmann::json::parse(io::read_file(path("e2e_all") / "run.json"));
  EXPECT_EQ(run_json.at("memory"), "e2e");
  EXPECT_EQ(run_json.at("e2e").at("config").at("e2e_mini_batch"), 32);
  EXPECT_EQ(run_json.at("e2e").at("config").at("e2e_inner_lr"), 1.5);
  EXPECT_TRUE(run_json.at("ttt").is_null());
  for (const char* c : {"a", "b", "c", "d"})
    EXPECT_FALSE(read_records(path("e2e_all") / ("condition_" + std::string(c) + ".jsonl")).empty()) << c;
  const auto identity = nlohmann::json::parse(io::read_file(path("e2e_all") / "identity_b.json"));
  EXPECT_EQ(identity.at("e2e").at("config"), run_json.at("e2e").at("config"));
  // Each refused with exit 1 and a message naming what is wrong.
  auto refused = [](const std::string& args, const std::string& message) {
    const test::CommandResult result = test::run_tttmem(args);
    EXPECT_EQ(result.exit_code, 1) << args << "\n" << result.output;
    EXPECT_NE(result.output.find(message), std::string::npos) << result.output;
  };
  auto out = [&](const char* name) { return "--out '" + path(name).string() + "'"; };
  // Another inner learning rate is another experiment: --resume refuses it.
  refused(common + "--memory e2e --e2e-init --e2e-mini-batch 32 --e2e-inner-lr 1 --condition b "
                   "--resume " + out("e2e_all"),
          "another e2e");
  refused(base + "--condition a_prime " + out("e2e_noise"), "does not apply to --memory e2e");
  refused(base + "--condition b --ttt-layers 0 " + out("e2e_ttt"), "do not apply to --memory e2e");
  refused(common + "--memory e2e --e2e-init --e2e-inner-lr nan --condition b " + out("e2e_nan"),
          "--e2e-inner-lr: expected a finite number");
  // The model has no dynamic_* tensors: without --e2e-init or --e2e, the error names them.
  refused(common + "--memory e2e --condition b " + out("e2e_missing"), "dynamic_gate_proj");
  refused(common + "--e2e-window 8 --condition c " + out("e2e_flag_alone"),
          "apply to --memory e2e only");
}

// --paper-decode base (the adapter study's ttt_paper): the prompt is read through the
// chunk-causal fast weights, the answer's tokens are decoded with the model's own down_proj. The
// reference feeds the prompt through a graft, then decodes one token at a time with no graft.
TEST_F(RunCommand, PaperDecodeBaseDownDecodesAfterThePrefillWithTheModelsOwnDownProj) {
  const ModelConfig config = ModelConfig::load(path("model"));
  const io::Checkpoint checkpoint = io::Checkpoint::open(path("model"));
  model::Decoder qwen3(config, checkpoint, at::kCPU, at::kFloat);
  const auto tok = tokenizer::Tokenizer::load(test::source_dir() / "configs/tokenizers/qwen3");
  const ttt::TTTConfig ttt_config = live_ttt_config();
  const ttt::TTTParams params = live_ttt_params(ttt_config, config);
  protocol::ProtocolOptions protocol;
  protocol.max_new_tokens = 8;
  protocol.paper_decode_base_down = true;
  const protocol::Condition paper = protocol::make_condition(protocol::kTttPaper, protocol);
  ASSERT_TRUE(paper.decode_with_base_weights);
  const bench::Benchmark benchmark = bench::load_benchmark(path("bench.json"));
  const auto samples =
      protocol::select_samples(benchmark, {"L2-0001", "L3-0000"}, std::nullopt, false);
  std::filesystem::create_directories(path("paper_base"));
  Engine(qwen3, *tok, &ttt_config, &params, {false, path("paper_base"), protocol, {}})
      .run(paper, samples, 3);
  protocol::ProtocolOptions live_protocol = protocol;
  live_protocol.paper_decode_base_down = false;
  std::filesystem::create_directories(path("paper_live"));
  Engine(qwen3, *tok, &ttt_config, &params, {false, path("paper_live"), live_protocol, {}})
      .run(protocol::make_condition(protocol::kTttPaper, live_protocol), samples, 3);
  const Results got = results(path("paper_base") / "condition_ttt_paper.jsonl");
  const Results live = results(path("paper_live") / "condition_ttt_paper.jsonl");
  ASSERT_EQ(got.size(), samples[0]->probes.size() + samples[1]->probes.size());

  const std::vector<std::int64_t> stops = model::default_stop_ids(config);
  const c10::InferenceMode inference;
  int differs_from_live = 0;
  for (const bench::Sample* sample : samples)
    for (const bench::Probe& probe : sample->probes) {
      const auto ids = tok->encode(protocol::probe_prompt(paper, protocol, *sample, probe));
      const std::vector<std::int64_t> prompt(ids.begin(), ids.end());
      const auto n = static_cast<std::int64_t>(prompt.size());
      model::KVCache cache = qwen3.make_cache(1, n + protocol.max_new_tokens);
      ttt::TTTState state;
      ttt::Graft graft(ttt_config, params, state);
      model::ForwardOptions with_graft;
      with_graft.mlp_override = &graft;
      with_graft.last_logits_only = true;
      std::vector<std::int64_t> expected{
          qwen3.forward(at::tensor(prompt, at::kLong).unsqueeze(0), cache, with_graft)
              .flatten()
              .argmax()
              .item<std::int64_t>()};
      model::ForwardOptions plain;
      plain.last_logits_only = true;
      while (static_cast<std::int64_t>(expected.size()) < protocol.max_new_tokens &&
             std::find(stops.begin(), stops.end(), expected.back()) == stops.end())
        expected.push_back(qwen3.forward(at::full({1, 1}, expected.back(), at::kLong), cache, plain)
                               .flatten()
                               .argmax()
                               .item<std::int64_t>());
      const std::pair<std::string, std::string> key{sample->sample_id, probe.probe_id};
      EXPECT_EQ(got.at(key).output_ids, expected) << key.first << "/" << key.second;
      differs_from_live += got.at(key).output_ids != live.at(key).output_ids;
    }
  // The option changes answers: by default the prompt's fast weights keep applying (and
  // updating) while decoding.
  EXPECT_GT(differs_from_live, 0);
}

// The filler rule: window - 1 filler tokens put every conversation token out of every probe
// query's window. On a one-layer model without TTT the filler's keys and values come from its
// own tokens only, so the probe's logits depend on the conversation exactly where a probe query
// attends a conversation position: not at all with window - 1 filler tokens, and with one fewer
// they do.
// Ingestion and prompt prefills fed in pieces (5 tokens: shorter than a TTT chunk of 8, and rows
// that are all padding in a piece; 60 under the fixed protocol, whose A and C prompts hold the
// distractor: chunks straddle pieces) answer as whole prefills do, in every condition of both
// protocols and under scroll's continued streams.
TEST_F(RunCommand, PrefillPiecesDoNotChangeAnswers) {
  const ModelConfig config = ModelConfig::load(path("model"));
  const io::Checkpoint checkpoint = io::Checkpoint::open(path("model"));
  const auto tok = tokenizer::Tokenizer::load(test::source_dir() / "configs/tokenizers/qwen3");
  const ttt::TTTConfig ttt_config = live_ttt_config();
  const ttt::TTTParams params = live_ttt_params(ttt_config, config);
  const bench::Benchmark benchmark = bench::load_benchmark(path("bench.json"));
  for (const std::string preset : {"seed", "fixed"}) {
    for (const std::string name : {"all", "scroll"}) {
      model::Decoder qwen3(config, checkpoint, at::kCPU, at::kFloat);
      if (name == "scroll") qwen3.set_attention_window(16);
      protocol::ProtocolOptions protocol = protocol::ProtocolOptions::preset(preset);
      protocol.max_new_tokens = 8;
      std::vector<std::string> names;
      const std::int64_t small = preset == "seed" ? 5 : 60;
      for (const std::int64_t piece : {model::kPrefillPiece, small}) {
        const std::string out = "pieces_" + preset + "_" + name + "_" + std::to_string(piece);
        std::filesystem::create_directories(path(out));
        Engine engine(qwen3, *tok, &ttt_config, &params, {false, path(out), protocol, {}, piece});
        names.clear();
        for (const protocol::Condition& condition :
             protocol::make_conditions(name, protocol, {}, {})) {
          names.push_back(condition.name);
          engine.run(condition,
                     protocol::select_samples(benchmark, {"L2-0001", "L3-0000"}, std::nullopt,
                                              condition.level3_only),
                     3);
        }
      }
      const std::string stem = "pieces_" + preset + "_" + name + "_";
      expect_same(stem + std::to_string(model::kPrefillPiece), stem + std::to_string(small), names);
    }
  }
}

TEST_F(RunCommand, ScrollFillerPutsTheConversationOutOfEveryProbeQuerysWindow) {
  const auto one_layer = path("one_layer");
  std::filesystem::create_directories(one_layer);
  nlohmann::json json = ModelConfig::load(path("model")).to_json();
  json["num_hidden_layers"] = 1;  // the checkpoint's other layers are left unread
  json["layer_types"] = nlohmann::json::array({"full_attention"});
  io::atomic_write_file(one_layer / "config.json", json.dump());
  std::filesystem::create_hard_link(path("model") / "model.safetensors",  // no symlinks out
                                    one_layer / "model.safetensors");
  const ModelConfig config = ModelConfig::load(one_layer);
  const io::Checkpoint checkpoint = io::Checkpoint::open(one_layer);
  model::Decoder qwen3(config, checkpoint, at::kCPU, at::kFloat);
  constexpr std::int64_t kWindow = 12;
  qwen3.set_attention_window(kWindow);
  const auto tok = tokenizer::Tokenizer::load(test::source_dir() / "configs/tokenizers/qwen3");
  const bench::Benchmark benchmark = bench::load_benchmark(path("bench.json"));
  const bench::Sample& sample =
      *protocol::select_samples(benchmark, {"L2-0001"}, std::nullopt, false).at(0);
  const protocol::Condition scroll = protocol::make_condition(protocol::kScroll, {});

  const auto conversation = tok->encode(sample.conversation);
  std::vector<std::int64_t> real(conversation.begin(), conversation.end()), other = real;
  for (std::int64_t& id : other) id = (id + 1) % 1000;  // another text of the same length
  const std::vector<std::int64_t> filler = protocol::scroll_filler(sample, *tok, kWindow);
  const auto prompt_ids =
      tok->encode(protocol::probe_prompt(scroll, {}, sample, sample.probes.at(0)));
  const std::vector<std::int64_t> prompt(prompt_ids.begin(), prompt_ids.end());
  const c10::InferenceMode inference;
  // The prompt's logits after the conversation and the first `filler_tokens` of the filler, the
  // stream prefilled first and the prompt on top of its KV cache, as the engine runs it.
  auto prompt_logits = [&](std::vector<std::int64_t> stream, std::size_t filler_tokens) {
    stream.insert(stream.end(), filler.begin(), filler.begin() + filler_tokens);
    const auto n = static_cast<std::int64_t>(stream.size());
    const auto p = static_cast<std::int64_t>(prompt.size());
    model::KVCache cache = qwen3.make_cache(1, n + p);
    qwen3.forward(at::tensor(stream, at::kLong).view({1, n}), cache);
    return qwen3.forward(at::tensor(prompt, at::kLong).view({1, p}), cache);
  };
  ASSERT_EQ(filler.size(), static_cast<std::size_t>(kWindow - 1));
  EXPECT_TRUE(at::equal(prompt_logits(real, filler.size()), prompt_logits(other, filler.size())));
  const at::Tensor short_real = prompt_logits(real, filler.size() - 1);
  const at::Tensor short_other = prompt_logits(other, filler.size() - 1);
  EXPECT_FALSE(at::equal(short_real[0][0], short_other[0][0]))
      << "one filler token fewer: the first probe token sees the conversation's last";
  EXPECT_TRUE(at::equal(short_real[0][1], short_other[0][1])) << "but the second does not";
}

TEST_F(RunCommand, KilledRunResumesWithoutRedoingOrDuplicatingAProbe) {
  const std::string args = "--condition all --samples L2-0001,L3-0000 --batch-size 4";
  auto whole = run("whole", args);
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  // Killed abruptly after its 7th record of condition a...
  auto killed = test::run_command("TTTMEM_TEST_EXIT_AFTER_RECORDS=7 " +
                                  std::string(TTTMEM_BINARY) + " " +
                                  run_args("resumed", args));
  ASSERT_NE(killed.exit_code, 0) << killed.output;
  EXPECT_EQ(read_records(path("resumed") / "condition_a.jsonl").size(), 7u);
  EXPECT_FALSE(std::filesystem::exists(path("resumed") / "condition_b.jsonl"));
  {  // ... in the middle of writing a line.
    std::ofstream torn(path("resumed") / "condition_a.jsonl", std::ios::app);
    torn << R"({"sample_id": "L1-00)";
  }
  auto again = run("resumed", args);
  EXPECT_EQ(again.exit_code, 1) << "an existing result without --resume must not be overwritten";
  // Records of another experiment are not continued: here another protocol, then an attention
  // window; the message names what differs, and nothing is written.
  for (const auto& [changed, named] :
       {std::pair<std::string, std::string>{" --protocol fixed", "protocol_options"},
        {" --attention-window 64", "attention_windows"}}) {
    again = run("resumed", args + " --resume" + changed);
    EXPECT_EQ(again.exit_code, 1) << changed << ": " << again.output;
    EXPECT_NE(again.output.find("another " + named), std::string::npos) << again.output;
    EXPECT_EQ(read_records(path("resumed") / "condition_a.jsonl").size(), 7u) << changed;
  }
  again = run("resumed", args + " --resume");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  expect_same("whole", "resumed", {"a", "b", "c", "d"});
  EXPECT_EQ(read_records(path("resumed") / "condition_a.jsonl").size(),
            read_records(path("whole") / "condition_a.jsonl").size());
  const auto run_json = nlohmann::json::parse(io::read_file(path("resumed") / "run.json"));
  EXPECT_EQ(run_json.at("conditions").at(0).at("resumed_probes"), 7);
  // Where each TTT setting came from: the checkpoint's recipe, which the flags repeat.
  const std::string from_checkpoint = "checkpoint " + path("ttt.safetensors").string();
  for (const char* field : {"ttt_layers", "ttt_chunk", "ttt_lr", "ttt_precision"})
    EXPECT_EQ(run_json.at("ttt").at("config_sources").at(field), from_checkpoint) << field;
  EXPECT_EQ(run_json.at("ttt").at("init"), "dense");
  const auto identity = nlohmann::json::parse(io::read_file(path("resumed") / "identity_a.json"));
  EXPECT_EQ(identity.at("ttt").at("config_sources"), run_json.at("ttt").at("config_sources"));
  EXPECT_EQ(run_json.at("batch_size_source"), "--batch-size");
}

TEST_F(RunCommand, MissingTttParametersAndBadInputAreErrors) {
  const std::string base = "run --dtype fp32 --model '" + path("model").string() +
                           "' --benchmark '" + path("bench.json").string() + "' --tokenizer '" +
                           (test::source_dir() / "configs/tokenizers/qwen3").string() +
                           "' --limit 1 --max-new-tokens 2 ";
  auto r = test::run_tttmem(base + "--condition b --out '" + path("no_ttt").string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--ttt"), std::string::npos) << r.output;
  r = test::run_tttmem(base + "--condition b --ttt-layers 0 --ttt '" + path("nowhere").string() +
                       "' --out '" + path("no_ttt").string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("nowhere"), std::string::npos) << r.output;
  r = test::run_tttmem(base + "--condition c --samples L1-0000,L9-9999 --out '" +
                       path("bad_ids").string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("L9-9999"), std::string::npos) << r.output;
  // scroll forgets by the attention window, so it needs one: a usage error, before any work.
  r = test::run_tttmem(base + "--condition scroll --out '" + path("no_window").string() + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--condition scroll: needs --attention-window N"), std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(path("no_window")));
  // Without any TTT, the zero-parameter conditions run on the plain model.
  r = test::run_tttmem(base + "--condition c --samples L1-0001 --out '" + path("plain").string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_records(path("plain") / "condition_c.jsonl").size(), 10u);
  // No --batch-size: the tiny model's rows fit many times over, so the cap; run.json says why.
  const auto plain = nlohmann::json::parse(io::read_file(path("plain") / "run.json"));
  EXPECT_EQ(plain.at("batch_size"), kMaxDefaultBatchSize);
  EXPECT_NE(plain.at("batch_size_source").get<std::string>().find("auto on cpu"),
            std::string::npos) << plain.dump();
  // ... and what those rows take at worst beside the weights (no TTT: KV and activations), for
  // the longest prompt the run answered (C ingests nothing).
  std::int64_t longest_prompt = 0;
  for (const Record& r : read_records(path("plain") / "condition_c.jsonl"))
    longest_prompt = std::max(longest_prompt, r.prompt_tokens);
  EXPECT_TRUE(plain.at("device_peak_allocated_bytes").is_null());  // measured on a GPU only
  EXPECT_EQ(plain.at("longest_ingest_tokens"), 0);
  EXPECT_EQ(plain.at("longest_answer_tokens"), longest_prompt);
  EXPECT_EQ(plain.at("batch_rows_worst_case_bytes").get<std::int64_t>(),
            kMaxDefaultBatchSize * row_bytes(ModelConfig::load(path("model")), nullptr,
                                             at::kFloat, {false, 0, longest_prompt}, 2));
}

TEST(Experiment, FittingBatchSizeIsThePowerOfTwoThatFits) {
  const std::int64_t gib = std::int64_t{1} << 30;
  EXPECT_EQ(fitting_batch_size(gib, 100 * gib), 64);     // capped
  EXPECT_EQ(fitting_batch_size(gib, 20 * gib), 16);      // 16 GiB <= 0.8 x 20 < 32 GiB
  EXPECT_EQ(fitting_batch_size(gib, 10 * gib), 8);       // 8 <= 8 exactly
  EXPECT_EQ(fitting_batch_size(gib, 10 * gib - 1), 4);   // just under
  EXPECT_EQ(fitting_batch_size(4 * gib, gib), 1);        // not even one row: still 1
}

ModelConfig qwen3_8b() { return ModelConfig::load(test::source_dir() / "configs/models/qwen3-8b.json"); }

// The arithmetic at Qwen3-8B shapes: KV slots (36 layers x 2 x 8 heads x 128 x 2 bytes a token)
// for the ingested stream and twice the answering row with its 2 x max_new of room; fast weights
// on the 6 TTT layers plus one in flight; one prefill's activations at the longer length.
TEST(Experiment, RowBytesCountKvFastWeightsAndActivations) {
  const ModelConfig model = qwen3_8b();
  ttt::TTTConfig ttt;
  ttt.set_layers({0, 6, 12, 18, 24, 30});
  const RowNeeds needs{true, 1000, 300};
  const std::int64_t answer = 300 + 2 * 32;
  const std::int64_t kv = 2LL * 36 * 8 * 128 * (1000 + 2 * answer) * 2;
  const std::int64_t activations = 1000LL * (3 * 12288 + 8 * 4096) * 2;
  const std::int64_t dense_bf16 = 7LL * 4096 * 12288 * 2;
  EXPECT_EQ(row_bytes(model, &ttt, at::kBFloat16, needs, 32), kv + dense_bf16 + activations);
  // No TTT, or a condition whose rows carry none (zero parameters): no fast weights.
  EXPECT_EQ(row_bytes(model, nullptr, at::kBFloat16, needs, 32), kv + activations);
  EXPECT_EQ(row_bytes(model, &ttt, at::kBFloat16, {false, 1000, 300}, 32), kv + activations);
  // The fp32 delta: factors of rank ingest + answer (1364 < 2048) ...
  ttt.precision = ttt::Precision::fp32;
  EXPECT_EQ(row_bytes(model, &ttt, at::kBFloat16, needs, 32),
            kv + 7LL * (1000 + answer) * (4096 + 12288) * 4 + activations);
  // ... dense fp32 past the rank limit, or when the config keeps it dense.
  ttt.max_low_rank = 1000;
  EXPECT_EQ(row_bytes(model, &ttt, at::kBFloat16, needs, 32), kv + 2 * dense_bf16 + activations);
  ttt.max_low_rank = 0;
  EXPECT_EQ(row_bytes(model, &ttt, at::kBFloat16, needs, 32), kv + 2 * dense_bf16 + activations);
  // A long answering row: its activations are one prefill piece's.
  const std::int64_t long_kv = 2LL * 36 * 8 * 128 * 2 * (2000 + 64) * 2;
  EXPECT_EQ(row_bytes(model, nullptr, at::kBFloat16, {false, 0, 2000}, 32),
            long_kv + 1024LL * (3 * 12288 + 8 * 4096) * 2);
  EXPECT_EQ(row_bytes(model, nullptr, at::kBFloat16, {false, 0, 2000}, 32, 4096),
            long_kv + (2000LL + 64) * (3 * 12288 + 8 * 4096) * 2);
}

// The real-size Gemma3 recipe's memory (README "The Gemma3 adapter study at real size"): one
// gemma-3-1b-it row at RULER's 32K tokens, bf16, the gemma3-global graft (4 layers), 16 new
// tokens. KV: 26 layers x 2 x 1 head x 256 x 2 bytes = 26,624 bytes a token (every layer keeps
// every position: the cache does not drop what the sliding window hides).
TEST(Experiment, Gemma3_1bRowsAtRulers32kTokens) {
  const ModelConfig model = ModelConfig::load(test::source_dir() / "configs/models/gemma3-1b.json");
  const ttt::TTTConfig ttt = ttt::TTTConfig::preset("gemma3-global", model);
  ASSERT_EQ(ttt.layers.size(), 4u);
  const std::int64_t per_token = 2LL * 26 * 1 * 256 * 2, fast = 5LL * 1152 * 6912 * 2,
                     activations = 1024LL * (3 * 6912 + 8 * 1152) * 2;
  // ttt_strict: the 32,768-token document ingested, a 40-token question answered.
  const std::int64_t strict = row_bytes(model, &ttt, at::kBFloat16, {true, 32768, 40}, 16);
  EXPECT_EQ(strict, per_token * (32768 + 2 * (40 + 32)) + fast + activations);
  // in_context / ttt_paper: the document in a 32,808-token prompt (twice while a merge holds it).
  const std::int64_t paper = row_bytes(model, &ttt, at::kBFloat16, {true, 0, 32808}, 16);
  EXPECT_EQ(paper, per_token * 2 * (32808 + 32) + fast + activations);
  EXPECT_NEAR(static_cast<double>(strict) / (1 << 20), 970.1, 0.1);
  EXPECT_NEAR(static_cast<double>(paper) / (1 << 20), 1802.1, 0.1);
  // Weights 999,885,952 x 2 bytes: `--batch-size auto` on an A100-40GB takes 16 of the widest
  // rows (80% of what the weights leave), 32.2 GB in all.
  EXPECT_EQ(fitting_batch_size(paper, 40'000'000'000LL - 2 * 999'885'952LL), 16);
  EXPECT_LT(2 * 999'885'952LL + 16 * paper, 40'000'000'000LL);
}

// The GPU target: `run --batch-size 16` over benchmark_v1 at Qwen3-8B shapes (bf16, the paper's 6
// TTT layers) fits an A100-40GB with headroom, every condition of both protocols, under either
// TTT precision. The rows' needs come from the engine itself, tokenizing the real benchmark with
// the Qwen tokenizer (the tiny model only lends its context length and tokenizer).
TEST_F(RunCommand, BenchmarkV1RowsAtQwen3_8bFitAnA100_40gbAtBatch16) {
  const auto made = test::run_tttmem("build-benchmark --seed 42 --samples-per-level 100 --out '" +
                                     path("v1.json").string() + "'");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const bench::Benchmark v1 = bench::load_benchmark(path("v1.json"));
  const ModelConfig tiny = ModelConfig::load(path("model"));
  model::Decoder qwen3(tiny, io::Checkpoint::open(path("model")), at::kCPU, at::kFloat);
  const auto tok = tokenizer::Tokenizer::load(test::source_dir() / "configs/tokenizers/qwen3");
  ttt::TTTConfig ttt;
  ttt.set_layers({0, 6, 12, 18, 24, 30});
  ttt::TTTParams params;
  const ModelConfig big = qwen3_8b();
  // The weights: embeddings and lm_head, attention, MLP, and each TTT layer's ttt_proj [D, D].
  const std::int64_t D = 4096, F = 12288, V = 151936, layers = 36;
  const std::int64_t weights =
      2 * (2 * V * D + layers * (2 * D * 4096 + 2 * D * 1024 + 3 * D * F) + 6 * D * D);
  const double gib = 1024.0 * 1024.0 * 1024.0;
  for (const char* preset : {"seed", "fixed"}) {
    protocol::ProtocolOptions protocol = protocol::ProtocolOptions::preset(preset);
    Engine engine(qwen3, *tok, &ttt, &params, {false, path("v1_out"), protocol, {}});
    for (const protocol::Condition& condition :
         protocol::make_conditions("all", protocol, {}, {})) {
      const auto samples = protocol::select_samples(v1, {}, std::nullopt, condition.level3_only);
      const RowNeeds needs = engine.row_needs(condition, samples);
      EXPECT_GT(needs.answer_tokens, 0);
      for (const ttt::Precision precision : {ttt::Precision::upstream, ttt::Precision::fp32}) {
        ttt.precision = precision;
        const std::int64_t rows = 16 * row_bytes(big, &ttt, at::kBFloat16, needs, 32);
        std::printf("%s %s %s: ingest %lld, answer %lld tokens; 16 rows %.2f GiB + weights %.2f GiB\n",
                    preset, condition.name.c_str(),
                    precision == ttt::Precision::fp32 ? "fp32" : "upstream",
                    static_cast<long long>(needs.ingest_tokens),
                    static_cast<long long>(needs.answer_tokens), rows / gib, weights / gib);
        // The defaults (seed protocol, upstream precision) fit an A100-40GB's 40 GiB with 4 GiB
        // left for the CUDA context, cuBLAS and fragmentation; the other settings are printed.
        if (std::string(preset) == "seed" && precision == ttt::Precision::upstream) {
          EXPECT_LE(static_cast<double>(rows + weights), 36 * gib) << condition.name;
        }
      }
    }
  }
}

TEST(Experiment, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

}  // namespace
}  // namespace tttmem::experiment
