// train: per-layer activation checkpointing through a custom autograd function (SPEC.md `train`).
// Forward: the layer body runs with grad off and only its input is kept. Backward: the body runs
// again with grad on and autograd::grad gives the gradients of its input and of the weights that
// were passed in as inputs, so they leave through this node like any other op's. Tensors a body
// leaves beside its output (LayerExtras) are outputs of the node too.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cstdint>

#include "tttmem/train.h"

namespace tttmem::train {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  // Outputs: the layer output, then the tensors the body left for later (LayerExtras::outputs).
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, at::TensorList inputs,
                               const CheckpointedLayers::Call* call) {
    std::vector<at::Tensor> saved{x};
    saved.insert(saved.end(), inputs.begin(), inputs.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["call"] = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(call));
    return run_body(*call, x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const variable_list saved = ctx->get_saved_variables();
    const auto* call = reinterpret_cast<const CheckpointedLayers::Call*>(
        static_cast<std::intptr_t>(ctx->saved_data["call"].toInt()));
    const std::size_t first_extra = saved.size() - call->extra_inputs;
    variable_list inputs{saved[0].detach().requires_grad_(true)};
    // The body reads the weights from where it read them: the same tensors, leaves or casts of
    // leaves. The extra inputs come out of an earlier part of the graph (the ingestion's
    // factors): the body reads detached copies of them, see LayerExtras::replace_inputs.
    inputs.insert(inputs.end(), saved.begin() + 1, saved.begin() + first_extra);
    for (std::size_t k = first_extra; k < saved.size(); ++k)
      inputs.push_back(saved[k].detach().requires_grad_(saved[k].requires_grad()));
    if (call->extra_inputs > 0)
      call->extras->replace_inputs(call->layer, {inputs.begin() + first_extra, inputs.end()});
    variable_list outputs;
    {
      at::AutoGradMode grad_on(true);
      outputs = run_body(*call, inputs[0]);
    }
    if (call->extra_inputs > 0)
      call->extras->replace_inputs(call->layer, {saved.begin() + first_extra, saved.end()});
    variable_list used, grads_in;  // outputs that received a gradient and depend on an input
    for (std::size_t k = 0; k < outputs.size(); ++k)
      if (grad_out[k].defined() && outputs[k].requires_grad()) {
        used.push_back(outputs[k]);
        grads_in.push_back(grad_out[k]);
      }
    variable_list wanted;  // inputs that require grad; the others get none
    for (const at::Tensor& t : inputs)
      if (t.requires_grad()) wanted.push_back(t);
    const variable_list found = torch::autograd::grad(used, wanted, grads_in, /*retain_graph=*/false,
                                                      /*create_graph=*/false, /*allow_unused=*/true);
    variable_list grads;
    std::size_t next = 0;
    for (const at::Tensor& t : inputs) grads.push_back(t.requires_grad() ? found[next++] : at::Tensor());
    grads.emplace_back();  // the call pointer
    return grads;
  }

  static variable_list run_body(const CheckpointedLayers::Call& call, const at::Tensor& x) {
    variable_list out{call.body(x)};
    if (call.extras != nullptr)
      for (at::Tensor& t : call.extras->outputs(call.layer)) out.push_back(std::move(t));
    return out;
  }
};

}  // namespace

at::Tensor CheckpointedLayers::run(std::int64_t layer, const at::Tensor& x, const Body& body) {
  std::vector<at::Tensor> inputs = layer_inputs_(layer);
  const std::vector<at::Tensor> extra_inputs =
      extras_ != nullptr ? extras_->inputs(layer) : std::vector<at::Tensor>{};
  inputs.insert(inputs.end(), extra_inputs.begin(), extra_inputs.end());
  const bool any_grad = x.requires_grad() ||
                        std::any_of(inputs.begin(), inputs.end(),
                                    [](const at::Tensor& t) { return t.requires_grad(); });
  if (!any_grad) {
    at::NoGradGuard no_grad;  // nothing below needs a gradient: keep nothing
    return body(x);
  }
  calls_.push_back({body, extras_, layer, extra_inputs.size()});
  variable_list out = CheckpointFunction::apply(x, at::TensorList(inputs), &calls_.back());
  if (out.size() > 1) extras_->replace_outputs(layer, {out.begin() + 1, out.end()});
  return out[0];
}

}  // namespace tttmem::train
