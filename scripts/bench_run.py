#!/usr/bin/env python3
"""Probes/s of `tttmem run --condition all` (seed protocol) at several batch sizes against the
original experiment's pipeline in PyTorch eager (scripts/eager_pipeline.py: transformers' Qwen3
with a torch In-Place TTT MLP, probes one at a time through transformers' greedy `generate`),
all in the same run, on a small random Qwen3 with live TTT parameters (seed layers scaled to the
config, chunk 64, lr 3; non-zero conv so the graft does real work).

Per batch size: probes_per_s (engine seconds from run.json, model load excluded),
speedup_vs_first (against the first batch size), speedup_vs_eager (against the eager pipeline's
probes/s, model load excluded too) and eager_same_output_ids (probes whose generated ids equal the
eager pipeline's; the differing ones are listed under eager.differences with the first differing
step and the eager run's top-1 minus top-2 logit there: a near-tie in fp32 may go either way).
Writes benchmark/results/run_<device>.json.

CPU (fp32):  .venv/bin/python scripts/bench_run.py --build-dir build
GPU (bf16):  .venv/bin/python scripts/bench_run.py --device cuda --config qwen3-8b \
                 --samples-per-level 100 --batch-sizes 64 --eager-samples-per-level 1
             (--samples-per-level 100 is benchmark_v1, 8,947 probes over A/B/C/D)
             (bf16 ids are not expected to match everywhere; --no-eager skips the eager pass)

Model, TTT checkpoint and benchmark are made in --work-dir (kept for reuse).
"""
import argparse
import json
import subprocess
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from bench_common import ROOT, machine_description, write_result

CONDITIONS = ("a", "b", "c", "d")


def ensure_inputs(exe, work, config, samples_per_level, ttt_layers):
    model = work / f"{config}-model"
    if not (model / "config.json").exists():
        subprocess.run([str(exe), "init-model", "--config", str(ROOT / "configs/models" / f"{config}.json"),
                        "--seed", "0", "--out", str(model)], check=True)
    hidden = json.loads((model / "config.json").read_text())["hidden_size"]
    ttt = work / f"{config}-ttt.safetensors"
    if not ttt.exists():
        g = torch.Generator().manual_seed(0)
        tensors = {}
        for layer in ttt_layers:
            p = f"model.layers.{layer}.mlp."
            tensors[p + "ttt_proj.weight"] = torch.randn(hidden, hidden, generator=g) * 0.02
            tensors[p + "ttt_conv.weight"] = torch.randn(hidden, 1, 5, generator=g) * 0.5
        save_file(tensors, str(ttt))
    bench = work / f"bench-{samples_per_level}.json"
    if not bench.exists():
        subprocess.run([str(exe), "build-benchmark", "--seed", "42", "--samples-per-level",
                        str(samples_per_level), "--out", str(bench)], check=True)
    return model, ttt, bench


def benchmark_inputs(exe, work, config, samples_per_level):
    """The TTT layers (every 6th, or 2 on a small model), model, TTT checkpoint and benchmark."""
    layers = json.loads((ROOT / "configs/models" / f"{config}.json").read_text())["num_hidden_layers"]
    ttt_layers = list(range(0, layers, 6)) if layers > 6 else [0, layers // 2]
    return (ttt_layers, *ensure_inputs(exe, work, config, samples_per_level, ttt_layers))


def run_command(exe, args, ttt_layers, model, ttt, bench, batch, out):
    """`tttmem run --condition all` as the run benchmarks measure it (live TTT, chunk 64)."""
    return [str(exe), "run", "--device", args.device, "--dtype", args.dtype,
            "--model", str(model), "--benchmark", str(bench), "--tokenizer", args.tokenizer,
            "--ttt", str(ttt), "--ttt-layers", ",".join(map(str, ttt_layers)),
            "--ttt-chunk", "64", "--ttt-lr", "3", "--condition", "all",
            "--batch-size", str(batch), "--out", str(out), "--log-level", "warn"]


def tttmem_outputs(out):
    """{(condition, sample_id, probe_id): output_ids} of one `tttmem run` folder."""
    outputs = {}
    for name in CONDITIONS:
        for r in map(json.loads, (out / f"condition_{name}.jsonl").read_text().splitlines()):
            outputs[name, r["sample_id"], r["probe_id"]] = r["output_ids"]
    return outputs


def run_eager(args, model, ttt, bench, ttt_layers):
    """The eager pipeline over the same model, checkpoint and benchmark; timed like run.json."""
    import eager_pipeline  # transformers is only needed here

    res = eager_pipeline.run_all(model, ttt, ttt_layers, 64, 3.0, bench, args.tokenizer,
                                 args.device, args.dtype, args.eager_samples_per_level)
    conds = res["conditions"]
    probes = sum(c["probes"] for c in conds.values())
    summary = {
        "pipeline": "scripts/eager_pipeline.py: transformers Qwen3ForCausalLM (sdpa) + torch "
                    "In-Place TTT MLP, one probe at a time, transformers greedy generate",
        "dtype": res["dtype"],
        "samples_per_level": args.eager_samples_per_level or args.samples_per_level,
        "torch_threads": res["torch_threads"],
        "probes": probes,
        "generated_tokens": sum(c["generated_tokens"] for c in conds.values()),
        "engine_seconds": round(res["seconds"], 3),
        "probes_per_s": round(probes / res["seconds"], 3),
        "per_condition_probes_per_s": {name: round(c["probes"] / c["seconds"], 3)
                                       for name, c in conds.items()},
    }
    outputs = {(name, r["sample_id"], r["probe_id"]): r["output_ids"]
               for name, c in conds.items() for r in c["records"]}
    return summary, outputs, res


def differences(eager_outputs, runs, res):
    """Probes where some batch size's ids differ from the eager pipeline's: the first differing
    step and the eager run's top-2 logit margin there (re-answered untimed, with logits)."""
    import eager_pipeline

    by_id = {s["sample_id"]: s for s in res["samples"]}
    found = []
    for key, eager_ids in eager_outputs.items():
        sizes = [r["batch_size"] for r in runs if r["outputs"][key] != eager_ids]
        if not sizes:
            continue
        ids = runs[[r["batch_size"] for r in runs].index(sizes[0])]["outputs"][key]
        step = next((k for k, (a, b) in enumerate(zip(eager_ids, ids)) if a != b),
                    min(len(eager_ids), len(ids)))
        condition, sample_id, probe_id = key
        sample = by_id[sample_id]
        probe = next(p for p in sample["probes"] if p["probe_id"] == probe_id)
        new, logits = eager_pipeline.probe_logits(res["engine"], res["tokenizer"], sample, probe,
                                                  condition)
        entry = {"condition": condition, "sample_id": sample_id, "probe_id": probe_id,
                 "batch_sizes": sizes, "first_differing_step": step,
                 "eager_rerun_same_ids": new == eager_ids}
        if step < len(logits):
            top = torch.topk(logits[step], 2)
            entry["eager_top2_margin"] = float(top.values[0] - top.values[1])
            entry["eager_top2_ids"] = top.indices.tolist()
            entry["tttmem_id"] = ids[step] if step < len(ids) else None
        found.append(entry)
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--work-dir", default=str(ROOT / "build" / "bench_run"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--config", default="tiny-qwen3")
    ap.add_argument("--samples-per-level", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,16,32,64",
                    help="tttmem batch sizes; 32/64 were the fastest on CPU "
                         "(benchmark/results/run_batch_sizes_cpu.json)")
    ap.add_argument("--eager", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the PyTorch eager pipeline (scripts/eager_pipeline.py) as the "
                         "reference, after the tttmem passes")
    ap.add_argument("--eager-samples-per-level", type=int, default=None,
                    help="the eager pipeline answers only the first N samples of each level (its "
                         "probes/s is compared; a full benchmark_v1 run takes it hours on a GPU)")
    ap.add_argument("--tokenizer", default=str(ROOT / "configs/tokenizers/qwen3"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    exe = Path(args.build_dir) / "tttmem"
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ttt_layers, model, ttt, bench = benchmark_inputs(exe, work, args.config, args.samples_per_level)
    runs = []
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        out = work / f"out-{args.config}-{batch}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        cmd = run_command(exe, args, ttt_layers, model, ttt, bench, batch, out)
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - start
        run = json.loads((out / "run.json").read_text())
        probes = sum(c["probes"] for c in run["conditions"])
        engine = sum(c["seconds"] for c in run["conditions"])
        runs.append({
            "batch_size": batch,
            "probes": probes,
            "generated_tokens": sum(c["generated_tokens"] for c in run["conditions"]),
            "engine_seconds": round(engine, 3),
            "process_seconds": round(wall, 3),
            "probes_per_s": round(probes / engine, 3),
            "per_condition_probes_per_s": {c["condition"]: round(c["probes_per_second"], 3)
                                           for c in run["conditions"]},
            # The rows' computed worst case beside the weights, and on a GPU the allocator's
            # measured peak (weights included), for checking that arithmetic.
            "batch_rows_worst_case_bytes": run["batch_rows_worst_case_bytes"],
            "device_peak_allocated_bytes": run["device_peak_allocated_bytes"],
        })
        runs[-1]["outputs"] = tttmem_outputs(out)
    first = runs[0]
    for r in runs:  # the first batch size is the reference (1 by default)
        r["speedup_vs_first"] = round(r["probes_per_s"] / first["probes_per_s"], 2)
        r["same_output_ids_as_first"] = r["outputs"] == first["outputs"]
    eager = None
    if args.eager:
        # After the tttmem passes, so its model does not hold device memory while they run.
        eager, eager_outputs, res = run_eager(args, model, ttt, bench, ttt_layers)
        missing = set(eager_outputs) - set(first["outputs"])
        assert not missing, f"eager and tttmem answered different probes: {sorted(missing)[:5]}"
        for r in runs:
            r["speedup_vs_eager"] = round(r["probes_per_s"] / eager["probes_per_s"], 2)
            r["eager_same_output_ids"] = {
                "equal": sum(r["outputs"][k] == v for k, v in eager_outputs.items()),
                "probes": len(eager_outputs)}
        eager["differences"] = differences(eager_outputs, runs, res)
        best = max(runs, key=lambda r: r["probes_per_s"])
        eager["best_tttmem"] = {"batch_size": best["batch_size"],
                                "probes_per_s": best["probes_per_s"],
                                "speedup_vs_eager": best["speedup_vs_eager"]}
    for r in runs:
        del r["outputs"]
    result = {
        "benchmark": f"tttmem run --condition all (seed protocol) on {args.config}, "
                     f"{args.samples_per_level} samples per level, live TTT on layers {ttt_layers}; "
                     "probes/s from run.json (engine time, model load excluded)"
                     + ("; reference: the PyTorch eager pipeline (scripts/eager_pipeline.py) on "
                        "the same inputs in the same run, model load excluded" if args.eager else ""),
        "command": "scripts/bench_run.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k in ("device", "dtype", "config", "samples_per_level", "batch_sizes",
                     "eager_samples_per_level") and v is not None)
            + ("" if args.eager else " --no-eager"),
        **machine_description(),
        "torch_threads": torch.get_num_threads(),
        "results": runs,
    }
    if eager is not None:
        result["eager"] = eager
    out = args.out or ROOT / "benchmark" / "results" / f"run_{args.device.split(':')[0]}.json"
    write_result(out, result)


if __name__ == "__main__":
    main()
