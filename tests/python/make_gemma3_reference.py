"""Reference outputs of a tiny random Gemma3 text model from Hugging Face transformers.

Builds Gemma3ForCausalLM from a Gemma3TextConfig (no download, seeded) with both layer kinds
(sliding layers 0 and 2, full layers 1 and 3), multi-query attention and a query_pre_attn_scalar
that differs from head_dim, saves it with save_pretrained (single file and sharded; embeddings
tied, as every Gemma3), and writes into OUT/gemma3_reference/:
  reference.safetensors  ids and fp32 logits for sequences shorter and far longer than the
                         window, bf16 logits, hidden states, a right-padded batch, 48 greedy ids,
                         HF's own cache decoding token by token across the window's edge, and a
                         variant with soft-capped logits and linear RoPE scaling (capped.*)
  ttt.*                  the Gemma3 adapter study's In-Place TTT MLP (its paper mode and its
                         strict snapshot, written here from the spec in float64) on layers 0 and 3
                         of the same weights, saved with its ttt_* tensors as model_ttt; and the
                         study's training step: the causal-LM loss of a batch and its gradients
                         for the trainable set (ttt_proj, ttt_conv and down_proj of the TTT
                         layers), by autograd in float64
  reference.json         transformers' own bf16-vs-fp32 error per sequence, and what was run
The attention implementation is "eager" throughout (HF's plain matmul/softmax path).
"""
import argparse
import copy
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_qwen3_reference import logits, sequence_references  # noqa: E402  (the same HF calls)

SEED = 20261204
VOCAB = 512
WINDOW = 8


def tiny_config(**extra) -> Gemma3TextConfig:
    return Gemma3TextConfig(
        vocab_size=VOCAB, hidden_size=128, intermediate_size=256, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=24,
        max_position_embeddings=4096, rope_theta=1_000_000.0, rope_local_base_freq=10_000.0,
        sliding_window=WINDOW, sliding_window_pattern=2, rms_norm_eps=1e-6,
        pad_token_id=0, eos_token_id=1, bos_token_id=2, torch_dtype="float32",
        attn_implementation="eager", **extra)


def build(config) -> Gemma3ForCausalLM:
    model = Gemma3ForCausalLM(config).eval()
    # Wider weights than HF's 0.02 so the logits are not flat, and (1 + w) norms away from 1 so a
    # misplaced norm weight shows.
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((0.2 if name.endswith("norm.weight") else 0.08) * torch.randn_like(p))
    return model


TTT = {"use_ttt": True, "ttt_layers": [0, 3], "ttt_chunk": 8, "ttt_lr": 0.3, "ttt_proj": True,
       "ttt_target": "hidden_states"}


def study_mlp(mlp, proj, conv, x, snapshot=None, snapshots=None, layer=None):
    """The study's Gemma3MLPTTT.forward: chunk-causal fast weights over one call (paper mode), or
    W_down + lr * snapshot at every position (strict answer). `snapshots` collects the sum of every
    chunk's delta, the partial last one included (strict ingest)."""
    chunk, lr = TTT["ttt_chunk"], TTT["ttt_lr"]
    z = F.gelu(mlp.gate_proj(x), approximate="tanh") * mlp.up_proj(x)
    w_down = mlp.down_proj.weight  # [d, f]
    if snapshot is not None:
        return z @ (w_down + lr * snapshot).transpose(-1, -2)
    b, n, d = x.shape
    chunks = -(-n // chunk)
    pad = chunks * chunk - n
    t = F.pad(x, (0, 0, 0, pad)).reshape(b * chunks, chunk, d).transpose(1, 2)
    t = F.conv1d(t, conv, padding=2, groups=d).transpose(1, 2).reshape(b, chunks, chunk, d)
    values = t @ proj  # V[c, e] = sum_d t[c, d] P[d, e]: P as stored
    zc = F.pad(z, (0, 0, 0, pad)).reshape(b, chunks, chunk, -1)
    deltas = values.transpose(-1, -2) @ zc  # [b, chunks, d, f]
    before = torch.cumsum(deltas, dim=1) - deltas  # sum over j < i
    out = zc @ (w_down + lr * before).transpose(-1, -2)
    if snapshots is not None:
        snapshots[layer] = deltas.sum(dim=1)
    return out.reshape(b, chunks * chunk, d)[:, :n]


def ttt_references(model, out: Path, g, tensors):
    """The adapter on a float64 copy of the model; the same weights plus ttt_* tensors saved as
    model_ttt (config.json carries the study's use_ttt and ttt_* fields)."""
    d = model.config.hidden_size
    params = {layer: (0.1 * torch.randn(d, d, generator=g), 0.1 * torch.randn(d, 1, 5, generator=g))
              for layer in TTT["ttt_layers"]}
    model.save_pretrained(out / "model_ttt", safe_serialization=True)
    weights = load_file(str(out / "model_ttt" / "model.safetensors"))
    for layer, (proj, conv) in params.items():
        weights[f"model.layers.{layer}.mlp.ttt_proj.weight"] = proj
        weights[f"model.layers.{layer}.mlp.ttt_conv.weight"] = conv
    save_file(weights, str(out / "model_ttt" / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((out / "model_ttt" / "config.json").read_text())
    (out / "model_ttt" / "config.json").write_text(json.dumps({**config, **TTT}, indent=2) + "\n")

    ref = copy.deepcopy(model).double()
    mode = {}  # what the patched MLPs do on the next call
    for layer, (proj, conv) in params.items():
        mlp = ref.model.layers[layer].mlp
        mlp.forward = (lambda x, mlp=mlp, proj=proj.double(), conv=conv.double(), layer=layer:
                       study_mlp(mlp, proj, conv, x, layer=layer,
                                 snapshot=mode.get("snapshot", {}).get(layer),
                                 snapshots=mode.get("collect")))
    chunk = TTT["ttt_chunk"]
    ids = torch.randint(0, VOCAB, (1, 5 * chunk + 3), generator=g)
    tensors["ttt.ids"] = ids[0]
    for n in (chunk - 1, chunk, chunk + 1, 5 * chunk + 3):  # paper mode: one call, fresh weights
        tensors[f"ttt.paper_logits_{n}"] = logits(ref, ids[:, :n])[0]
    # Strict: ingest the document alone, then answer a question from W_down + lr * snapshot.
    mode["collect"] = {}
    logits(ref, ids)
    snapshots = mode.pop("collect")
    question = torch.randint(0, VOCAB, (1, 13), generator=g)
    mode["snapshot"] = snapshots
    tensors["ttt.question"] = question[0]
    tensors["ttt.strict_logits"] = logits(ref, question)[0]
    for layer, snapshot in snapshots.items():
        tensors[f"ttt.snapshot_{layer}"] = snapshot[0].float()
    mode.pop("snapshot")
    training_references(ref, params, g, tensors)


def training_references(ref, params, g, tensors):
    """freeze_base_model's set: ttt_proj, ttt_conv and the TTT layers' down_proj; the loss is HF's
    causal-LM loss (shifted, mean over labels != -100) of an unpadded batch of two rows."""
    leaves = {}
    for layer, (proj, conv) in params.items():
        mlp = ref.model.layers[layer].mlp
        proj64 = proj.double().requires_grad_()
        conv64 = conv.double().requires_grad_()
        mlp.down_proj.weight.requires_grad_()
        leaves[f"model.layers.{layer}.mlp.ttt_proj.weight"] = proj64
        leaves[f"model.layers.{layer}.mlp.ttt_conv.weight"] = conv64
        leaves[f"model.layers.{layer}.mlp.down_proj.weight"] = mlp.down_proj.weight
        mlp.forward = lambda x, mlp=mlp, proj=proj64, conv=conv64: study_mlp(mlp, proj, conv, x)
    ids = torch.randint(0, VOCAB, (2, 3 * TTT["ttt_chunk"] + 5), generator=g)
    labels = ids.clone()
    labels[0, :4] = -100  # a prompt without loss
    shifted = F.pad(labels, (0, 1), value=-100)[:, 1:]
    out = ref(input_ids=ids, use_cache=False).logits
    loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), shifted.reshape(-1), ignore_index=-100)
    loss.backward()
    tensors["train.ids"], tensors["train.labels"] = ids, labels
    tensors["train.loss"] = loss.detach().float().reshape(1)
    for name, leaf in leaves.items():
        tensors[f"train.grad.{name}"] = leaf.grad.float()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="fixture directory")
    parser.add_argument("--tttmem", help="tttmem binary (unused: the reference needs only HF)")
    args = parser.parse_args()
    out = Path(args.out) / "gemma3_reference"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    torch.manual_seed(SEED)

    model = build(tiny_config())
    assert model.config.layer_types == ["sliding_attention", "full_attention"] * 2
    assert model.config.tie_word_embeddings
    model.save_pretrained(out / "model", safe_serialization=True)
    model.save_pretrained(out / "model_sharded", safe_serialization=True, max_shard_size="300KB")
    model_bf16 = copy.deepcopy(model).to(torch.bfloat16)

    g = torch.Generator().manual_seed(SEED + 1)
    tensors = {}
    meta = {"attn_implementation": "eager", "transformers": __import__("transformers").__version__,
            "torch": torch.__version__, "window": WINDOW, "hf_bf16_rel_err": {}, "sequences": []}
    sequence_references(model, model_bf16, (("short", 7), ("medium", 33), ("long", 600)), g,
                        tensors, meta)

    # Right padding keeps HF's slot indices equal to the positions, so its window is ours.
    rows = [torch.randint(0, VOCAB, (n,), generator=g) for n in (3 * WINDOW, 2 * WINDOW, 5)]
    ids = torch.zeros((len(rows), 3 * WINDOW), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = row
        mask[r, :len(row)] = 1
    tensors["padded.ids"] = ids
    tensors["padded.mask"] = mask
    tensors["padded.logits"] = logits(model, ids, mask)

    # Greedy, fp32, 48 steps from a prompt shorter than the window to far past it, no stop
    # tokens; each step recomputes the whole sequence, so the reference needs no KV cache.
    seq = tensors["short.ids"][None]
    for _ in range(48):
        nxt = logits(model, seq)[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    tensors["greedy.prompt"] = tensors["short.ids"].clone()
    tensors["greedy.ids"] = seq[0, tensors["short.ids"].numel():]

    # HF's own cache (a sliding layer keeps its last window keys) token by token across the edge.
    ids = tensors["medium.ids"][None]
    prefix = WINDOW // 2
    with torch.no_grad():
        result = model(input_ids=ids[:, :prefix], use_cache=True)
        cache, steps = result.past_key_values, [result.logits[0, -1]]
        for t in range(prefix, ids.shape[1]):
            result = model(input_ids=ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            steps.append(result.logits[0, -1])
    tensors["step_logits"] = torch.stack(steps).float()  # positions prefix-1 .. 32

    ttt_references(model, out, g, tensors)

    # Soft-capped logits, and the 4B+'s linear RoPE scaling of the full layers. (Gemma3's
    # attention ignores attn_logit_softcapping in transformers; tttmem refuses a config that sets it.)
    capped = build(tiny_config(final_logit_softcapping=4.0,
                               rope_scaling={"rope_type": "linear", "factor": 8.0}))
    capped.save_pretrained(out / "model_capped", safe_serialization=True)
    for name in ("medium", "long"):
        tensors[f"capped.{name}.logits"] = logits(capped, tensors[f"{name}.ids"][None])[0]

    save_file({k: v.contiguous().clone() for k, v in tensors.items()}, str(out / "reference.safetensors"))
    (out / "reference.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out}: hf bf16 rel err {meta['hf_bf16_rel_err']}")


if __name__ == "__main__":
    main()
