#!/usr/bin/env python3
"""The original experiment's pipeline in PyTorch eager: the reference `tttmem run --condition all
--protocol seed` is measured against (scripts/bench_run.py runs both in the same run).

transformers' Qwen3ForCausalLM (sdpa) with each TTT layer's MLP replaced by `TTTMLP`, an In-Place
TTT MLP written in torch from SPEC.md T3/T4 (streaming chunks of C rows, tails kept between calls,
a partial chunk never written), answering the probes one at a time (batch 1) with transformers'
greedy `generate`, as the seed experiment did (SPEC.md S2.3-S2.8, S3.1-S3.2):

- A: conversation in the prompt, TTT parameters zeroed (the chunk path still runs, dW = 0);
- C: no conversation, zeroed;
- B: per sample, one forward of the conversation with the trained parameters; every probe starts
  from those fast weights with no KV and no tails, and they keep updating while it answers;
- D (level 3 only): as B on conversation + "\\n\\n" + distractor.

Prompts, tokenisation (tiktoken on the Qwen ranks after NFC), sample selection and the stop ids
come from tests/python/make_run_reference.py (the exactness oracle, a float64 numpy loop); the TTT
math here is torch on the chosen device and dtype, so the same code runs on CUDA in bf16.

  .venv/bin/python scripts/eager_pipeline.py --model M --benchmark B.json --ttt T.safetensors \\
      --ttt-layers 0,2 --ttt-chunk 64 --ttt-lr 3 --out DIR   # DIR/condition_<x>.jsonl, run.json
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import DynamicCache, Qwen3ForCausalLM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
from make_run_reference import MAX_NEW, STOP, Tokenizer, prompt, select  # noqa: E402

CONDITIONS = ("a", "b", "c", "d")


class TTTMLP(torch.nn.Module):
    """SPEC.md T3/T4 for one layer, batch row 0 (batch 1), target = the MLP input X.

    Z = silu(X Wg^T) * (X Wu^T); output rows use the current fast weight W (init down_proj):
    O = Z W^T. Rows stream in chunks of C at fixed stream positions: at each full chunk the
    chunk's outputs use W from before its update, then V = conv5(T_chunk) Wp (Wp = ttt_proj.weight
    as stored; depthwise cross-correlation, zero rows at the chunk's edges) and W += lr V^T Z_chunk.
    The rows since the last boundary are the tail; a partial chunk never updates W.
    """

    def __init__(self, mlp, proj, conv, chunk, lr):
        super().__init__()
        self.base = mlp                         # keeps gate/up/down in the module tree
        # plain tensors (not Parameters) so the fast weight W can be reassigned
        self.wg, self.wu, self.w0 = (mlp.gate_proj.weight.detach(), mlp.up_proj.weight.detach(),
                                     mlp.down_proj.weight.detach())
        self.trained = (proj, conv)            # ttt_proj.weight [D, D], ttt_conv.weight [D, 1, 5]
        self.proj, self.conv = proj, conv
        self.chunk, self.lr = chunk, lr
        self.reset()

    def set_trained(self, trained):
        """S2.3: the trained TTT parameters (B, D) or zeros (A, C)."""
        self.proj, self.conv = (self.trained if trained else
                                tuple(torch.zeros_like(t) for t in self.trained))

    def reset(self, w=None):
        """A fresh stream; with w, those fast weights and no tail (S2.4's KV-stripped clone)."""
        self.w = self.w0 if w is None else w
        self.tail = self.w0.new_zeros(0, self.w0.shape[0])
        self.updates = 0

    def z(self, x):
        return F.silu(F.linear(x, self.wg)) * F.linear(x, self.wu)

    def forward(self, x):
        assert x.shape[0] == 1, "one probe at a time"
        rows = x[0]
        n, d, c = rows.shape[0], rows.shape[1], self.chunk
        present = torch.cat([self.tail, rows]) if self.tail.shape[0] else rows
        lp = present.shape[0]
        if lp < c:                              # no boundary reached: Z(new) W^T, all in the tail
            self.tail = present
            return F.linear(self.z(rows), self.w)[None]
        full = lp // c
        z = self.z(present)                     # Z recomputed for the tail rows too (T4.2)
        zf = z[:full * c].view(full, c, -1)
        tf = present[:full * c].view(full, c, d)
        tc = F.conv1d(tf.transpose(1, 2), self.conv, padding=2, groups=d).transpose(1, 2)
        v = torch.matmul(tc, self.proj)         # V_k = Tc_k Wp, Wp as stored
        first = (lp - n) // c                   # the first chunk holding a row of this call
        w, outs = self.w, []
        for k in range(full):
            if k >= first:
                outs.append(F.linear(zf[k], w))  # before chunk k's own update
            w = w + self.lr * torch.matmul(v[k].transpose(0, 1), zf[k])
            self.updates += 1
        if lp > full * c:                       # the partial last chunk: outputs only
            outs.append(F.linear(z[full * c:], w))
        self.w = w
        self.tail = present[full * c:]
        return torch.cat(outs)[-n:][None]


class EagerEngine:
    """The model with TTTMLP grafted into its TTT layers; the seed's per-condition handling."""

    def __init__(self, model_dir, ttt_file, ttt_layers, chunk, lr, device="cpu", dtype="auto"):
        self.device = torch.device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.model = Qwen3ForCausalLM.from_pretrained(
            model_dir, dtype=self.dtype, attn_implementation="sdpa").to(self.device).eval()
        tensors = load_file(str(ttt_file))
        self.mlps = {}
        for layer in ttt_layers:
            p = f"model.layers.{layer}.mlp."
            get = lambda name: tensors[p + name].to(self.device, self.dtype)
            block = self.model.model.layers[layer]
            block.mlp = TTTMLP(block.mlp, get("ttt_proj.weight"), get("ttt_conv.weight"), chunk, lr)
            self.mlps[layer] = block.mlp

    def set_trained(self, trained):
        for mlp in self.mlps.values():
            mlp.set_trained(trained)

    def fresh(self, memory=None):
        for layer, mlp in self.mlps.items():
            mlp.reset(None if memory is None else memory[layer])

    def ingest(self, ids):
        """One forward of the text from a fresh state; -> the fast weights (tails dropped)."""
        self.fresh()
        self.model(input_ids=torch.tensor([ids], device=self.device),
                   past_key_values=DynamicCache(), use_cache=True, logits_to_keep=1)
        return {layer: mlp.w for layer, mlp in self.mlps.items()}

    def generate(self, ids, logits=False):
        """transformers' greedy generate, fresh KV; -> new ids (and per-step logits if asked)."""
        input_ids = torch.tensor([ids], device=self.device)
        out = self.model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
            past_key_values=DynamicCache(), max_new_tokens=MAX_NEW, do_sample=False,
            temperature=None, top_p=None, top_k=None, eos_token_id=list(STOP),
            pad_token_id=STOP[1], return_dict_in_generate=True, output_logits=logits)
        new = out.sequences[0, len(ids):].tolist()
        return (new, [step[0].float().cpu() for step in out.logits]) if logits else new


def resolve_dtype(name, device):
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16, "fp16": torch.float16}[name]


def ingest_text(sample, condition):
    text = sample["conversation"]
    if condition == "d":
        text += "\n\n" + sample["distractor"]
    return text


def run_condition(engine, tok, samples, condition):
    """S3.2, one condition, probes one by one in benchmark order -> records."""
    engine.set_trained(condition in ("b", "d"))
    records = []
    for sample in samples:
        if condition == "d" and sample["level"] != 3:
            continue
        memory = None
        if condition in ("b", "d"):
            memory = engine.ingest(tok.encode(ingest_text(sample, condition)))
        for probe in sample["probes"]:
            engine.fresh(memory)
            ids = tok.encode(prompt(sample, probe, condition == "a"))
            new = engine.generate(ids)
            records.append({"sample_id": sample["sample_id"], "level": sample["level"],
                            "probe_id": probe["probe_id"], "prompt_tokens": len(ids),
                            "output_ids": new, "predicted": tok.decode(new).strip()})
    return records


def load_samples(benchmark_json, samples_per_level=None):
    samples = json.loads(Path(benchmark_json).read_text(encoding="utf-8"))["samples"]
    return list(select(samples, samples_per_level))


def run_all(model_dir, ttt_file, ttt_layers, chunk, lr, benchmark_json, tokenizer_dir,
            device="cpu", dtype="auto", samples_per_level=None, threads=None):
    """Conditions A, B, C, D (seed protocol), one probe at a time.

    -> {"conditions": {x: {"records": [...], "seconds": s, "probes": n, "generated_tokens": g}},
        "seconds": total engine seconds (model load and tokenizer load excluded), "dtype": ...}
    """
    if threads:
        torch.set_num_threads(threads)
    engine = EagerEngine(model_dir, ttt_file, ttt_layers, chunk, lr, device, dtype)
    tok = Tokenizer(Path(tokenizer_dir))
    samples = load_samples(benchmark_json, samples_per_level)
    result = {"conditions": {}, "dtype": str(engine.dtype).replace("torch.", ""),
              "device": str(engine.device), "torch_threads": torch.get_num_threads()}
    total = 0.0
    with torch.inference_mode():
        for condition in CONDITIONS:
            sync(engine.device)
            start = time.perf_counter()
            records = run_condition(engine, tok, samples, condition)
            sync(engine.device)
            seconds = time.perf_counter() - start
            total += seconds
            result["conditions"][condition] = {
                "records": records, "seconds": seconds, "probes": len(records),
                "generated_tokens": sum(len(r["output_ids"]) for r in records)}
    result["seconds"] = total
    result["engine"] = engine
    result["tokenizer"] = tok
    result["samples"] = samples
    return result


def probe_logits(engine, tok, sample, probe, condition):
    """Re-answer one probe (untimed) with the per-step logits, for diagnosing a differing id."""
    with torch.inference_mode():
        engine.set_trained(condition in ("b", "d"))
        memory = None
        if condition in ("b", "d"):
            memory = engine.ingest(tok.encode(ingest_text(sample, condition)))
        engine.fresh(memory)
        return engine.generate(tok.encode(prompt(sample, probe, condition == "a")), logits=True)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model folder (config.json + safetensors)")
    ap.add_argument("--benchmark", required=True, help="build-benchmark output")
    ap.add_argument("--ttt", required=True, help=".safetensors with ttt_proj/ttt_conv tensors")
    ap.add_argument("--ttt-layers", required=True, help="e.g. 0,2")
    ap.add_argument("--ttt-chunk", type=int, default=64)
    ap.add_argument("--ttt-lr", type=float, default=3.0)
    ap.add_argument("--tokenizer", default=str(ROOT / "configs/tokenizers/qwen3"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto", help="auto (bf16 on cuda, fp32 on cpu), fp32, bf16")
    ap.add_argument("--samples-per-level", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", required=True, help="folder: condition_<x>.jsonl, run.json")
    args = ap.parse_args()
    res = run_all(args.model, args.ttt, [int(x) for x in args.ttt_layers.split(",")],
                  args.ttt_chunk, args.ttt_lr, args.benchmark, args.tokenizer, args.device,
                  args.dtype, args.samples_per_level, args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"seconds": res["seconds"], "dtype": res["dtype"], "device": res["device"],
               "torch_threads": res["torch_threads"], "conditions": []}
    for name, cond in res["conditions"].items():
        (out / f"condition_{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in cond["records"]),
            encoding="utf-8")
        summary["conditions"].append({
            "condition": name, "probes": cond["probes"], "seconds": cond["seconds"],
            "generated_tokens": cond["generated_tokens"],
            "probes_per_second": cond["probes"] / cond["seconds"] if cond["seconds"] else 0.0})
    probes = sum(c["probes"] for c in res["conditions"].values())
    summary["probes_per_second"] = probes / res["seconds"]
    (out / "run.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
