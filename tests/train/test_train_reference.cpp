// The trainer against the independent PyTorch reference (tests/python/make_train_reference.py):
// transformers Qwen3 with the spec's TTT training form in float64, two AdamW steps of two
// micro-batches each, for every trainable set. Here fp32, with and without activation
// checkpointing, in both TTT training forms.
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

// Readable parameters in ctest's listing (found by argument-dependent lookup).
void PrintTo(Trainable value, std::ostream* os) { *os << to_string(value); }
void PrintTo(TttForm value, std::ostream* os) { *os << to_string(value); }

namespace {

using test::rel_error;

constexpr std::int64_t kSteps = 2, kAccum = 2;

// The fixture plus the LM batches of make_train_reference.py.
class TrainReference : public test_util::ReferenceFixture {
 public:
  TrainReference() : ReferenceFixture("train_reference") {}
  Batch batch(std::int64_t m) const {
    const std::string p = "batch_" + std::to_string(m) + "_";
    return {ref(p + "ids"), ref(p + "mask"), ref(p + "labels")};
  }
  std::unique_ptr<Trainer> trainer(model::Decoder& model, Trainable set, bool checkpointing,
                                   TttForm form) const {
    return ReferenceFixture::trainer(model, trainer_options(set, checkpointing, form, kAccum));
  }
};

const TrainReference& reference() {
  static const TrainReference instance;
  return instance;
}

using Case = std::tuple<Trainable, bool, TttForm>;


class TrainStep : public ::testing::TestWithParam<Case> {};

TEST_P(TrainStep, LossGradientsAndUpdatesMatchPyTorch) {
  const auto [set, checkpointing, form] = GetParam();
  const TrainReference& r = reference();
  auto model = r.model();
  auto trainer = r.trainer(*model, set, checkpointing, form);
  const std::string s = to_string(set);
  std::size_t expected_tensors = 0;
  for (const auto& [name, tensor] : trainer->trainable())
    expected_tensors += name.find("ttt_") != std::string::npos ? 1 : 0;
  ASSERT_EQ(expected_tensors, 4u);  // ttt_proj and ttt_conv of layers 0 and 2, in every set
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
    for (const auto& [name, master] : trainer->trainable()) {
      EXPECT_LT(rel_error(master, r.ref(s + ".param" + tag + "." + name)), 1e-4)
          << s << " " << name << " after step " << step;
      EXPECT_FALSE(master.grad().defined()) << "gradients are zeroed after the step";
    }
  }
  // The frozen weights never get gradient memory.
  for (auto& [name, tensor] : model->named_weights()) {
    bool trainable = false;
    for (const auto& [n, master] : trainer->trainable()) trainable |= n == name;
    if (!trainable) {
      EXPECT_FALSE(tensor->requires_grad()) << name;
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const auto [set, checkpointing, form] = info.param;
  std::string name = set == Trainable::ttt ? "ttt" : set == Trainable::ttt_down ? "ttt_down" : "all";
  name += checkpointing ? "_checkpointed" : "_plain";
  name += form == TttForm::parallel ? "_parallel" : "_low_rank";
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    Sets, TrainStep,
    ::testing::Combine(::testing::Values(Trainable::ttt, Trainable::ttt_down, Trainable::all),
                       ::testing::Bool(),
                       ::testing::Values(TttForm::parallel, TttForm::low_rank)),
    case_name);

// Central differences of the C++ loss itself, on the largest-gradient coordinate of a few tensors.
TEST(TrainGradient, MatchesFiniteDifferences) {
  const TrainReference& r = reference();
  auto model = r.model();
  auto trainer = r.trainer(*model, Trainable::ttt_down, false, TttForm::automatic);
  const Batch batch = r.batch(0);
  trainer->accumulate(batch);
  constexpr double h = 1e-2;
  for (const auto& [name, master] : trainer->trainable()) {
    const at::Tensor grad = master.grad().detach().clone().reshape({-1}) * kAccum;
    const std::int64_t k = grad.abs().argmax().item<std::int64_t>();
    at::Tensor flat = master.detach().view({-1});
    const float original = flat[k].item<float>();
    double loss[2];
    for (int side = 0; side < 2; ++side) {
      flat[k].fill_(original + (side == 0 ? h : -h));
      loss[side] = trainer->evaluate(batch);
    }
    flat[k].fill_(original);
    const double fd = (loss[0] - loss[1]) / (2 * h), g = grad[k].item<double>();
    EXPECT_NEAR(fd, g, 2e-3 * std::abs(g) + 2e-4) << name << "[" << k << "]";
  }
}

}  // namespace
}  // namespace tttmem::train
