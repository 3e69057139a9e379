// The In-Place TTT graft on Gemma3 against the adapter study's own MLP (written from its spec in
// tests/python/make_gemma3_reference.py, float64): its paper mode (chunk-causal fast weights over
// one call) and its strict mode (ingest the document, answer from W_down + lr * the sum of every
// chunk's delta, the partial last one included), on a sliding and a full layer; its training
// step's loss and gradients for its trainable set (ttt+down); the study's use_ttt switch and its
// presets.
#include <gtest/gtest.h>

#include "model_test_util.h"
#include "tttmem/train.h"
#include "tttmem/ttt.h"

namespace tttmem::test {
namespace {

using Gemma3Adapter = ReferenceTestOf<gemma3_reference>;

struct Adapter {
  LoadedModel m{gemma3_reference("model_ttt"), at::kFloat};
  ttt::TTTConfig config = ttt::TTTConfig::from_json(m.config.raw, m.config, "model_ttt");
  ttt::TTTParams params =
      ttt::TTTParams::load(m.checkpoint, config, m.config, at::kCPU, at::kFloat);
};

TEST_F(Gemma3Adapter, UseTttFieldsConfigureTheGraft) {
  Adapter a;
  EXPECT_EQ(a.config.layers, (std::vector<std::int64_t>{0, 3}));  // one sliding, one full
  EXPECT_EQ(a.config.chunk, 8);
  EXPECT_EQ(a.config.lr, 0.3);
  nlohmann::json off = a.m.config.raw;
  off["use_ttt"] = false;
  EXPECT_TRUE(ttt::TTTConfig::from_json(off, a.m.config, "off").layers.empty());
  off["ttt_mode"] = true;
  EXPECT_THROW(ttt::TTTConfig::from_json(off, a.m.config, "both"), std::runtime_error);
}

TEST_F(Gemma3Adapter, PaperModeLogitsMatchTheStudysMlp) {
  Adapter a;
  const std::int64_t c = a.config.chunk;
  for (std::int64_t n : {c - 1, c, c + 1, 5 * c + 3}) {
    ttt::TTTState state;
    ttt::Graft graft(a.config, a.params, state);
    model::ForwardOptions options;
    options.mlp_override = &graft;
    const at::Tensor logits = a.m.model.forward(ref("ttt.ids").narrow(0, 0, n).unsqueeze(0), options)[0];
    EXPECT_LE(rel_error(logits, ref("ttt.paper_logits_" + std::to_string(n))), 1e-4) << "n=" << n;
  }
  // The graft changes what the model computes past the first chunk (and not within it).
  LoadedModel base(gemma3_reference("model"), at::kFloat);
  const at::Tensor ids = ref("ttt.ids").unsqueeze(0);
  EXPECT_GT(rel_error(base.model.forward(ids)[0], ref("ttt.paper_logits_" + std::to_string(5 * c + 3))), 1e-2);
  EXPECT_LE(rel_error(base.model.forward(ids.narrow(1, 0, c))[0],
                      ref("ttt.paper_logits_" + std::to_string(c))), 1e-4);
}

// The study's ttt_strict is tttmem's B with the partial chunk flushed and the weights frozen.
TEST_F(Gemma3Adapter, StrictModeIsIngestFlushFreezeAndMatchesTheStudy) {
  Adapter a;
  a.config.partial_chunk = ttt::PartialChunk::flush;
  ttt::TTTState state;
  ttt::Graft graft(a.config, a.params, state);
  model::ForwardOptions options;
  options.mlp_override = &graft;
  a.m.model.forward(ref("ttt.ids").unsqueeze(0), options);  // 5 chunks and 3 rows
  graft.drop_tails();
  for (std::int64_t layer : a.config.layers) {
    const at::Tensor w0 = a.m.model.mlp_weights(layer).down_proj;
    const at::Tensor w = state.layers.at(layer).weight.materialize(w0)[0];
    EXPECT_LE(rel_error((w - w0) / a.config.lr, ref("ttt.snapshot_" + std::to_string(layer))), 1e-4)
        << "layer " << layer;
  }
  state.frozen = true;  // the question leaves no trace, at every position and decode step
  const at::Tensor question = ref("ttt.question").unsqueeze(0);
  EXPECT_LE(rel_error(a.m.model.forward(question, options)[0], ref("ttt.strict_logits")), 1e-4);
}

// The study's freeze_base_model set is train-minimal's --trainable ttt+down. (Not a
// ReferenceTest: those run in inference mode.)
TEST(Gemma3AdapterTraining, GradientsOfTheStudysSetMatchAutograd) {
  const auto reference = load_reference(gemma3_reference("reference.safetensors"));
  const train::Batch batch{reference.at("train.ids"), {}, reference.at("train.labels")};
  for (train::TttForm form : {train::TttForm::parallel, train::TttForm::low_rank}) {
    Adapter a;
    train::TrainerOptions options;
    options.trainable = train::Trainable::ttt_down;
    options.ttt_form = form;
    train::Trainer trainer(a.m.model, a.config, a.params, options);
    ASSERT_EQ(trainer.trainable().size(), 6u);  // proj, conv, down_proj of layers 0 and 3
    const double loss = trainer.accumulate(batch);
    EXPECT_NEAR(loss, reference.at("train.loss").item<double>(), 1e-5) << train::to_string(form);
    for (const auto& [name, master] : trainer.trainable()) {
      ASSERT_TRUE(master.grad().defined()) << name;
      EXPECT_LE(rel_error(master.grad(), reference.at("train.grad." + name)), 1e-4)
          << name << " " << train::to_string(form);
    }
  }
}

TEST(Gemma3Presets, StudyAndGlobalLayers) {
  const ModelConfig one_b = ModelConfig::load(source_dir() / "configs/models/gemma3-1b.json");
  const ttt::TTTConfig study = ttt::TTTConfig::preset("gemma3-study", one_b);
  EXPECT_EQ(study.layers, (std::vector<std::int64_t>{0, 6, 12, 18, 24}));
  EXPECT_EQ(study.chunk, 2048);
  EXPECT_EQ(study.lr, 0.3);
  for (std::int64_t layer : study.layers)  // the study's README calls them global; they slide
    EXPECT_GT(one_b.attention_windows()[static_cast<std::size_t>(layer)], 0) << layer;
  EXPECT_EQ(ttt::TTTConfig::preset("gemma3-global", one_b).layers,
            (std::vector<std::int64_t>{5, 11, 17, 23}));
}

}  // namespace
}  // namespace tttmem::test
