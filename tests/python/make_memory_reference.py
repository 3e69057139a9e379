"""Independent reference of the memory objective for tests/train (SPEC.md `train`, Objectives).

The tiny random Qwen3 of make_ttt_reference.py (TTT on layers 0 and 2, chunk 8), in float64,
with the TTT MLP written out as the inference stream computes it, one sequence at a time, with
autograd: chunk by chunk, O_k = Z_k W^T, then W += lr (Tc_k Wp)^T Z_k for every full chunk (and
the zero-padded partial last chunk when the ingestion flushes). Each conversation is ingested
from W = W0 (its logits unused); each of its probes then runs in a fresh context (no KV cache)
from the W the conversation left, updating over its own chunks (protocol seed) or frozen
(protocol fixed). The loss is the cross-entropy of the answer tokens (labels != -100, shifted as
HF does), averaged over every answer token of the micro-batch. Then backward of loss / ACCUM,
clip_grad_norm_ and torch.optim.AdamW, as make_train_reference.py steps. Before use, the stream
MLP is checked against the numpy streaming oracle of make_ttt_reference.py (TTTLayerRef: tails,
drop/flush, frozen), which shares no code with it.

Writes FIXTURE_DIR/memory_reference/:
  model/                 the fp32 checkpoint (save_pretrained) with ttt_* config fields
  reference.safetensors  micro-batch m = 0..STEPS*ACCUM-1: batch_<m>_ingest_{ids,mask},
                         batch_<m>_probe_{ids,mask,labels}, batch_<m>_conversation (right padded
                         with PAD_ID); per protocol P in {seed, fixed}, trainable set S and step s:
                         P.S.loss.<s>.<micro>, P.S.norm.<s>, P.S.grad.<s>.<name> (accumulated,
                         pre-clip), P.S.param.<s>.<name> (after the step), float64.
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
import make_train_reference as train_ref  # noqa: E402

CHUNK, TTT_LR, TTT_LAYERS = ttt_ref.CHUNK, ttt_ref.LR, ttt_ref.TTT_LAYERS
STEPS, ACCUM = train_ref.STEPS, train_ref.ACCUM  # record_adamw_steps runs these
EOS, PAD_ID = 2, 0
# Per micro-batch: conversations as (ingested tokens, [(prompt tokens, answer tokens), ...]).
# Conversations end in partial chunks (21, 19, 11), on a boundary (16, 24) and inside the first
# chunk (7: nothing written unless flushed); probes cross zero, one or two chunk boundaries.
MICRO = [
    [(21, [(9, 3), (6, 2)]), (16, [(12, 4), (5, 2), (7, 3)])],
    [(7, [(10, 3), (4, 2)]), (24, [(8, 4)])],
    [(19, [(11, 2), (6, 4), (9, 5)]), (11, [(13, 3), (3, 2)])],
    [(16, [(5, 3), (14, 2)]), (21, [(7, 2), (9, 9)])],
]
PROTOCOLS = {"seed": {"flush": False, "frozen": False}, "fixed": {"flush": True, "frozen": True}}


class Stream:
    """Which fast weight each TTT layer starts from, whether it updates, and what it ends with."""

    def __init__(self):
        self.start, self.end = {}, {}
        self.update, self.flush = True, False


def stream_mlp(mlp, x, w, update, flush):
    """One sequence from a chunk boundary, fast weight w [D, F] (spec T3-T4, target = X).
    x: [1, L, D] -> (out [1, L, D], the W after the stream)."""
    z = F.silu(x @ mlp.gate_proj.weight.T) * (x @ mlp.up_proj.weight.T)
    length, d = x.shape[1], x.shape[2]
    outs = []
    for start in range(0, length, CHUNK):
        zk, tk = z[:, start:start + CHUNK], x[:, start:start + CHUNK]
        rows = zk.shape[1]
        outs.append(zk @ w.T)                                      # before this chunk's update
        if update and (rows == CHUNK or flush):
            zk, tk = F.pad(zk, (0, 0, 0, CHUNK - rows)), F.pad(tk, (0, 0, 0, CHUNK - rows))
            tc = train_ref.chunk_conv(tk.view(1, 1, CHUNK, d), mlp.ttt_conv.weight)[0, 0]
            v = tc @ mlp.ttt_proj.weight                           # V = Tc Wp, stored orientation
            w = w + TTT_LR * v.T @ zk[0]                           # a sum over the chunk
    return torch.cat(outs, 1), w


def graft(model, stream):
    train_ref.float64_norms(model)
    for layer in TTT_LAYERS:
        mlp = model.model.layers[layer].mlp

        def forward(x, mlp=mlp, layer=layer):
            start = stream.start.get(layer, mlp.down_proj.weight)
            out, stream.end[layer] = stream_mlp(mlp, x, start, stream.update, stream.flush)
            return out

        mlp.forward = forward


def answer_loss(logits, labels):
    """Sum of the shifted cross-entropy over labels != -100, and their count."""
    shifted = F.pad(labels, (0, 1), value=-100)[:, 1:]
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), shifted.reshape(-1),
                            ignore_index=-100, reduction="sum")
    return total, int((shifted != -100).sum())


def memory_loss(model, stream, micro, protocol):
    """Ingest each conversation, then answer its probes from the fast weights it left."""
    total, count = 0.0, 0
    for conversation, probes in micro:
        stream.start, stream.end = {}, {}
        stream.update, stream.flush = True, PROTOCOLS[protocol]["flush"]
        model(input_ids=conversation[None], use_cache=False)
        memory = dict(stream.end)
        for ids, labels in probes:
            stream.start, stream.end = memory, {}
            stream.update, stream.flush = not PROTOCOLS[protocol]["frozen"], False
            logits = model(input_ids=ids[None], use_cache=False).logits
            s, n = answer_loss(logits, labels[None])
            total, count = total + s, count + n
    return total / count


def make_micro_batches(vocab):
    rng = np.random.default_rng(23)
    tokens = lambda n: torch.from_numpy(rng.integers(3, vocab, size=n)).long()
    batches = []
    for spec in MICRO:
        micro = []
        for length, probes in spec:
            rows = []
            for prompt, answer in probes:
                ids = torch.cat([tokens(prompt), tokens(answer - 1), torch.tensor([EOS])])
                labels = ids.clone()
                labels[:prompt] = -100
                rows.append((ids, labels))
            micro.append((tokens(length), rows))
        batches.append(micro)
    return batches


def padded(rows, fill):
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), fill, dtype=torch.int64)
    mask = torch.zeros((len(rows), width), dtype=torch.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)], mask[i, :len(r)] = r, 1
    return out, mask


def store_batches(batches, tensors):
    """The C++ MemoryBatch layout: ingest rows, probe rows, the ingest row of each probe."""
    for m, micro in enumerate(batches):
        p = f"batch_{m}_"
        tensors[p + "ingest_ids"], tensors[p + "ingest_mask"] = padded([c for c, _ in micro], PAD_ID)
        probes = [row for _, rows in micro for row in rows]
        tensors[p + "probe_ids"], tensors[p + "probe_mask"] = padded([i for i, _ in probes], PAD_ID)
        tensors[p + "probe_labels"], _ = padded([l for _, l in probes], -100)
        tensors[p + "conversation"] = torch.tensor(
            [c for c, (_, rows) in enumerate(micro) for _ in rows], dtype=torch.int64)


def check_against_streaming_oracle(model, stream, batches):
    """The stream MLP equals make_ttt_reference's numpy streaming layer, driven the way `run`
    drives TTTState: ingest, then drop (or flush) the tail, then the probe (live or frozen)."""
    conversation, probes = batches[0][0]
    refs = {layer: ttt_ref.layer_ref(model, layer) for layer in TTT_LAYERS}
    oracle = ttt_ref.build_model().double()
    oracle.load_state_dict(model.state_dict())
    train_ref.float64_norms(oracle)
    ttt_ref.patch(oracle, refs)
    for protocol, options in PROTOCOLS.items():
        with torch.no_grad():
            for ref in refs.values():
                ref.reset()
            oracle(input_ids=conversation[None], use_cache=False)
            for ref in refs.values():
                if options["flush"]:
                    ref.flush()
                ref.tail_x, ref.tail_t = ref.tail_x[:0], ref.tail_t[:0]
                ref.frozen = options["frozen"]
            memory = {layer: ref.w.copy() for layer, ref in refs.items()}
            stream.start, stream.update, stream.flush = {}, True, options["flush"]
            model(input_ids=conversation[None], use_cache=False)
            delta = dict(stream.end)
            for layer, ref in refs.items():
                err = np.abs(delta[layer].numpy() - memory[layer]).max()
                assert err < 1e-12, f"{protocol}: ingested W of layer {layer} differs by {err}"
            ids, _ = probes[0]
            expected = oracle(input_ids=ids[None], use_cache=False).logits
            stream.start, stream.update, stream.flush = delta, not options["frozen"], False
            got = model(input_ids=ids[None], use_cache=False).logits
            err = (expected - got).abs().max().item()
            assert err < 1e-10, f"{protocol}: probe logits differ from the oracle by {err}"
            # The probe crosses a chunk boundary, so live and frozen answers must differ.
            assert ids.shape[0] > CHUNK


def run_protocol(initial, protocol, which, batches, tensors):
    model = ttt_ref.build_model().double()
    model.load_state_dict(initial)
    model.config._attn_implementation = "sdpa"
    stream = Stream()
    graft(model, stream)
    micro = iter(batches)
    train_ref.record_adamw_steps(model, which,
                                 lambda step, m: memory_loss(model, stream, next(micro), protocol),
                                 f"{protocol}.{which}", tensors)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--tttmem", required=False)  # unused: the C++ side reads our files
    args = parser.parse_args()
    out_dir = os.path.join(args.out, "memory_reference")
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)

    model = ttt_ref.build_model()  # fp32 values: what the C++ side loads
    model.save_pretrained(os.path.join(out_dir, "model"), safe_serialization=True)
    initial = {k: v.double() for k, v in model.state_dict().items()}
    batches = make_micro_batches(model.config.vocab_size)

    checked = ttt_ref.build_model().double()
    checked.load_state_dict(initial)
    checked.config._attn_implementation = "sdpa"
    stream = Stream()
    graft(checked, stream)
    check_against_streaming_oracle(checked, stream, batches)

    tensors = {}
    store_batches(batches, tensors)
    norms, losses = {}, {}
    for protocol in PROTOCOLS:
        for which in train_ref.SETS:
            run_protocol(initial, protocol, which, batches, tensors)
            norms[f"{protocol}.{which}"] = [tensors[f"{protocol}.{which}.norm.{s}"].item()
                                            for s in range(STEPS)]
        losses[protocol] = tensors[f"{protocol}.ttt.loss.0.0"].item()
    # The protocols must give different losses (the delta's partial chunk and the probe's own
    # updates matter), and clipping must act in some case and not in another.
    assert abs(losses["seed"] - losses["fixed"]) > 1e-6, f"protocols agree: {losses}"
    flat = [x for v in norms.values() for x in v]
    assert min(flat) < train_ref.CLIP < max(flat), f"grad norms {norms} do not straddle the clip"

    meta = {"steps": str(STEPS), "accum": str(ACCUM), "clip": str(train_ref.CLIP),
            "lr": str(train_ref.OPTIM["lr"]), "beta1": str(train_ref.OPTIM["betas"][0]),
            "beta2": str(train_ref.OPTIM["betas"][1]), "eps": str(train_ref.OPTIM["eps"]),
            "weight_decay": str(train_ref.OPTIM["weight_decay"]), "norms": json.dumps(norms),
            "losses": json.dumps(losses)}
    save_file({k: v.contiguous() for k, v in tensors.items()},
              os.path.join(out_dir, "reference.safetensors"), metadata=meta)
    print(f"wrote {out_dir}: first losses {losses}, grad norms {norms}")


if __name__ == "__main__":
    main()
