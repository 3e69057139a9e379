// The memory objective against the independent PyTorch reference
// (tests/python/make_memory_reference.py): transformers Qwen3 with the TTT stream written out in
// float64, each conversation ingested and each probe answered from the fast weights it left, two
// AdamW steps of two micro-batches, every trainable set, protocols seed and fixed. Here fp32,
// batched and right-padded, with and without activation checkpointing, in both training forms.
// Then: the training path scores the answer tokens as `run`'s inference path would (TTTState,
// tails dropped or flushed, a fresh KV cache, the answer fed token by token).
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "tensor_testing.h"
#include "train_reference_util.h"
#include "test_support.h"
#include "tttmem/tensor_io.h"
#include "tttmem/train.h"

namespace tttmem::train {

void PrintTo(Trainable value, std::ostream* os);
void PrintTo(TttForm value, std::ostream* os);

namespace {

using test::rel_error;

constexpr std::int64_t kSteps = 2, kAccum = 2;

// The fixture plus the conversations and probes of make_memory_reference.py.
class MemoryReference : public test_util::ReferenceFixture {
 public:
  MemoryReference() : ReferenceFixture("memory_reference") {}
  MemoryBatch batch(std::int64_t m) const {
    const std::string p = "batch_" + std::to_string(m) + "_";
    return {{ref(p + "ingest_ids"), ref(p + "ingest_mask"), {}},
            {ref(p + "probe_ids"), ref(p + "probe_mask"), ref(p + "probe_labels")},
            ref(p + "conversation")};
  }
  std::unique_ptr<Trainer> trainer(model::Decoder& model, const std::string& protocol,
                                   Trainable set, bool checkpointing, TttForm form) const {
    TrainerOptions options = trainer_options(set, checkpointing, form, kAccum);
    options.memory_protocol = protocol::ProtocolOptions::preset(protocol);
    return ReferenceFixture::trainer(model, options);
  }
};

const MemoryReference& reference() {
  static const MemoryReference instance;
  return instance;
}

using Case = std::tuple<std::string, Trainable, bool, TttForm>;

class MemoryStep : public ::testing::TestWithParam<Case> {};

TEST_P(MemoryStep, LossGradientsAndUpdatesMatchPyTorch) {
  const auto [protocol, set, checkpointing, form] = GetParam();
  const MemoryReference& r = reference();
  auto model = r.model();
  auto trainer = r.trainer(*model, protocol, set, checkpointing, form);
  const std::string s = protocol + "." + to_string(set);
  std::int64_t micro = 0;
  for (std::int64_t step = 0; step < kSteps; ++step) {
    const std::string tag = "." + std::to_string(step);
    for (std::int64_t m = 0; m < kAccum; ++m) {
      const double loss = trainer->accumulate(r.batch(micro++));
      EXPECT_NEAR(loss, r.ref(s + ".loss" + tag + "." + std::to_string(m)).item<double>(), 1e-5)
          << s << " step " << step << " micro " << m;
    }
    for (const auto& [name, master] : trainer->trainable()) {
      ASSERT_TRUE(master.grad().defined()) << name;
      EXPECT_LT(rel_error(master.grad(), r.ref(s + ".grad" + tag + "." + name)), 1e-4)
          << s << " grad of " << name << " at step " << step;
    }
    const StepReport report = trainer->step();
    EXPECT_NEAR(report.grad_norm, r.ref(s + ".norm" + tag).item<double>(),
                1e-5 * report.grad_norm);
    for (const auto& [name, master] : trainer->trainable())
      EXPECT_LT(rel_error(master, r.ref(s + ".param" + tag + "." + name)), 1e-4)
          << s << " " << name << " after step " << step;
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const auto [protocol, set, checkpointing, form] = info.param;
  std::string name = protocol + "_";
  name += set == Trainable::ttt ? "ttt" : set == Trainable::ttt_down ? "ttt_down" : "all";
  name += checkpointing ? "_checkpointed" : "_plain";
  name += form == TttForm::parallel ? "_parallel" : "_low_rank";
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    Sets, MemoryStep,
    ::testing::Combine(::testing::Values(std::string("seed"), std::string("fixed")),
                       ::testing::Values(Trainable::ttt, Trainable::ttt_down, Trainable::all),
                       ::testing::Bool(),  // activation checkpointing
                       ::testing::Values(TttForm::parallel, TttForm::low_rank)),
    case_name);

// The answer tokens' log-probabilities as `run --protocol seed|fixed` computes the stream:
// ingestion through a TTTState (tails dropped, or flushed), then a fresh KV cache for the
// probe's prompt and one decode step per answer token, the fast weights live or frozen.
std::vector<double> inference_log_probs(model::Decoder& model, const ttt::TTTConfig& base,
                                        const ttt::TTTParams& params,
                                        const protocol::ProtocolOptions& protocol,
                                        const at::Tensor& conversation, const at::Tensor& probe,
                                        const at::Tensor& labels) {
  ttt::TTTConfig config = base;
  if (protocol.flush_partial_chunk) config.partial_chunk = ttt::PartialChunk::flush;
  ttt::TTTState state;
  {
    ttt::Graft graft(config, params, state);
    model::ForwardOptions forward;
    forward.mlp_override = &graft;
    model.forward(conversation.unsqueeze(0), forward);
    graft.drop_tails();
  }
  state.frozen = protocol.freeze_while_answering;
  std::int64_t prompt = 0;
  while (labels[prompt].item<std::int64_t>() == -100) ++prompt;
  const std::int64_t length = probe.size(0);
  ttt::Graft graft(config, params, state);
  model::ForwardOptions forward;
  forward.mlp_override = &graft;
  forward.last_logits_only = true;
  model::KVCache cache = model.make_cache(1, length);
  at::Tensor logits = model.forward(probe.narrow(0, 0, prompt).unsqueeze(0), cache, forward);
  std::vector<double> out;
  for (std::int64_t p = prompt; p < length; ++p) {
    const std::int64_t token = probe[p].item<std::int64_t>();
    out.push_back(at::log_softmax(logits.reshape({-1}).to(at::kDouble), 0)[token].item<double>());
    if (p + 1 < length) logits = model.forward(probe.narrow(0, p, 1).unsqueeze(0), cache, forward);
  }
  return out;
}

TEST(MemoryObjective, ScoresTheAnswersAsRunWould) {
  const MemoryReference& r = reference();
  auto model = r.model();
  const ttt::TTTConfig config = r.ttt_config();
  const ttt::TTTParams params = r.ttt_params();
  at::NoGradGuard no_grad;
  for (const std::string name : {"seed", "fixed"}) {
    const auto protocol = protocol::ProtocolOptions::preset(name);
    for (const TttForm form : {TttForm::parallel, TttForm::low_rank}) {
      MemoryForward forward(config, params, form, protocol);
      for (std::int64_t m = 0; m < kSteps * kAccum; ++m) {
        const MemoryBatch batch = r.batch(m);
        const at::Tensor log_probs =
            at::log_softmax(forward.logits(*model, batch, nullptr).to(at::kDouble), -1);
        for (std::int64_t row = 0; row < batch.probes.ids.size(0); ++row) {
          const std::int64_t c = batch.conversation[row].item<std::int64_t>();
          const std::int64_t n = batch.ingest.attention_mask[c].sum().item<std::int64_t>();
          const std::int64_t l = batch.probes.attention_mask[row].sum().item<std::int64_t>();
          const at::Tensor ids = batch.probes.ids[row].narrow(0, 0, l);
          const at::Tensor labels = batch.probes.labels[row].narrow(0, 0, l);
          const std::vector<double> expected = inference_log_probs(
              *model, config, params, protocol, batch.ingest.ids[c].narrow(0, 0, n), ids, labels);
          const std::int64_t prompt = l - static_cast<std::int64_t>(expected.size());
          for (std::size_t k = 0; k < expected.size(); ++k) {
            const auto p = prompt + static_cast<std::int64_t>(k);  // predicted from p - 1
            EXPECT_NEAR(log_probs[row][p - 1][ids[p].item<std::int64_t>()].item<double>(),
                        expected[k], 2e-5)
                << name << " " << to_string(form) << " batch " << m << " probe row " << row
                << " answer token " << k;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace tttmem::train
