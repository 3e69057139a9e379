// train: per-layer activation checkpointing through a custom autograd function (SPEC.md `train`).
// Forward: the layer body runs with grad off and only its input is kept. Backward: the body runs
// again with grad on and autograd::grad gives the gradients of its input and of the weights that
// were passed in as inputs, so they leave through this node like any other op's.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdint>

#include "tttmem/train.h"

namespace tttmem::train {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, at::TensorList weights,
                               const model::LayerHook::Body* body) {
    std::vector<at::Tensor> saved{x};
    saved.insert(saved.end(), weights.begin(), weights.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["body"] = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(body));
    return {(*body)(x)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const variable_list saved = ctx->get_saved_variables();
    const auto* body = reinterpret_cast<const model::LayerHook::Body*>(
        static_cast<std::intptr_t>(ctx->saved_data["body"].toInt()));
    variable_list inputs{saved[0].detach().requires_grad_(true)};
    inputs.insert(inputs.end(), saved.begin() + 1, saved.end());
    at::Tensor out;
    {
      at::AutoGradMode grad_on(true);
      out = (*body)(inputs[0]);  // the weights are read from where the body reads them: the same tensors
    }
    variable_list grads = torch::autograd::grad({out}, inputs, {grad_out[0]},
                                                /*retain_graph=*/false, /*create_graph=*/false,
                                                /*allow_unused=*/true);
    grads.emplace_back();  // the body pointer
    return grads;
  }
};

}  // namespace

at::Tensor CheckpointedLayers::run(std::int64_t layer, const at::Tensor& x, const Body& body) {
  std::vector<at::Tensor> weights = layer_inputs_(layer);
  if (!x.requires_grad() && weights.empty()) {
    at::NoGradGuard no_grad;  // nothing below needs a gradient: keep nothing
    return body(x);
  }
  bodies_.push_back(body);
  return CheckpointFunction::apply(x, at::TensorList(weights), &bodies_.back())[0];
}

}  // namespace tttmem::train
