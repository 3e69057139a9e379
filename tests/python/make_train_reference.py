"""Independent training-step reference for tests/train (SPEC.md `train`).

A tiny random Qwen3 from transformers with In-Place TTT on layers 0 and 2: the model, its TTT
tensors and the chunk/lr come from make_ttt_reference.py (the spec-written inference oracle), the
differentiable TTT MLP here is the training form written from the spec (inplace-ttt.md 3.6: every
dW at once, a cumulative sum over chunks, the last chunk never contributing) and is checked against
that numpy inference loop before use. The step itself is plain PyTorch: HF's causal-LM loss
(shifted, mean over labels != -100), backward of loss / grad_accum per micro-batch, clip_grad_norm_
over the trainable set, torch.optim.AdamW. It runs in float64 so the C++ fp32 port is compared
with the exact value, not with another fp32 rounding.

Writes FIXTURE_DIR/train_reference/:
  model/                 the fp32 checkpoint (save_pretrained) with ttt_* config fields
  reference.safetensors  batch_<m>_{ids,mask,labels} for micro-batches m = 0..STEPS*ACCUM-1;
                         per trainable set S in {ttt, ttt+down, all} and optimizer step s:
                         S.loss.<s>.<micro> (the unscaled micro-batch loss), S.norm.<s> (the
                         pre-clip grad norm), S.grad.<s>.<name> (accumulated, pre-clip) and
                         S.param.<s>.<name> (after the step), float64.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_ttt_reference as ttt_ref  # noqa: E402

CHUNK, TTT_LR, TTT_LAYERS = ttt_ref.CHUNK, ttt_ref.LR, ttt_ref.TTT_LAYERS
STEPS, ACCUM = 2, 2
# (length, real tokens of row 1): partial and full last chunks, right padding in rows
MICRO = [(20, 15), (24, 24), (24, 24), (17, 11)]
PAD_ID = 0
OPTIM = {"lr": 1e-3, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.1}
CLIP = 1.0
SETS = ["ttt", "ttt+down", "all"]


def chunk_conv(t, conv):
    """Tc[.., p, d] = sum_j conv[d, 0, j] * t[.., p + j - 2, d] inside each chunk (tap by tap).
    t: [B, N, C, D] -> same."""
    padded = F.pad(t, (0, 0, 2, 2))
    return sum(conv[:, 0, j] * padded[:, :, j:j + t.shape[2]] for j in range(5))


def ttt_mlp_training(mlp, x, chunk=CHUNK, lr=TTT_LR):
    """Spec 3.1-3.6, training form, target = X. x: [B, L, D] -> [B, L, D]."""
    CHUNK, TTT_LR = chunk, lr  # noqa: N806 (the spec's names)
    b, length, d = x.shape
    z = F.silu(x @ mlp.gate_proj.weight.T) * (x @ mlp.up_proj.weight.T)
    n = -(-length // CHUNK)
    pad = n * CHUNK - length
    zc = F.pad(z, (0, 0, 0, pad)).view(b, n, CHUNK, -1)
    tc = chunk_conv(F.pad(x, (0, 0, 0, pad)).view(b, n, CHUNK, d), mlp.ttt_conv.weight)
    v = tc @ mlp.ttt_proj.weight                                 # V = Tc Wp, stored orientation
    dw = TTT_LR * torch.einsum("bkcd,bkcf->bkdf", v[:, :n - 1], zc[:, :n - 1])  # sums over rows
    w0 = mlp.down_proj.weight.expand(b, 1, *mlp.down_proj.weight.shape)
    ws = torch.cumsum(torch.cat([w0, dw], 1), 1)                 # W_0 .. W_{N-1}
    out = torch.einsum("bkcf,bkdf->bkcd", zc, ws)                # O_k = Z_k W_k^T
    return out.reshape(b, n * CHUNK, d)[:, :length]


def rms_norm_float64(norm, h):
    """Qwen3RMSNorm computes in fp32 whatever the input dtype; float64 throughout keeps the
    finite-difference check meaningful (the op order is HF's)."""
    variance = h.pow(2).mean(-1, keepdim=True)
    return norm.weight * (h * torch.rsqrt(variance + norm.variance_epsilon))


def float64_norms(model):
    for module in model.modules():
        if type(module).__name__ == "Qwen3RMSNorm":
            module.forward = lambda h, norm=module: rms_norm_float64(norm, h)


def graft_ttt(model, layers, chunk, lr):
    """The TTT training form on `layers` (their mlp must hold ttt_proj and ttt_conv)."""
    for layer in layers:
        mlp = model.model.layers[layer].mlp
        mlp.forward = lambda x, mlp=mlp: ttt_mlp_training(mlp, x, chunk, lr)


def graft(model):
    """The TTT training form on the TTT layers; every RMSNorm in float64."""
    float64_norms(model)
    graft_ttt(model, TTT_LAYERS, CHUNK, TTT_LR)


def causal_lm_loss(logits, labels):
    """HF ForCausalLMLoss without its fp32 upcast: shift, mean over labels != -100."""
    shifted = F.pad(labels, (0, 1), value=-100)[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), shifted.reshape(-1),
                           ignore_index=-100)


def make_batches(vocab):
    rng = np.random.default_rng(11)
    batches = []
    for length, real in MICRO:
        ids = torch.from_numpy(rng.integers(3, vocab, size=(2, length))).long()
        mask = torch.ones(2, length, dtype=torch.int64)
        mask[1, real:] = 0
        ids[1, real:] = PAD_ID
        labels = ids.masked_fill(mask == 0, -100)
        batches.append((ids, mask, labels))
    return batches


def trainable(model, which):
    def wanted(name):
        if which == "all":
            return True
        if "ttt_proj" in name or "ttt_conv" in name:
            return True
        return which == "ttt+down" and any(
            name == f"model.layers.{i}.mlp.down_proj.weight" for i in TTT_LAYERS)
    return [(n, p) for n, p in model.named_parameters() if wanted(n)]


def check_against_inference_loop(model, batches):
    """The training form's logits equal the spec's numpy inference loop (one fresh stream per
    row, real tokens only): spec 3.6 'mathematically the outputs equal the inference path's'."""
    refs = {layer: ttt_ref.layer_ref(model, layer) for layer in TTT_LAYERS}
    ids, mask, _ = batches[0]
    with torch.no_grad():
        train_logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        loop_model = ttt_ref.build_model().double()
        loop_model.load_state_dict(model.state_dict())
        float64_norms(loop_model)
        ttt_ref.patch(loop_model, refs)
        for row in range(ids.shape[0]):
            for ref in refs.values():
                ref.reset()
            real = int(mask[row].sum())
            loop = loop_model(input_ids=ids[row:row + 1, :real], use_cache=False).logits[0]
            err = (loop - train_logits[row, :real]).abs().max().item()
            assert err < 1e-10, f"training form differs from the inference loop by {err}"


def check_finite_differences(model, batch, named):
    """Autograd of the reference against central differences in float64, a few coordinates."""
    ids, mask, labels = batch
    model.zero_grad()
    causal_lm_loss(model(input_ids=ids, attention_mask=mask, use_cache=False).logits,
                   labels).backward()
    for name, p in named[:4]:
        flat = p.detach().view(-1)
        k = int(p.grad.abs().view(-1).argmax())
        losses = []
        for sign in (1, -1):
            with torch.no_grad():
                flat[k] += sign * 1e-6
                losses.append(causal_lm_loss(
                    model(input_ids=ids, attention_mask=mask, use_cache=False).logits,
                    labels).item())
                flat[k] -= sign * 1e-6
        fd = (losses[0] - losses[1]) / 2e-6
        g = p.grad.view(-1)[k].item()
        assert abs(fd - g) <= 1e-6 * max(1.0, abs(g)), f"{name}[{k}]: autograd {g}, fd {fd}"
    model.zero_grad()


def record_adamw_steps(model, which, micro_loss, tag, tensors):
    """STEPS AdamW steps of ACCUM micro-batches on the `which` set of `model` (everything else
    frozen); micro_loss(step, m) is a micro-batch's loss. Records every loss, gradient, clipped
    norm and updated parameter under `tag`, the names the C++ tests read."""
    named = trainable(model, which)
    names = {n for n, _ in named}
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    params = [p for _, p in named]
    optim = torch.optim.AdamW(params, **OPTIM)
    for step in range(STEPS):
        for m in range(ACCUM):
            loss = micro_loss(step, m)
            (loss / ACCUM).backward()
            tensors[f"{tag}.loss.{step}.{m}"] = loss.detach().reshape(1)
        for n, p in named:
            tensors[f"{tag}.grad.{step}.{n}"] = p.grad.detach().clone()
        norm = torch.nn.utils.clip_grad_norm_(params, CLIP)
        tensors[f"{tag}.norm.{step}"] = norm.detach().reshape(1)
        optim.step()
        optim.zero_grad()
        for n, p in named:
            tensors[f"{tag}.param.{step}.{n}"] = p.detach().clone()


def run_set(initial_state, which, batches, tensors):
    model = ttt_ref.build_model().double()
    model.load_state_dict(initial_state)
    model.config._attn_implementation = "sdpa"
    graft(model)
    micro = iter(batches)

    def micro_loss(step, m):
        ids, mask, labels = next(micro)
        out = model(input_ids=ids, attention_mask=mask, use_cache=False)
        loss = causal_lm_loss(out.logits, labels)
        if step == 0 and m == 0:
            hf = model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False)
            assert abs(hf.loss.item() - loss.item()) < 1e-5, "HF loss disagrees"
        return loss

    record_adamw_steps(model, which, micro_loss, which, tensors)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--tttmem", required=False)  # unused: the C++ side reads our files
    args = parser.parse_args()
    out_dir = os.path.join(args.out, "train_reference")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)

    model = ttt_ref.build_model()  # fp32 values: what the C++ side loads
    model.save_pretrained(os.path.join(out_dir, "model"), safe_serialization=True)
    initial = {k: v.double() for k, v in model.state_dict().items()}
    batches = make_batches(model.config.vocab_size)

    tensors = {}
    for m, (ids, mask, labels) in enumerate(batches):
        tensors[f"batch_{m}_ids"], tensors[f"batch_{m}_mask"] = ids, mask
        tensors[f"batch_{m}_labels"] = labels
    norms = {}
    for which in SETS:
        run_set(initial, which, batches, tensors)
        norms[which] = [tensors[f"{which}.norm.{s}"].item() for s in range(STEPS)]
    # Clipping must act in some set and not in another, so both branches are exercised.
    flat = [x for v in norms.values() for x in v]
    assert min(flat) < CLIP < max(flat), f"grad norms {norms} do not straddle the clip {CLIP}"

    checked = ttt_ref.build_model().double()
    checked.load_state_dict(initial)
    checked.config._attn_implementation = "sdpa"
    graft(checked)
    check_against_inference_loop(checked, batches)
    named = trainable(checked, "all")
    ordered = [x for x in named if "ttt" in x[0]] + [x for x in named if "ttt" not in x[0]]
    check_finite_differences(checked, batches[0], ordered[:2] + ordered[-2:])

    meta = {"chunk": str(CHUNK), "ttt_lr": str(TTT_LR), "layers": json.dumps(TTT_LAYERS),
            "steps": str(STEPS), "accum": str(ACCUM), "clip": str(CLIP),
            "lr": str(OPTIM["lr"]), "beta1": str(OPTIM["betas"][0]),
            "beta2": str(OPTIM["betas"][1]), "eps": str(OPTIM["eps"]),
            "weight_decay": str(OPTIM["weight_decay"]), "norms": json.dumps(norms)}
    save_file({k: v.contiguous() for k, v in tensors.items()},
              os.path.join(out_dir, "reference.safetensors"), metadata=meta)
    print(f"wrote {out_dir}: grad norms {norms}")


if __name__ == "__main__":
    main()
