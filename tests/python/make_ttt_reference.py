"""Independent In-Place TTT reference for tests/ttt (written from SPEC.md "In-Place TTT
reference").

Shares no code with the C++ port. The TTT math is a float64 numpy loop over chunks, with the
conv written out tap by tap, so neither torch's conv1d nor its matmul orientation is trusted.

Writes FIXTURE_DIR/ttt_reference/:
  model/                 a tiny random Qwen3 (save_pretrained: safetensors + config.json with the
                         ttt_* fields), random non-zero ttt_proj / ttt_conv on the TTT layers
  reference.safetensors  model level: ids_<n>, logits_<n> (fp32) for one-shot prefill of n tokens,
                         n in {1, C-1, C, C+1, 5C+3}; split_pieces and logits_split for the
                         5C+3 stream fed in pieces through the KV cache; final_w_<layer> after it.
                         MLP level (layer weights of the first TTT layer, random X):
                         mlp_x, mlp_out_<n>, mlp_w_<n>, mlp_updates_<n>, mlp_tail_<n>.
"""

import argparse
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import Qwen3Config, Qwen3ForCausalLM

CHUNK = 8
LR = 0.1
TTT_LAYERS = [0, 2]
LENGTHS = [1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 3]
PIECES = [3, 1, 5, 8, 1, 1, 7, 2, 9, 6]  # sums to 43 = 5C+3, crosses boundaries mid-piece


def silu(a):
    return a / (1.0 + np.exp(-a))


def conv_rows(t, conv):
    """Tc[p, d] = sum_j conv[d, 0, j] * t[p + j - 2, d] inside one chunk, zeros outside."""
    c, _ = t.shape
    out = np.zeros_like(t)
    for p in range(c):
        for j in range(5):
            q = p + j - 2
            if 0 <= q < c:
                out[p] += conv[:, 0, j] * t[q]
    return out


class TTTLayerRef:
    """Spec 4.2 streaming state for one layer: tails of X and T rows, the full fast weight."""

    def __init__(self, wg, wu, wd, wp, conv, chunk=CHUNK, lr=LR):
        self.wg, self.wu, self.wd, self.wp, self.conv = wg, wu, wd, wp, conv
        self.chunk, self.lr = chunk, lr
        self.frozen = False  # tttmem's frozen state: outputs use W, nothing updates or joins a tail
        self.reset()

    def reset(self):
        self.tail_x = np.zeros((0, self.wd.shape[0]))
        self.tail_t = np.zeros((0, self.wd.shape[0]))
        self.w = self.wd.copy()
        self.updates = 0

    def z(self, x):
        return silu(x @ self.wg.T) * (x @ self.wu.T)

    def step(self, x, t):
        """x, t: [n, D] new rows -> [n, D] output rows."""
        if self.frozen:
            return self.z(x) @ self.w.T
        c = self.chunk
        n = x.shape[0]
        px = np.concatenate([self.tail_x, x])
        pt = np.concatenate([self.tail_t, t])
        lp = px.shape[0]
        if lp < c:
            self.tail_x, self.tail_t = px, pt
            return self.z(x) @ self.w.T
        out = self.chunks(px, pt, flush=False)
        rest = lp % c
        self.tail_x = px[lp - rest:] if rest else px[:0]
        self.tail_t = pt[lp - rest:] if rest else pt[:0]
        return out[lp - n:lp]

    def chunks(self, px, pt, flush):
        """The chunk loop over px/pt from a boundary; the partial last chunk updates iff flush."""
        c, lp = self.chunk, px.shape[0]
        z = self.z(px)
        count = -(-lp // c)
        out = np.zeros((count * c, self.wd.shape[0]))
        for k in range(count):
            rows = slice(k * c, min((k + 1) * c, lp))
            zk = np.zeros((c, z.shape[1]))
            tk = np.zeros((c, pt.shape[1]))
            zk[: rows.stop - rows.start] = z[rows]
            tk[: rows.stop - rows.start] = pt[rows]
            out[k * c:(k + 1) * c] = zk @ self.w.T              # before this chunk's update
            if rows.stop - rows.start == c or flush:            # a partial chunk never updates
                v = conv_rows(tk, self.conv) @ self.wp           # stored orientation
                self.w = self.w + self.lr * (v.T @ zk)           # a sum over the chunk
                self.updates += 1
        return out

    def flush(self):
        """tttmem's PartialChunk::flush at the end of a stream: the tail, zero-padded, updates W."""
        if self.tail_x.shape[0]:
            self.chunks(self.tail_x, self.tail_t, flush=True)
            self.tail_x, self.tail_t = self.tail_x[:0], self.tail_t[:0]


def upstream_bf16(x, wg, wu, wd, wp, conv):
    """Spec 3.8 op for op in torch bf16 (one-shot call, target = X, batch row 0): the rounding
    order a bit-faithful port must reproduce. x: [L, D] -> (out [L, D], W [D, F])."""
    F = torch.nn.functional
    n_rows, d = x.shape
    z = F.silu(F.linear(x[None], wg)) * F.linear(x[None], wu)
    if n_rows < CHUNK:
        return F.linear(z, wd)[0], wd
    chunks = -(-n_rows // CHUNK)
    pad = chunks * CHUNK - n_rows
    zp = F.pad(z, (0, 0, 0, pad)).view(chunks, CHUNK, -1)
    tp = F.pad(x[None], (0, 0, 0, pad)).view(chunks, CHUNK, d)
    tc = F.conv1d(tp.transpose(1, 2).contiguous(), conv, padding=2, groups=d).transpose(1, 2)
    w = wd.clone()
    out = torch.zeros(1, chunks, CHUNK, d, dtype=x.dtype)
    for k in range(chunks):
        out[0, k] = torch.tensordot(zp[k], w, dims=([1], [1]))
        if pad == 0 or k < chunks - 1:
            a = torch.tensordot(wp, tc[k], dims=([0], [1]))  # Wp^T Tc^T, rounded to bf16
            g = torch.tensordot(a, zp[k], dims=([1], [0]))
            w = w + g * LR                                    # bf16(G eta), then bf16(W + dW)
    return out.view(chunks * CHUNK, d)[:n_rows], w


def patch(model, refs):
    for layer, ref in refs.items():
        mlp = model.model.layers[layer].mlp

        def forward(x, ref=ref):
            rows = x[0].detach().double().numpy()
            return torch.from_numpy(ref.step(rows, rows)).to(x.dtype).unsqueeze(0)

        mlp.forward = forward


def set_ttt_fields(config, layers, chunk, lr):
    """The upstream config.json fields of In-Place TTT (SPEC.md T1) on an HF Qwen3Config."""
    config.ttt_mode = True
    config.ttt_layers = layers
    config.ttt_chunk = chunk
    config.ttt_lr = lr
    config.ttt_target = "hidden_states"
    config.ttt_proj = True


def build_model():
    config = Qwen3Config(
        vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
        rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, torch_dtype="float32",
        bos_token_id=1, eos_token_id=2)
    set_ttt_fields(config, TTT_LAYERS, CHUNK, LR)
    torch.manual_seed(1234)
    model = Qwen3ForCausalLM(config).eval().float()
    d = config.hidden_size
    with torch.no_grad():
        # HF init draws N(0, 0.02): the norms are ones; make them non-trivial so the test sees them
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.15)
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
        for layer in TTT_LAYERS:
            mlp = model.model.layers[layer].mlp
            mlp.ttt_proj = torch.nn.Linear(d, d, bias=False)
            mlp.ttt_conv = torch.nn.Conv1d(d, d, 5, padding=2, groups=d, bias=False)
            mlp.ttt_proj.weight.normal_(0.0, 0.2)   # non-symmetric, so orientation matters
            mlp.ttt_conv.weight.normal_(0.0, 0.3)   # every tap non-zero
    return model


def layer_ref(model, layer, chunk=CHUNK, lr=LR):
    mlp = model.model.layers[layer].mlp
    get = lambda m: m.weight.detach().double().numpy().copy()
    return TTTLayerRef(get(mlp.gate_proj), get(mlp.up_proj), get(mlp.down_proj),
                       get(mlp.ttt_proj), get(mlp.ttt_conv), chunk, lr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--tttmem", required=False)  # unused: the C++ side reads our files
    args = parser.parse_args()
    out_dir = os.path.join(args.out, "ttt_reference")
    os.makedirs(out_dir, exist_ok=True)

    model = build_model()
    model.save_pretrained(os.path.join(out_dir, "model"), safe_serialization=True)
    with open(os.path.join(out_dir, "model", "config.json")) as f:
        saved = json.load(f)
    assert saved["ttt_layers"] == TTT_LAYERS and saved["ttt_chunk"] == CHUNK

    refs = {layer: layer_ref(model, layer) for layer in TTT_LAYERS}
    patch(model, refs)
    rng = np.random.default_rng(7)
    longest = int(max(LENGTHS))
    stream = torch.from_numpy(rng.integers(3, 96, size=longest)).long()
    tensors = {}
    with torch.no_grad():
        for n in LENGTHS:
            for ref in refs.values():
                ref.reset()
            ids = stream[:n].unsqueeze(0)
            tensors[f"ids_{n}"] = ids[0].clone()
            tensors[f"logits_{n}"] = model(input_ids=ids, use_cache=False).logits[0].float()
        for ref in refs.values():
            ref.reset()
        cache, pieces, start = None, [], 0
        for size in PIECES:
            piece = stream[start:start + size].unsqueeze(0)
            result = model(input_ids=piece, past_key_values=cache, use_cache=True)
            cache = result.past_key_values
            pieces.append(result.logits[0].float())
            start += size
        assert start == longest
        tensors["split_pieces"] = torch.tensor(PIECES, dtype=torch.int64)
        tensors["logits_split"] = torch.cat(pieces)
        # the reference's own streaming must agree with its one-shot pass (SPEC.md T4.2)
        one_shot = tensors[f"logits_{longest}"]
        assert (tensors["logits_split"] - one_shot).abs().max() <= 1e-5 * one_shot.abs().max()
        for layer, ref in refs.items():
            tensors[f"final_w_{layer}"] = torch.from_numpy(ref.w).float()
            tensors[f"final_updates_{layer}"] = torch.tensor([ref.updates], dtype=torch.int64)

    # MLP level: the first TTT layer's weights on random rows, one fresh stream per length.
    ref = refs[TTT_LAYERS[0]]
    x = rng.normal(0.0, 1.0, size=(longest, ref.wd.shape[0]))
    tensors["mlp_x"] = torch.from_numpy(x).float()
    x = tensors["mlp_x"].double().numpy()  # the reference sees exactly the fp32 rows C++ sees
    for n in LENGTHS + [2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 1]:
        ref.reset()
        tensors[f"mlp_out_{n}"] = torch.from_numpy(ref.step(x[:n], x[:n])).float()
        tensors[f"mlp_w_{n}"] = torch.from_numpy(ref.w).float()
        tensors[f"mlp_updates_{n}"] = torch.tensor([ref.updates], dtype=torch.int64)
        tensors[f"mlp_tail_{n}"] = torch.tensor([ref.tail_x.shape[0]], dtype=torch.int64)
    # bf16, upstream rounding order (SPEC.md T3.8): the port should agree bit for bit
    mlp = model.model.layers[TTT_LAYERS[0]].mlp
    bf = lambda t: t.detach().to(torch.bfloat16)
    x_bf = bf(tensors["mlp_x"])
    with torch.no_grad():
        for n in [CHUNK - 1, 2 * CHUNK, 5 * CHUNK + 3]:
            out, w = upstream_bf16(x_bf[:n], bf(mlp.gate_proj.weight), bf(mlp.up_proj.weight),
                                   bf(mlp.down_proj.weight), bf(mlp.ttt_proj.weight),
                                   bf(mlp.ttt_conv.weight))
            tensors[f"bf16_out_{n}"] = out
            tensors[f"bf16_w_{n}"] = w
    save_file({k: v.contiguous() for k, v in tensors.items()},
              os.path.join(out_dir, "reference.safetensors"),
              metadata={"chunk": str(CHUNK), "lr": str(LR), "layers": json.dumps(TTT_LAYERS)})
    print(f"wrote {out_dir}")


if __name__ == "__main__":
    main()
