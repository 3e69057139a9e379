// Tensor comparisons shared by the torch suites (model, ttt, gpu, ...).
#pragma once

#include <ATen/ATen.h>

namespace tttmem::test {

// max |a - reference| / max |reference|, computed in fp64: one scale-free number per comparison
// (the issues' "relative to the logit scale").
inline double rel_error(const at::Tensor& a, const at::Tensor& reference) {
  const at::Tensor ad = a.to(at::kDouble), rd = reference.to(at::kDouble);
  return (ad - rd).abs().max().item<double>() / rd.abs().max().item<double>();
}

}  // namespace tttmem::test

// The first line of a GPU test (ctest label `gpu`): without a CUDA device it skips.
#define SKIP_WITHOUT_CUDA() \
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device"
