// TTT-E2E against the independent float64 PyTorch reference (tests/python/make_e2e_reference.py:
// transformers Qwen3 with the dual MLP written out, the streaming forward recomputed from the
// start for every mini-batch, torch.autograd.grad with create_graph) and against finite
// differences of the C++ meta-loss in fp64; then the config, the parameters and the decoder
// memory.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "e2e_reference.h"
#include "tensor_testing.h"
#include "test_support.h"
#include "tttmem/e2e.h"
#include "tttmem/io.h"
#include "tttmem/tensor_io.h"
#include "tttmem/train.h"

namespace tttmem::e2e {
namespace {

using test::rel_error;
using test::e2e_reference::Reference;
using test::e2e_reference::reference;

const char* const kStatic[] = {"model.layers.3.mlp.down_proj.weight",
                               "model.layers.1.self_attn.q_proj.weight"};

// Makes the named decoder weights leaves that require grad; returns them.
std::map<std::string, at::Tensor> train_static(model::Decoder& model) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, tensor] : model.named_weights())
    for (const char* wanted : kStatic)
      if (name == wanted) out[name] = *tensor = tensor->detach().requires_grad_(true);
  return out;
}

// The inner loop and the meta-gradient against the reference; with `checkpoint` the mini-batches
// run again in the backward pass (no logits are kept then).
void expect_meta_learning_matches_reference(std::int64_t steps, bool checkpoint) {
  const Reference& r = reference();
  const std::string s = "s" + std::to_string(steps) + ".";
  auto model = r.model();
  const auto statics = train_static(*model);
  E2EParams theta = r.theta(at::kFloat);
  const E2EConfig config = r.e2e(steps);
  IngestOptions options;
  options.create_graph = true;
  options.checkpoint = checkpoint;
  options.keep_logits = !checkpoint;
  const IngestResult result =
      ingest(*model, config, E2EState::initial(theta, 2), r.ref("ids"), options);

  if (!checkpoint) {
    EXPECT_LT(rel_error(result.logits, r.ref(s + "logits")), 1e-4);
  }
  ASSERT_EQ(result.inner_losses.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_LT((result.inner_losses[i].to(at::kDouble) - r.ref(s + "inner_loss." + std::to_string(i)))
                  .abs().max().item<double>(), 1e-5) << "mini-batch " << i;
  EXPECT_NEAR(result.outer_loss.item<double>(), r.ref(s + "outer_loss").item<double>(), 1e-5);
  EXPECT_EQ(result.state.updates, 3 * steps);
  for (const auto& [layer, w] : result.state.weights) {
    const std::string p = s + "w.2." + std::to_string(layer) + ".";
    EXPECT_LT(rel_error(w.gate, r.ref(p + "gate")), 1e-4) << layer;
    EXPECT_LT(rel_error(w.up, r.ref(p + "up")), 1e-4) << layer;
    EXPECT_LT(rel_error(w.down, r.ref(p + "down")), 1e-4) << layer;
  }

  result.outer_loss.backward();
  for (const auto& [layer, p] : theta.layers) {
    const std::string g = s + "grad." + std::to_string(layer) + ".";
    EXPECT_LT(rel_error(p.gate.grad(), r.ref(g + "gate")), 1e-4) << layer;
    EXPECT_LT(rel_error(p.up.grad(), r.ref(g + "up")), 1e-4) << layer;
    EXPECT_LT(rel_error(p.down.grad(), r.ref(g + "down")), 1e-4) << layer;
  }
  for (const auto& [name, weight] : statics) {
    ASSERT_TRUE(weight.grad().defined()) << name;
    EXPECT_LT(rel_error(weight.grad(), r.ref(s + "grad." + name)), 1e-4) << name;
  }
}

class InnerSteps : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(InnerSteps, InnerLoopAndMetaGradientMatchPyTorch) {
  expect_meta_learning_matches_reference(GetParam(), /*checkpoint=*/false);
}

TEST_P(InnerSteps, CheckpointedMetaGradientMatchesPyTorch) {
  expect_meta_learning_matches_reference(GetParam(), /*checkpoint=*/true);
}

// In fp64 the recomputation is the same arithmetic as the kept graph: the checkpointed outer
// loss, final weights and gradients (theta and static weights) equal the plain path's to
// rounding. Also the final state's own gradient path (the memory objective reads W_N), and a
// document (17 tokens, b = 8) whose last mini-batch is one token that learns nothing.
TEST_P(InnerSteps, CheckpointingChangesNothingButWhatIsKept) {
  const Reference& r = reference();
  const E2EConfig config = r.e2e(GetParam());
  struct Run { double loss; std::vector<at::Tensor> weights, grads; };
  for (const std::int64_t tokens : {19L, 17L}) {
    auto run = [&](bool checkpoint) {
      auto model = r.model(at::kDouble);
      const auto statics = train_static(*model);
      E2EParams theta = r.theta(at::kDouble);
      IngestOptions options;
      options.create_graph = true;
      options.checkpoint = checkpoint;
      const IngestResult result = ingest(*model, config, E2EState::initial(theta, 2),
                                         r.ref("ids").narrow(1, 0, tokens), options);
      // A loss that also reads the final weights, as the memory objective does.
      at::Tensor loss = result.outer_loss;
      for (const auto& [layer, w] : result.state.weights)
        loss = loss + w.down.square().sum() + w.gate.sum();
      loss.backward();
      Run out{result.outer_loss.item<double>(), {}, {}};
      for (const auto& [layer, w] : result.state.weights)
        out.weights.insert(out.weights.end(), {w.gate.detach(), w.down.detach()});
      for (const auto& [layer, p] : theta.layers)
        out.grads.insert(out.grads.end(), {p.gate.grad(), p.up.grad(), p.down.grad()});
      for (const auto& [name, weight] : statics) out.grads.push_back(weight.grad());
      return out;
    };
    const Run plain = run(false), checkpointed = run(true);
    EXPECT_NEAR(checkpointed.loss, plain.loss, 1e-12);
    for (std::size_t k = 0; k < plain.weights.size(); ++k)
      EXPECT_LT(rel_error(checkpointed.weights[k], plain.weights[k]), 1e-12) << k;
    ASSERT_EQ(checkpointed.grads.size(), plain.grads.size());
    for (std::size_t k = 0; k < plain.grads.size(); ++k) {
      ASSERT_TRUE(checkpointed.grads[k].defined()) << k;
      EXPECT_GT(plain.grads[k].abs().max().item<double>(), 0.0) << k;
      EXPECT_LT(rel_error(checkpointed.grads[k], plain.grads[k]), 1e-10)
          << tokens << " tokens, " << k;
    }
  }
}

TEST(E2ECheckpointing, RefusesWhatItDoesNotKeep) {
  const Reference& r = reference();
  auto model = r.model();
  const E2EState start = E2EState::initial(r.theta(at::kFloat), 2);
  IngestOptions options;
  options.checkpoint = true;
  EXPECT_THROW(ingest(*model, r.e2e(1), start, r.ref("ids"), options), std::runtime_error);
  options.create_graph = true;
  options.keep_logits = true;
  EXPECT_THROW(ingest(*model, r.e2e(1), start, r.ref("ids"), options), std::runtime_error);
}

TEST_P(InnerSteps, InferenceIngestionGivesTheSameWeightsWithoutAGraph) {
  const std::int64_t steps = GetParam();
  const Reference& r = reference();
  const std::string s = "s" + std::to_string(steps) + ".";
  auto model = r.model();
  IngestOptions options;
  options.keep_logits = true;
  const IngestResult result =
      ingest(*model, r.e2e(steps), E2EState::initial(r.theta(at::kFloat), 1), r.ref("ids"), options);
  EXPECT_FALSE(result.outer_loss.requires_grad());
  EXPECT_LT(rel_error(result.logits, r.ref(s + "logits")), 1e-4);
  for (const auto& [layer, w] : result.state.weights) {
    EXPECT_FALSE(w.down.requires_grad());
    EXPECT_EQ(w.down.size(0), 2);
    EXPECT_LT(rel_error(w.down, r.ref(s + "w.2." + std::to_string(layer) + ".down")), 1e-4);
    EXPECT_LT(rel_error(w.gate, r.ref(s + "w.2." + std::to_string(layer) + ".gate")), 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(E2E, InnerSteps, ::testing::Values(1, 2));

// Central differences of the C++ meta-loss in fp64 against its own autograd gradient: the
// second-order path (through every inner step and the cached keys) with no Python involved.
TEST(E2EFiniteDifferences, MetaGradientMatchesCentralDifferences) {
  const Reference& r = reference();
  auto model = r.model(at::kDouble);
  for (const std::int64_t steps : {1, 2}) {
    const E2EConfig config = r.e2e(steps);
    E2EParams theta = r.theta(at::kDouble);
    IngestOptions options;
    options.create_graph = true;
    const at::Tensor ids = r.ref("ids");
    ingest(*model, config, E2EState::initial(theta, 2), ids, options).outer_loss.backward();
    const double eps = 1e-6;
    const std::int64_t layer = config.layers.back();
    for (const char* which : {"gate", "up", "down"}) {
      DynamicMlp& p = theta.layers.at(layer);
      at::Tensor& w = std::string(which) == "gate" ? p.gate : std::string(which) == "up" ? p.up : p.down;
      const at::Tensor grad = w.grad().clone();
      for (const std::int64_t flat : {0L, 7L, w.numel() - 1}) {
        auto loss_at = [&](double delta) {
          E2EParams moved = theta;
          at::Tensor& m = std::string(which) == "gate"  ? moved.layers.at(layer).gate
                          : std::string(which) == "up" ? moved.layers.at(layer).up
                                                       : moved.layers.at(layer).down;
          at::Tensor shifted = m.detach().clone();
          shifted.view(-1)[flat] += delta;
          m = shifted;
          IngestOptions plain;
          return ingest(*model, config, E2EState::initial(moved, 2), ids, plain).outer_loss.item<double>();
        };
        const double numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
        const double analytic = grad.view(-1)[flat].item<double>();
        EXPECT_NEAR(analytic, numeric, 1e-7 + 1e-5 * std::abs(numeric))
            << "steps " << steps << " layer " << layer << " " << which << "[" << flat << "]";
      }
    }
  }
}

// The memory objective (train::e2e_memory_loss): two conversations of different lengths (right
// padded) ingested through the inner loop, three probe rows answering from their conversation's
// weights in a fresh context; its gradient against central differences, in fp64.
TEST(E2EFiniteDifferences, MemoryObjectiveGradientMatchesCentralDifferences) {
  const Reference& r = reference();
  auto model = r.model(at::kDouble);
  const E2EConfig config = r.e2e(1);
  at::manual_seed(11);
  train::MemoryBatch batch;
  batch.ingest.ids = at::randint(0, 64, {2, 13}, at::kLong);
  batch.ingest.attention_mask = at::ones({2, 13}, at::kLong);
  batch.ingest.attention_mask[1].narrow(0, 9, 4).zero_();
  batch.probes.ids = at::randint(0, 64, {3, 6}, at::kLong);
  batch.probes.attention_mask = at::ones({3, 6}, at::kLong);
  batch.probes.attention_mask[2][5] = 0;
  batch.probes.labels = at::full({3, 6}, -100, at::kLong);
  batch.probes.labels.narrow(1, 3, 2).copy_(batch.probes.ids.narrow(1, 3, 2));
  batch.probes.labels.narrow(1, 5, 1).copy_(batch.probes.ids.narrow(1, 5, 1));
  batch.probes.labels[2][5] = -100;
  batch.conversation = at::tensor(std::vector<std::int64_t>{0, 1, 1}, at::kLong);

  E2EParams theta = r.theta(at::kDouble);
  train::e2e_memory_loss(*model, config, theta, batch, true).backward();
  for (const std::int64_t layer : config.layers)
    for (const int which : {0, 2}) {  // gate, down
      at::Tensor& w = which == 0 ? theta.layers.at(layer).gate : theta.layers.at(layer).down;
      const at::Tensor grad = w.grad().clone();
      for (const std::int64_t flat : {3L, w.numel() / 2}) {
        auto loss_at = [&](double delta) {
          E2EParams moved = theta;
          at::Tensor& m = which == 0 ? moved.layers.at(layer).gate : moved.layers.at(layer).down;
          at::Tensor shifted = m.detach().clone();
          shifted.view(-1)[flat] += delta;
          m = shifted;
          at::NoGradGuard no_grad;
          return train::e2e_memory_loss(*model, config, moved, batch, false).item<double>();
        };
        const double numeric = (loss_at(1e-6) - loss_at(-1e-6)) / 2e-6;
        EXPECT_NEAR(grad.view(-1)[flat].item<double>(), numeric, 1e-7 + 1e-5 * std::abs(numeric))
            << "layer " << layer << (which == 0 ? " gate[" : " down[") << flat << "]";
      }
    }
}

TEST(E2EGraft, ZeroDownAndZeroRateLeaveTheModelUnchanged) {
  const Reference& r = reference();
  auto model = r.model();
  E2EConfig config = r.e2e(1);
  config.inner_lr = 0;
  const E2EParams fresh = E2EParams::init(config, r.config(), 3, at::kCPU);
  IngestOptions options;
  options.keep_logits = true;
  const IngestResult result = ingest(*model, config, E2EState::initial(fresh, 1), r.ref("ids"), options);
  // The plain model over the same pieces (the E2E layers add an exact zero).
  const at::Tensor ids = r.ref("ids");
  model::KVCache cache = model->make_cache(2, ids.size(1));
  std::vector<at::Tensor> plain;
  for (std::int64_t first = 0; first < ids.size(1); first += config.mini_batch)
    plain.push_back(model->forward(
        ids.narrow(1, first, std::min(config.mini_batch, ids.size(1) - first)), cache));
  EXPECT_TRUE(at::equal(result.logits, at::cat(plain, 1)));
  EXPECT_LT(rel_error(result.logits, r.ref("plain_logits")), 1e-4);
}

TEST(E2EGraft, OutOfPlaceCacheGivesTheBufferCachesLogits) {
  const Reference& r = reference();
  auto model = r.model();
  const at::Tensor ids = r.ref("ids");
  model::KVCache buffer = model->make_cache(2, ids.size(1));
  model::KVCache out_of_place = model->make_cache(2, ids.size(1));
  out_of_place.set_out_of_place(false);
  for (std::int64_t first = 0; first < ids.size(1); first += 5) {
    const at::Tensor piece = ids.narrow(1, first, std::min<std::int64_t>(5, ids.size(1) - first));
    EXPECT_TRUE(at::equal(model->forward(piece, buffer), model->forward(piece, out_of_place)));
  }
}

// A probe decoded through the batch decoder's per-row memory, several rows with different
// weights together, gives what each row gives alone.
TEST(E2EDecoderMemory, RowsWithTheirOwnWeightsDecodeAsAlone) {
  const Reference& r = reference();
  auto model = r.model();
  const E2EConfig config = r.e2e(1);
  const IngestResult ingested =
      ingest(*model, config, E2EState::initial(r.theta(at::kFloat), 1), r.ref("ids"));
  std::vector<model::DecodeRow> rows;
  for (std::int64_t i = 0; i < 4; ++i)
    rows.push_back({i, {5 + i, 9, 11 + 2 * i}, nullptr, 0, 6});
  auto decode = [&](const std::vector<model::DecodeRow>& which, std::int64_t batch) {
    // BatchDecoder::run(list) names each row by its position in the list.
    DecoderMemory memory(config);
    for (std::size_t i = 0; i < which.size(); ++i)
      memory.add(static_cast<std::int64_t>(i), ingested.state.row(which[i].id % 2));
    model::DecoderOptions options;
    options.batch_size = batch;
    options.stop = [](std::int64_t) { return std::string(); };
    return model::BatchDecoder(*model, options, &memory).run(which);
  };
  const auto together = decode(rows, 4);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto alone = decode({rows[i]}, 1);
    EXPECT_EQ(together[i].generated, alone[0].generated) << "row " << i;
  }
  // The two memories differ, so rows 0 and 2 (memory 0) and 1 and 3 (memory 1) are not all alike.
  EXPECT_FALSE(at::equal(ingested.state.row(0).weights.begin()->second.down,
                         ingested.state.row(1).weights.begin()->second.down));
}

TEST(E2EConfigTest, DefaultsAreTheLastQuarterAndErrorsNameTheField) {
  ModelConfig model = reference().config();
  model.num_hidden_layers = 36;
  const E2EConfig defaults = E2EConfig::defaults(model);
  EXPECT_EQ(defaults.layers, (std::vector<std::int64_t>{27, 28, 29, 30, 31, 32, 33, 34, 35}));
  model.num_hidden_layers = 3;
  EXPECT_EQ(E2EConfig::defaults(model).layers, (std::vector<std::int64_t>{2}));
  const ModelConfig& tiny = reference().config();
  auto message = [&](const nlohmann::json& raw) {
    try {
      E2EConfig::from_json(raw, tiny, "cfg.json");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"e2e_layers", {4}}}).find("e2e_layers: layer 4"), std::string::npos);
  EXPECT_NE(message({{"e2e_mini_batch", 1}}).find("cfg.json: e2e_mini_batch"), std::string::npos);
  EXPECT_NE(message({{"e2e_inner_steps", 0}}).find("e2e_inner_steps"), std::string::npos);
  EXPECT_NE(message({{"e2e_inner_lr", "fast"}}).find("field e2e_inner_lr: expected a number"),
            std::string::npos);
  EXPECT_NE(message({{"e2e_window", -1}}).find("e2e_window"), std::string::npos);
  const E2EConfig config = reference().e2e(1);
  EXPECT_EQ(E2EConfig::from_json(config.to_json(), tiny, "x").to_json(), config.to_json());
}

TEST(E2EParamsTest, SaveLoadRoundTripsWithItsConfig) {
  const Reference& r = reference();
  E2EConfig config = r.e2e(2);
  const E2EParams params = E2EParams::init(config, r.config(), 5, at::kCPU);
  for (const auto& [layer, p] : params.layers) {
    EXPECT_EQ(p.gate.sizes(), (std::vector<std::int64_t>{24, 32}));
    EXPECT_EQ(p.down.count_nonzero().item<std::int64_t>(), 0);
    EXPECT_GT(p.gate.std().item<double>(), 0);
  }
  const test::ScratchDir dir;
  const auto file = dir / "e2e.safetensors";
  params.save(file, config);
  const io::Checkpoint saved = io::Checkpoint::open(file);
  const auto recorded = E2EParams::recorded_config(saved, r.config());
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(recorded->to_json(), config.to_json());
  const E2EParams loaded = E2EParams::load(saved, config, r.config(), at::kCPU);
  for (const auto& [layer, p] : params.layers)
    EXPECT_TRUE(at::equal(loaded.layers.at(layer).gate, p.gate));
  config.intermediate = 16;
  EXPECT_THROW(E2EParams::load(saved, config, r.config(), at::kCPU), std::exception);
}

}  // namespace
}  // namespace tttmem::e2e
