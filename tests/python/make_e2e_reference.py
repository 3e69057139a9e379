"""Independent float64 reference of the TTT-E2E memory mechanism (dynamic MLP on layers 2 and 3,
mini-batch inner SGD on next-token loss, meta-gradient through the inner loop).

Shares no code with the C++ port. The reference is the Hugging Face Qwen3 model itself, run in
float64, with the MLP of each E2E layer replaced by static(X) + (silu(X G^T) * (X U^T)) Dn^T on
per-row dynamic weights. The streaming computation is not simulated with a cache: the logits of
mini-batch i come from a fresh forward of the whole prefix [0, end_i) in which the tokens of each
earlier mini-batch j are read with their own W_j, so nothing about KV caching is trusted. The
inner gradient is torch.autograd.grad with respect to W_i's own tensors (earlier W_j are different
tensors, so their paths do not count); the meta-gradient is autograd through every inner step
(create_graph), checked against central finite differences. HF computes RMSNorm, RoPE and the
eager softmax in float32 whatever the input dtype; those three are rewritten here in float64 with
HF's op order (and checked against stock fp32 HF), so the finite differences are meaningful.

Writes FIXTURE_DIR/e2e_reference/:
  model/                 the tiny random Qwen3 (save_pretrained, fp32 safetensors; config.json
                         with the e2e_* fields), sliding window 6 on every layer, eager attention
  reference.safetensors  float64 unless noted:
                         ids [2, 19] int64; theta.<l>.{gate,up,down} for l in {2, 3};
                         per inner step count s in {1, 2}, prefix s<s>.:
                           logits [2, 19, 64] (position t read with its mini-batch's W_i),
                           inner_loss.<i> [2] (l_i per row at W_i), w.<i>.<l>.{gate,up,down}
                           [2, ...] (W_{i+1}, each row's weights after mini-batch i),
                           outer_loss (0-dim), grad.<l>.{gate,up,down} (d outer / d theta, summed
                           over rows), grad.model.layers.3.mlp.down_proj.weight,
                           grad.model.layers.1.self_attn.q_proj.weight;
                         plain_logits [2, 19, 64] (the same float64 model, no dynamic MLP).
  meta.json              the settings, the outer losses and the finite-difference errors
"""

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import Qwen3Config, Qwen3ForCausalLM
from transformers.models.qwen3 import modeling_qwen3

SEED_MODEL, SEED_THETA, SEED_IDS, SEED_FD = 20260515, 20260516, 20260517, 20260518
VOCAB, HIDDEN, INTER, LAYERS_N, WINDOW = 64, 32, 48, 4, 6
E2E_LAYERS = [2, 3]
MINI_BATCH, INNER_LR, E2E_INTERMEDIATE = 8, 0.5, 24
THETA_STD = 0.2
BATCH, LENGTH = 2, 19                      # mini-batches of 8, 8, 3
STEP_COUNTS = [1, 2]
MATRICES = ["gate", "up", "down"]          # G [F', D], U [F', D], Dn [D, F']
STATIC_GRADS = ["model.layers.3.mlp.down_proj.weight", "model.layers.1.self_attn.q_proj.weight"]
FD_EPS, FD_REL, FD_ABS = 1e-6, 1e-6, 1e-9


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

def build_model():
    """The fp32 checkpoint the C++ side loads. HF's init draws N(0, 0.02) and unit norms, which
    leaves near-uniform logits and tiny gradients; redraw so every weight matters to the test."""
    config = Qwen3Config(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER,
        num_hidden_layers=LAYERS_N, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
        max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
        tie_word_embeddings=False, use_sliding_window=True, sliding_window=WINDOW,
        layer_types=["sliding_attention"] * LAYERS_N, attention_bias=False,
        torch_dtype="float32", attn_implementation="eager")
    # The E2E settings travel in config.json (e2e_inner_steps is the default; the reference
    # also records s = 2, which the C++ tests select explicitly).
    config.e2e_layers = E2E_LAYERS
    config.e2e_mini_batch = MINI_BATCH
    config.e2e_inner_lr = INNER_LR
    config.e2e_inner_steps = 1
    config.e2e_window = 0
    config.e2e_intermediate = E2E_INTERMEDIATE
    torch.manual_seed(SEED_MODEL)
    model = Qwen3ForCausalLM(config).eval().float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.15)
    assert model.config.layer_types == ["sliding_attention"] * LAYERS_N
    return model


def rms_norm_float64(norm, h):
    """Qwen3RMSNorm in the input dtype (HF upcasts to fp32 only; in float64 that would round)."""
    variance = h.pow(2).mean(-1, keepdim=True)
    return norm.weight * (h * torch.rsqrt(variance + norm.variance_epsilon))


def rope_float64(config, x, position_ids):
    """Default RoPE (attention scaling 1) with the inverse frequencies and angles in float64."""
    dim = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = position_ids.to(torch.float64)[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def eager_attention_float64(module, query, key, value, attention_mask, scaling, dropout=0.0,
                            **kwargs):
    """HF's eager attention, op for op, except that the softmax stays in the input dtype."""
    key = modeling_qwen3.repeat_kv(key, module.num_key_value_groups)
    value = modeling_qwen3.repeat_kv(value, module.num_key_value_groups)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    weights = F.softmax(scores, dim=-1)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return out, weights


class Plan:
    """What the E2E layers add to their static MLP in the next forward: None (the plain model)
    or a function (layer, x) -> [B, L, D]."""
    dynamic = None


def float64_reference(model32, plan):
    """A float64 copy of the fp32 model (exactly the saved values) whose E2E MLPs consult `plan`."""
    model = Qwen3ForCausalLM(model32.config).eval()
    model.load_state_dict(model32.state_dict())
    model = model.double()
    for p in model.parameters():
        p.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, modeling_qwen3.Qwen3RMSNorm):
            module.forward = lambda h, norm=module: rms_norm_float64(norm, h)
    model.model.rotary_emb.forward = lambda x, pos: rope_float64(model.config, x, pos)
    for layer in E2E_LAYERS:
        mlp = model.model.layers[layer].mlp

        def forward(x, mlp=mlp, layer=layer):
            out = modeling_qwen3.Qwen3MLP.forward(mlp, x)       # the model's own static MLP
            return out if plan.dynamic is None else out + plan.dynamic(layer, x)

        mlp.forward = forward
    return model


# ---------------------------------------------------------------------------------------------
# The dynamic MLP and the inner loop
# ---------------------------------------------------------------------------------------------

def dual(x, gate, up, down):
    """(silu(X G^T) * (X U^T)) Dn^T; the weights are [B, ...] (one set per row) or shared 2-D."""
    hidden = F.silu(x @ gate.transpose(-1, -2)) * (x @ up.transpose(-1, -2))
    return hidden @ down.transpose(-1, -2)


def segmented(segments, offset=0):
    """Dynamic part for x covering absolute positions [offset, offset + L): each position uses
    the per-row weights of the segment (mini-batch) it lies in. segments: (start, end, W)."""
    def dynamic(layer, x):
        length, parts, covered = x.shape[1], [], offset
        for start, end, w in segments:
            lo, hi = max(start, offset), min(end, offset + length)
            if lo < hi:
                assert lo == covered, "segments must tile the positions in order"
                parts.append(dual(x[:, lo - offset:hi - offset], *w[layer]))
                covered = hi
        assert covered == offset + length, "segments do not cover the input"
        return torch.cat(parts, dim=1)
    return dynamic


def logits_of(model, plan, ids, dynamic):
    plan.dynamic = dynamic
    try:
        return model(input_ids=ids, use_cache=False).logits
    finally:
        plan.dynamic = None


def mini_batches(n):
    return [(s, min(s + MINI_BATCH, n)) for s in range(0, n, MINI_BATCH)]


def flat(w):
    return [t for layer in E2E_LAYERS for t in w[layer]]


def unflat(tensors):
    it = iter(tensors)
    return {layer: tuple(next(it) for _ in MATRICES) for layer in E2E_LAYERS}


def inner_loss(logits, ids, start, end):
    """l_i per row: mean next-token cross-entropy over t in [start, end) with t + 1 < N; None
    when the mini-batch has no such t (the last token of the document predicts nothing)."""
    terms = min(end, ids.shape[1] - 1) - start
    if terms <= 0:
        return None
    b, v = logits.shape[0], logits.shape[-1]
    ce = F.cross_entropy(logits[:, :terms].reshape(-1, v),
                         ids[:, start + 1:start + 1 + terms].reshape(-1), reduction="none")
    return ce.view(b, terms).mean(dim=1)


def outer_loss(logits, ids):
    v = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, v), ids[:, 1:].reshape(-1))


def run_e2e(model, plan, ids, theta, eta, steps, create_graph):
    """The inner loop over the mini-batches. Returns the logits [B, N, V] (mini-batch i read with
    W_i), the inner losses l_i at W_i, and W_{i+1} after each mini-batch.

    create_graph=True keeps every inner step differentiable (meta-gradient); False detaches W
    between mini-batches, which computes the same values more cheaply (finite differences)."""
    b = ids.shape[0]
    w = {layer: tuple(t.unsqueeze(0).repeat(b, *[1] * t.dim()) for t in theta[layer])
         for layer in E2E_LAYERS}                                   # W_0: a per-row copy
    read, logits, losses, after = [], [], [], []
    for start, end in mini_batches(ids.shape[1]):
        if not create_graph:
            w = unflat([t.detach().requires_grad_() for t in flat(w)])

        def forward(wi, earlier=list(read), start=start, end=end):
            # earlier mini-batches keep the weights they were read with; this one uses wi
            return logits_of(model, plan, ids[:, :end],
                             segmented(earlier + [(start, end, wi)]))[:, start:end]

        seg = forward(w)
        loss = inner_loss(seg, ids, start, end)
        logits.append(seg if create_graph else seg.detach())
        losses.append(loss)
        read.append((start, end, w))
        cur = w
        if loss is not None:
            for step in range(steps):
                step_loss = loss if step == 0 else inner_loss(forward(cur), ids, start, end)
                # inputs = this mini-batch's own tensors: paths through earlier W_j do not count
                grads = torch.autograd.grad(step_loss.sum(), flat(cur), create_graph=create_graph)
                cur = unflat([p - eta * g for p, g in zip(flat(cur), grads)])
        after.append(cur)
        w = cur
    return torch.cat(logits, dim=1), losses, after


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

def fail(message):
    raise SystemExit(f"make_e2e_reference: CHECK FAILED: {message}")


def check_against_stock_hf(model, plan, ids, stock):
    """The float64 rewrites (norm, RoPE, softmax) change only the rounding: the plain float64
    logits agree with stock fp32 HF (run before the eager patch is installed)."""
    with torch.no_grad():
        got = logits_of(model, plan, ids, None)
    err = (got - stock.double()).abs().max().item()
    scale = got.abs().max().item()
    if err > 1e-5 * max(1.0, scale):
        fail(f"float64 plain logits differ from stock fp32 HF by {err} (scale {scale})")
    return err


def check_identity(model, plan, ids, theta, plain):
    """Check 1: with Dn = 0 and eta = 0 the dynamic part vanishes and nothing moves."""
    zeroed = {layer: (g, u, torch.zeros_like(d)) for layer, (g, u, d) in theta.items()}
    for steps in STEP_COUNTS:
        logits, _, after = run_e2e(model, plan, ids, zeroed, 0.0, steps, create_graph=False)
        err = (logits - plain).abs().max().item()
        if err > 1e-12:
            fail(f"Dn = 0, eta = 0, s = {steps}: E2E logits differ from plain_logits by {err}")
        for layer in E2E_LAYERS:
            for a, b in zip(after[-1][layer], zeroed[layer]):
                if (a - b).abs().max().item() != 0.0:
                    fail(f"eta = 0 moved the weights of layer {layer}")
    return err


def check_streaming(model, plan, ids, theta, logits, after):
    """Check 3: M_0's logits are a plain forward of its 8 tokens with the shared theta (no
    segments, no per-row copies). Then, beyond the brief, the whole stream through HF's own KV
    cache, one mini-batch per call, each with its W_i: keys and values of earlier mini-batches
    come from the cache, so this confirms the prefix recomputation is the streaming model."""
    start, end = mini_batches(ids.shape[1])[0]
    shared = lambda layer, x: dual(x, *theta[layer])
    with torch.no_grad():
        direct = logits_of(model, plan, ids[:, start:end], shared)
    err0 = (direct - logits[:, start:end]).abs().max().item()
    if err0 > 1e-12:
        fail(f"M_0 logits differ from a plain forward with the dual MLP at theta by {err0}")
    weights = [{layer: tuple(t.unsqueeze(0).expand(ids.shape[0], *t.shape) for t in theta[layer])
                for layer in E2E_LAYERS}] + after[:-1]
    cache, pieces = None, []
    with torch.no_grad():
        for (start, end), w in zip(mini_batches(ids.shape[1]), weights):
            plan.dynamic = segmented([(start, end, w)], offset=start)
            position = torch.arange(start, end)
            result = model(input_ids=ids[:, start:end], past_key_values=cache, use_cache=True,
                           cache_position=position, position_ids=position[None])
            plan.dynamic = None
            cache = result.past_key_values
            pieces.append(result.logits)
    err_cache = (torch.cat(pieces, dim=1) - logits).abs().max().item()
    if err_cache > 1e-10:
        fail(f"streaming through HF's KV cache differs from the prefix recomputation by "
             f"{err_cache}")
    return err0, err_cache


def informative(g, gen):
    """The entry of largest |gradient| and a random one of the top quarter by |gradient|. With
    eps = 1e-6 the float64 noise floor of a central difference is ~1e-9 absolute (the loss's own
    rounding / eps), so an entry whose gradient is ~1e-4 would test only that floor."""
    order = g.abs().view(-1).argsort(descending=True)
    pick = int(torch.randint(max(1, g.numel() // 4), (1,), generator=gen))
    return [int(order[0]), int(order[pick])]


def fd_entries(grads, gen):
    """Which entries to difference: two in every theta matrix of both layers, two in each of
    the static weights."""
    entries = []
    for layer in E2E_LAYERS:
        for k, name in enumerate(MATRICES):
            entries += [("theta", (layer, k), i)
                        for i in informative(grads[f"grad.{layer}.{name}"], gen)]
    for name in STATIC_GRADS:
        entries += [("static", name, i) for i in informative(grads[f"grad.{name}"], gen)]
    return entries


def check_finite_differences(model, plan, ids, theta, statics, steps, grads, gen):
    """Check 2: central differences of the outer loss against the autograd meta-gradient."""
    def loss_at(kind, where, index, delta):
        if kind == "theta":
            layer, k = where
            moved = {l: tuple(t.clone() for t in m) for l, m in theta.items()}
            moved[layer][k].view(-1)[index] += delta
            logits, _, _ = run_e2e(model, plan, ids, moved, INNER_LR, steps, create_graph=False)
            return outer_loss(logits, ids).item()
        p = statics[where]
        with torch.no_grad():
            original = p.view(-1)[index].item()
            p.view(-1)[index] = original + delta
        try:
            logits, _, _ = run_e2e(model, plan, ids, theta, INNER_LR, steps, create_graph=False)
        finally:
            with torch.no_grad():
                p.view(-1)[index] = original
        return outer_loss(logits, ids).item()

    worst_rel, worst_abs, rows = 0.0, 0.0, []
    for kind, where, index in fd_entries(grads, gen):
        key = (f"grad.{where[0]}.{MATRICES[where[1]]}" if kind == "theta" else f"grad.{where}")
        auto = grads[key].view(-1)[index].item()
        up, down = loss_at(kind, where, index, FD_EPS), loss_at(kind, where, index, -FD_EPS)
        fd = (up - down) / (2 * FD_EPS)
        diff = abs(fd - auto)
        rel = diff / max(abs(auto), 1e-300)
        rows.append({"tensor": key, "index": index, "autograd": auto, "fd": fd, "abs_err": diff})
        if diff > max(FD_REL * abs(auto), FD_ABS):
            fail(f"s = {steps}: {key}[{index}] autograd {auto!r} vs finite difference {fd!r}")
        worst_abs = max(worst_abs, diff)
        if abs(auto) > FD_ABS:
            worst_rel = max(worst_rel, rel)
    return worst_rel, worst_abs, rows


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="fixture directory")
    parser.add_argument("--tttmem", help="tttmem binary (unused: the C++ side reads our files)")
    args = parser.parse_args()
    began = time.time()
    out_dir = os.path.join(args.out, "e2e_reference")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    # One thread: the ops are tiny (threads cost ~10x in time here), and the reduction order,
    # hence the last bits of the fixture, then does not depend on the machine's core count.
    torch.set_num_threads(1)

    # Build, save fp32, then reason in float64 on exactly the saved values.
    model32 = build_model()
    model32.save_pretrained(os.path.join(out_dir, "model"), safe_serialization=True)
    with open(os.path.join(out_dir, "model", "config.json")) as f:
        saved = json.load(f)
    for key, value in [("e2e_layers", E2E_LAYERS), ("e2e_mini_batch", MINI_BATCH),
                       ("e2e_inner_lr", INNER_LR), ("e2e_inner_steps", 1), ("e2e_window", 0),
                       ("e2e_intermediate", E2E_INTERMEDIATE)]:
        if saved.get(key) != value:
            fail(f"config.json has {key} = {saved.get(key)!r}, expected {value!r}")

    ids = torch.randint(0, VOCAB, (BATCH, LENGTH),
                        generator=torch.Generator().manual_seed(SEED_IDS))
    with torch.no_grad():
        stock = model32(input_ids=ids, use_cache=False).logits            # stock HF, fp32
    modeling_qwen3.eager_attention_forward = eager_attention_float64

    plan = Plan()
    model = float64_reference(model32, plan)
    statics = dict(model.named_parameters())
    statics = {name: statics[name] for name in STATIC_GRADS}

    # theta: N(0, 0.2^2), rounded to fp32 so the C++ side can hold exactly these values.
    gen = torch.Generator().manual_seed(SEED_THETA)
    shapes = {"gate": (E2E_INTERMEDIATE, HIDDEN), "up": (E2E_INTERMEDIATE, HIDDEN),
              "down": (HIDDEN, E2E_INTERMEDIATE)}
    theta = {layer: tuple((THETA_STD * torch.randn(shapes[n], generator=gen, dtype=torch.float64))
                          .float().double() for n in MATRICES) for layer in E2E_LAYERS}

    tensors = {"ids": ids}
    for layer in E2E_LAYERS:
        for name, t in zip(MATRICES, theta[layer]):
            tensors[f"theta.{layer}.{name}"] = t
    with torch.no_grad():
        plain = logits_of(model, plan, ids, None)
    tensors["plain_logits"] = plain
    stock_err = check_against_stock_hf(model, plan, ids, stock)
    identity_err = check_identity(model, plan, ids, theta, plain)

    summary = {}
    fd_gen = torch.Generator().manual_seed(SEED_FD)
    for steps in STEP_COUNTS:
        p = f"s{steps}."
        leaves = {layer: tuple(t.clone().requires_grad_() for t in m) for layer, m in theta.items()}
        for param in statics.values():
            param.requires_grad_(True)
        logits, losses, after = run_e2e(model, plan, ids, leaves, INNER_LR, steps,
                                        create_graph=True)
        outer = outer_loss(logits, ids)
        inputs = flat(leaves) + list(statics.values())
        grads = torch.autograd.grad(outer, inputs)
        for param in statics.values():
            param.requires_grad_(False)

        tensors[p + "logits"] = logits.detach()
        for i, loss in enumerate(losses):
            if loss is not None:
                tensors[p + f"inner_loss.{i}"] = loss.detach()
        for i, w in enumerate(after):
            for layer in E2E_LAYERS:
                for name, t in zip(MATRICES, w[layer]):
                    tensors[p + f"w.{i}.{layer}.{name}"] = t.detach()
        tensors[p + "outer_loss"] = outer.detach()
        named = [f"grad.{layer}.{name}" for layer in E2E_LAYERS for name in MATRICES]
        named += [f"grad.{name}" for name in STATIC_GRADS]
        local = dict(zip(named, (g.detach() for g in grads)))
        for key, g in local.items():
            tensors[p + key] = g

        if steps == STEP_COUNTS[0]:
            err0, err_cache = check_streaming(model, plan, ids, theta, logits.detach(), after)
        worst_rel, worst_abs, rows = check_finite_differences(
            model, plan, ids, theta, statics, steps, local, fd_gen)
        moved = max((a - b[None]).abs().max().item()
                    for layer in E2E_LAYERS for a, b in zip(after[-1][layer], theta[layer]))
        if moved < 1e-6:
            fail(f"s = {steps}: the inner loop barely moved the weights ({moved})")
        summary[f"s{steps}"] = {"outer_loss": outer.item(),
                                "inner_losses": [l.tolist() for l in losses if l is not None],
                                "fd_max_rel_err": worst_rel, "fd_max_abs_err": worst_abs,
                                "fd_entries": rows}
    if abs(summary["s1"]["outer_loss"] - summary["s2"]["outer_loss"]) < 1e-9:
        fail("s = 1 and s = 2 give the same outer loss: the extra step did nothing")

    save_file({k: v.contiguous() for k, v in tensors.items()},
              os.path.join(out_dir, "reference.safetensors"))
    meta = {
        "model": "tiny random Qwen3 (model/), float32 on disk, float64 in the reference",
        "e2e_layers": E2E_LAYERS, "e2e_mini_batch": MINI_BATCH, "e2e_inner_lr": INNER_LR,
        "e2e_intermediate": E2E_INTERMEDIATE, "e2e_window": 0, "inner_steps": STEP_COUNTS,
        "sliding_window": WINDOW, "batch": BATCH, "length": LENGTH,
        "mini_batches": mini_batches(LENGTH), "theta_std": THETA_STD,
        "seeds": {"model": SEED_MODEL, "theta": SEED_THETA, "ids": SEED_IDS, "fd": SEED_FD},
        "static_grads": STATIC_GRADS,
        "fd": {"eps": FD_EPS, "rel_tol": FD_REL, "abs_tol": FD_ABS},
        "checks": {"plain_vs_stock_fp32_hf": stock_err, "identity_dn0_eta0": identity_err,
                   "m0_vs_direct_forward": err0, "kv_cache_stream_vs_prefix": err_cache},
        "results": summary,
        "tensors": sorted(tensors),
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)

    for steps in STEP_COUNTS:
        r = summary[f"s{steps}"]
        print(f"s={steps}: outer loss {r['outer_loss']:.12f}, FD max rel err "
              f"{r['fd_max_rel_err']:.2e}, max abs err {r['fd_max_abs_err']:.2e} "
              f"({len(r['fd_entries'])} entries)")
    print(f"checks: plain vs stock fp32 HF {stock_err:.2e}, Dn=0/eta=0 identity {identity_err:.2e},"
          f" M_0 direct {err0:.2e}, KV-cache stream {err_cache:.2e}")
    print(f"wrote {out_dir} ({len(tensors)} tensors) in {time.time() - began:.1f}s")


if __name__ == "__main__":
    main()
