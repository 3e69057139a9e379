"""Reference outputs of a tiny random Qwen3 from Hugging Face transformers, for the model suite.

Builds Qwen3ForCausalLM from a config (no download, seeded), saves it with save_pretrained
(single file, sharded, and a tied-embedding variant) and writes, into OUT/qwen3_reference/:
  reference.safetensors  ids and fp32 logits for single sequences (one longer than 1k tokens),
                         a right- and a left-padded batch, bf16 logits, 64 greedy ids; the same
                         weights with sliding-window attention (window.*): prefill on every layer
                         and on the layers from max_window_layers on, and cached decoding across
                         the window's edge
  reference.json         transformers' own bf16-vs-fp32 error per sequence, and what was run
The attention implementation is "eager" throughout (HF's plain matmul/softmax path).
"""
import argparse
import copy
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import Qwen3Config, Qwen3ForCausalLM

SEED = 20261122
VOCAB = 512


WINDOW = 8  # sliding_window of the window.* references


def tiny_config(tied: bool, **window) -> Qwen3Config:
    return Qwen3Config(
        vocab_size=VOCAB, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=2048,
        rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=tied,
        attention_bias=False, bos_token_id=VOCAB - 2, eos_token_id=VOCAB - 1,
        torch_dtype="float32", attn_implementation="eager", **window)


def windowed(model, max_window_layers: int) -> Qwen3ForCausalLM:
    """The same weights with HF's sliding window on the layers from max_window_layers on."""
    config = tiny_config(False, use_sliding_window=True, sliding_window=WINDOW,
                         max_window_layers=max_window_layers)
    out = Qwen3ForCausalLM(config).eval()
    out.load_state_dict(model.state_dict())
    return out


def window_references(model, out: Path, g, tensors):
    """Sliding window: prefill longer than the window, then HF's own cache (which keeps the last
    window - 1 keys of a sliding layer) stepping token by token and in a chunk across the edge."""
    every = windowed(model, max_window_layers=0)
    mixed = windowed(model, max_window_layers=1)
    assert every.config.layer_types == ["sliding_attention"] * 3
    assert mixed.config.layer_types == ["full_attention"] + ["sliding_attention"] * 2
    every.save_pretrained(out / "model_window", safe_serialization=True)
    mixed.save_pretrained(out / "model_window_mixed", safe_serialization=True)
    ids = torch.randint(0, VOCAB, (1, 5 * WINDOW), generator=g)
    tensors["window.ids"] = ids[0]
    tensors["window.logits"] = logits(every, ids)[0]
    tensors["window.mixed_logits"] = logits(mixed, ids)[0]
    prefix = WINDOW // 2
    with torch.no_grad():
        # Token by token from a prefix shorter than the window to twice past its edge.
        result = every(input_ids=ids[:, :prefix], use_cache=True)
        cache, steps = result.past_key_values, [result.logits[0, -1]]
        for t in range(prefix, 3 * WINDOW):
            result = every(input_ids=ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            steps.append(result.logits[0, -1])
        tensors["window.step_logits"] = torch.stack(steps).float()  # positions prefix-1 .. 3W-1
        # A chunk of 2W tokens after the prefix: cached keys and new ones in one mask.
        result = every(input_ids=ids[:, :prefix], use_cache=True)
        chunk = every(input_ids=ids[:, prefix:prefix + 2 * WINDOW],
                      past_key_values=result.past_key_values, use_cache=True)
        tensors["window.chunk_logits"] = chunk.logits[0].float()
    # Right padding keeps HF's slot indices equal to the positions, so its window is ours.
    rows = [torch.randint(0, VOCAB, (n,), generator=g) for n in (3 * WINDOW, 2 * WINDOW, 5)]
    ids = torch.zeros((len(rows), 3 * WINDOW), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = row
        mask[r, :len(row)] = 1
    tensors["window.padded_ids"] = ids
    tensors["window.padded_mask"] = mask
    tensors["window.padded_logits"] = logits(every, ids, mask)


def build(tied: bool) -> Qwen3ForCausalLM:
    model = Qwen3ForCausalLM(tiny_config(tied)).eval()
    # Wider weights than HF's 0.02 so the logits are not flat, and norms away from 1 so a
    # misplaced norm weight shows.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    return model


def logits(model, ids, mask=None):
    with torch.no_grad():
        kwargs = {}
        if mask is not None:
            # Positions count real tokens, as HF generate does for padded batches.
            kwargs["attention_mask"] = mask
            kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        return model(input_ids=ids, use_cache=False, **kwargs).logits.float()


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def sequence_references(model, model_bf16, lengths, g, tensors, meta):
    """Random sequences (name, length), drawn from `g` in order: their ids, the model's fp32 and
    bf16 logits and transformers' own bf16 error (meta), then every hidden state of `medium`
    (the embeddings as the model feeds them, each layer, the last after the final norm)."""
    for name, length in lengths:
        ids = torch.randint(0, model.config.vocab_size, (1, length), generator=g)
        ref = logits(model, ids)
        tensors[f"{name}.ids"] = ids[0]
        tensors[f"{name}.logits"] = ref[0]
        bf16 = logits(model_bf16, ids)
        tensors[f"{name}.logits_bf16"] = bf16[0]
        meta["hf_bf16_rel_err"][name] = rel_err(bf16, ref)
        meta["sequences"].append(name)
    with torch.no_grad():
        hidden = model(input_ids=tensors["medium.ids"][None], output_hidden_states=True).hidden_states
    for i, h in enumerate(hidden):
        tensors[f"medium.hidden.{i}"] = h[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="fixture directory")
    parser.add_argument("--tttmem", help="tttmem binary (unused: the reference needs only HF)")
    args = parser.parse_args()
    out = Path(args.out) / "qwen3_reference"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    torch.manual_seed(SEED)

    model = build(tied=False)
    model.save_pretrained(out / "model", safe_serialization=True)
    model.save_pretrained(out / "model_sharded", safe_serialization=True, max_shard_size="400KB")
    tied = build(tied=True)
    tied.save_pretrained(out / "model_tied", safe_serialization=True)
    model_bf16 = copy.deepcopy(model).to(torch.bfloat16)

    g = torch.Generator().manual_seed(SEED + 1)
    tensors = {}
    meta = {"attn_implementation": "eager", "transformers": __import__("transformers").__version__,
            "torch": torch.__version__, "hf_bf16_rel_err": {}, "sequences": []}
    sequence_references(model, model_bf16, (("short", 7), ("medium", 33), ("long", 1100)), g,
                        tensors, meta)
    tensors["tied.logits"] = logits(tied, tensors["medium.ids"][None])[0]

    # Padded batches: rows of 20, 13 and 7 real tokens, pad id 0.
    lengths = (20, 13, 7)
    rows = [torch.randint(0, VOCAB, (n,), generator=g) for n in lengths]
    for side in ("right", "left"):
        ids = torch.zeros((len(rows), max(lengths)), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, row in enumerate(rows):
            span = slice(0, len(row)) if side == "right" else slice(ids.shape[1] - len(row), None)
            ids[r, span] = row
            mask[r, span] = 1
        tensors[f"{side}_padded.ids"] = ids
        tensors[f"{side}_padded.mask"] = mask
        tensors[f"{side}_padded.logits"] = logits(model, ids, mask)

    # Greedy, fp32, 64 steps, no stop tokens: each step recomputes the whole sequence, so the
    # reference does not depend on a KV cache.
    seq = tensors["short.ids"][None]
    for _ in range(64):
        nxt = logits(model, seq)[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    tensors["greedy.prompt"] = tensors["short.ids"].clone()
    tensors["greedy.ids"] = seq[0, tensors["short.ids"].numel():]

    window_references(model, out, g, tensors)
    meta["window"] = WINDOW

    save_file({k: v.contiguous().clone() for k, v in tensors.items()}, str(out / "reference.safetensors"))
    (out / "reference.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out}: hf bf16 rel err {meta['hf_bf16_rel_err']}")


if __name__ == "__main__":
    main()
