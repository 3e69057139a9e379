// KV cache, the MLP seam, attention paths and bad checkpoints, on the reference tiny model.
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <map>

#include "model_test_util.h"

namespace tttmem::test {
namespace {

class Decoder : public ::testing::Test {
 protected:
  Decoder() : m_(qwen3_reference("model"), at::kFloat) {}
  at::Tensor ids() const { return reference_ids_.unsqueeze(0); }  // [1, 33]
  c10::InferenceMode inference_;
  LoadedModel m_;
  at::Tensor reference_ids_ = load_reference().at("medium.ids");
};

TEST_F(Decoder, PrefillThenDecodeEqualsOneShot) {
  const at::Tensor full = m_.model.forward(ids());
  model::KVCache cache = m_.model.make_cache(1, 40);
  std::vector<at::Tensor> pieces{m_.model.forward(ids().narrow(1, 0, 20), cache)};
  pieces.push_back(m_.model.forward(ids().narrow(1, 20, 5), cache));  // a chunk after a prefix
  for (std::int64_t t = 25; t < 33; ++t) pieces.push_back(m_.model.forward(ids().narrow(1, t, 1), cache));
  EXPECT_EQ(cache.length(), 33);
  EXPECT_EQ(cache.real_counts().item<std::int64_t>(), 33);
  EXPECT_LE(rel_error(at::cat(pieces, 1), full), 1e-5);
}

TEST_F(Decoder, CropAndCloneReplayTheSameLogits) {
  const at::Tensor full = m_.model.forward(ids());
  model::KVCache cache = m_.model.make_cache(1, 33);
  m_.model.forward(ids(), cache);
  model::KVCache copy = cache.clone();
  // Overwrite slots 20..32 of the original with other tokens; the clone must not see them.
  cache.crop(20);
  EXPECT_EQ(cache.length(), 20);
  EXPECT_EQ(cache.real_counts().item<std::int64_t>(), 20);
  m_.model.forward(at::full({1, 13}, 3, at::kLong), cache);
  copy.crop(32);
  EXPECT_LE(rel_error(m_.model.forward(ids().narrow(1, 32, 1), copy), full.narrow(1, 32, 1)), 1e-5);
  // Crop away the divergent tokens and replay the real ones.
  cache.crop(20);
  EXPECT_LE(rel_error(m_.model.forward(ids().narrow(1, 20, 13), cache), full.narrow(1, 20, 13)),
            1e-5);
  cache.reset();
  EXPECT_EQ(cache.length(), 0);
  EXPECT_LE(rel_error(m_.model.forward(ids(), cache), full), 1e-6);
  EXPECT_THROW(cache.crop(34), std::out_of_range);
  EXPECT_THROW(m_.model.forward(ids(), cache), std::length_error);  // past the capacity
  cache.release();
  EXPECT_EQ(cache.capacity(), 0);
}

// Continuous batching: rows prefilled alone join a shared-slot cache at different times
// (assign_row, also replacing a row that left), decode together, and keep decoding after
// compact() reclaims the padding; each row's logits are those of the row alone.
TEST_F(Decoder, AssignedRowsDecodeTogetherAndSurviveCompaction) {
  const at::Tensor feed = reference_ids_.narrow(0, 20, 13);
  const std::vector<at::Tensor> prompts{reference_ids_.narrow(0, 0, 12),
                                        reference_ids_.narrow(0, 12, 5),
                                        reference_ids_.narrow(0, 17, 3)};
  model::ForwardOptions last;
  last.last_logits_only = true;
  auto prefilled = [&](std::size_t p) {
    model::KVCache cache = m_.model.make_cache(1, prompts[p].size(0));
    m_.model.forward(prompts[p].unsqueeze(0), cache, last);
    return cache;
  };
  model::KVCache batch = m_.model.make_cache(2, 20);
  batch.assign_row(0, prefilled(0));
  batch.assign_row(1, m_.model.make_cache(1, 1));  // an empty row: attends only to itself
  std::map<std::size_t, std::vector<at::Tensor>> got;  // prompt -> logits per step
  std::vector<std::size_t> in_row{0, 1};
  bool compacted = false;
  for (std::int64_t t = 0; t < 13; ++t) {
    if (t == 4) batch.assign_row(1, prefilled(1));  // prompt 1 joins at shared length 16
    if (t == 7) {                                   // prompt 0 leaves, prompt 2 takes its row
      batch.assign_row(0, prefilled(2));
      in_row[0] = 2;
    }
    if (batch.length() + 1 > batch.capacity()) {
      batch.compact();
      compacted = true;
      EXPECT_EQ(batch.length(), batch.real_counts().max().item<std::int64_t>());
    }
    const at::Tensor logits = m_.model.forward(feed.narrow(0, t, 1).repeat({2, 1}), batch, last);
    if (t >= 4) got[in_row[1]].push_back(logits[1][0]);
    if (t >= 7) got[in_row[0]].push_back(logits[0][0]);
  }
  EXPECT_TRUE(compacted);
  for (const auto& [p, steps] : got) {
    const std::int64_t first = p == 1 ? 4 : 7, n = prompts[p].size(0);
    const at::Tensor alone =
        m_.model.forward(at::cat({prompts[p], feed.narrow(0, first, 13 - first)}).unsqueeze(0))[0];
    for (std::size_t i = 0; i < steps.size(); ++i)
      EXPECT_LE(rel_error(steps[i], alone[n + static_cast<std::int64_t>(i)]), 1e-5)
          << "prompt " << p << " step " << i;
  }
}

TEST_F(Decoder, RightPaddedRowDecodesAfterItsPadding) {
  // Row 0 has 10 real tokens then 5 pads; row 1 has 15. Decoding one more token per row must
  // equal running each row's real tokens alone.
  at::Tensor batch = at::zeros({2, 15}, at::kLong);
  at::Tensor mask = at::ones({2, 15}, at::kLong);
  batch[0].narrow(0, 0, 10).copy_(reference_ids_.narrow(0, 0, 10));
  mask[0].narrow(0, 10, 5).zero_();
  batch[1].copy_(reference_ids_.narrow(0, 10, 15));
  model::KVCache cache = m_.model.make_cache(2, 16);
  model::ForwardOptions options;
  options.attention_mask = mask;
  options.last_logits_only = true;
  const at::Tensor last = m_.model.forward(batch, cache, options);
  EXPECT_TRUE(cache.has_padding());
  EXPECT_EQ(cache.real_counts()[0].item<std::int64_t>(), 10);
  const at::Tensor next = at::stack({reference_ids_[30], reference_ids_[31]}).view({2, 1});
  const at::Tensor step = m_.model.forward(next, cache);
  for (std::int64_t r = 0; r < 2; ++r) {
    const std::int64_t n = r == 0 ? 10 : 15;
    const at::Tensor row = at::cat({batch[r].narrow(0, 0, n), next[r]}).unsqueeze(0);
    const at::Tensor alone = m_.model.forward(row)[0];
    EXPECT_LE(rel_error(last[r][0], alone[n - 1]), 1e-5) << "row " << r;
    EXPECT_LE(rel_error(step[r][0], alone[n]), 1e-5) << "row " << r;
  }
}

TEST_F(Decoder, MathAndSdpaAttentionAgreeWithPadding) {
  LoadedModel math(qwen3_reference("model"), at::kFloat, model::Attention::math);
  at::Tensor mask = at::ones({1, 33}, at::kLong);
  mask.narrow(1, 0, 4).zero_();
  model::ForwardOptions options;
  options.attention_mask = mask;
  const at::Tensor a = m_.model.forward(ids(), options).narrow(1, 4, 29);
  const at::Tensor b = math.model.forward(ids(), options).narrow(1, 4, 29);
  EXPECT_LE(rel_error(a, b), 1e-5);
}

// Records what the decoder hands the seam and optionally replaces the MLP output.
class RecordingOverride : public model::MlpOverride {
 public:
  RecordingOverride(std::int64_t layer, bool zero) : layer_(layer), zero_(zero) {}
  bool handles(std::int64_t layer) const override { return layer == layer_; }
  at::Tensor forward(const model::MlpContext& context) override {
    ++calls;
    x_shape = context.x.sizes().vec();
    embeddings = context.embeddings.clone();
    const at::Tensor out = model::mlp_forward(context.x, context.weights);
    return zero_ ? at::zeros_like(out) : out;
  }
  int calls = 0;
  std::vector<std::int64_t> x_shape;
  at::Tensor embeddings;

 private:
  std::int64_t layer_;
  bool zero_;
};

TEST_F(Decoder, MlpOverrideSeesItsLayerAndReplacesTheMlp) {
  const at::Tensor base = m_.model.forward(ids());
  RecordingOverride same(1, false);
  model::ForwardOptions options;
  options.mlp_override = &same;
  EXPECT_TRUE(at::equal(m_.model.forward(ids(), options), base));
  EXPECT_EQ(same.calls, 1);
  EXPECT_EQ(same.x_shape, (std::vector<std::int64_t>{1, 33, 128}));
  const at::Tensor embed = io::as_tensor(m_.checkpoint.get("model.embed_tokens.weight"));
  EXPECT_TRUE(at::equal(same.embeddings[0], embed.index_select(0, reference_ids_)));
  RecordingOverride zero(2, true);
  options.mlp_override = &zero;
  EXPECT_GT(rel_error(m_.model.forward(ids(), options), base), 1e-3);
  EXPECT_EQ(zero.calls, 1);
  // Generation runs through the seam too: prefill plus one call per further step.
  model::SharedOverride memory(same);
  model::DecoderOptions decoding;
  decoding.stop = [](std::int64_t) { return std::string(); };
  same.calls = 0;
  const at::Tensor prompt = ids()[0].contiguous();
  model::BatchDecoder(m_.model, decoding, &memory)
      .run({{0, {prompt.data_ptr<std::int64_t>(), prompt.data_ptr<std::int64_t>() + prompt.numel()},
             {}, 0, 4}});
  EXPECT_EQ(same.calls, 4);
}

TEST(DecoderErrors, MissingTensorWrongShapeAndWrongVocabNameTheTensor) {
  ScratchDir dir;
  const ModelConfig config = ModelConfig::load(qwen3_reference("model"));
  auto tensors = model::init_weights(config, 1);
  auto without = tensors;
  std::erase_if(without, [](const auto& t) { return t.first == "model.layers.0.self_attn.k_norm.weight"; });
  ASSERT_EQ(without.size() + 1, tensors.size());
  io::save_checkpoint(dir / "missing", without, 1);
  try {
    model::Decoder(config, io::Checkpoint::open(dir / "missing"), at::kCPU, at::kFloat);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.self_attn.k_norm.weight"),
              std::string::npos) << e.what();
  }
  ModelConfig wrong_vocab = config;
  wrong_vocab.vocab_size = 500;
  io::save_checkpoint(dir / "full", tensors, 1);
  try {
    model::Decoder(wrong_vocab, io::Checkpoint::open(dir / "full"), at::kCPU, at::kFloat);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("model.embed_tokens.weight"), std::string::npos) << what;
    EXPECT_NE(what.find("500"), std::string::npos) << what;
    EXPECT_NE(what.find("512"), std::string::npos) << what;
  }
  ModelConfig wrong_heads = config;
  wrong_heads.head_dim = 16;
  EXPECT_THROW(model::Decoder(wrong_heads, io::Checkpoint::open(dir / "full"), at::kCPU,
                                 at::kFloat), std::exception);
}

}  // namespace
}  // namespace tttmem::test
