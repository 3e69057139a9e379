#!/usr/bin/env python3
"""Probes/s of `tttmem run --condition all` (seed protocol) batched against --batch-size 1 in the
same run, on a small random Qwen3 with live TTT parameters (seed layers scaled to the config,
chunk 64, lr 3; non-zero conv so the graft does real work). Writes benchmark/results/run_<device>.json.

CPU (fp32):  .venv/bin/python scripts/bench_run.py --build-dir build
GPU (bf16):  .venv/bin/python scripts/bench_run.py --device cuda --config qwen3-8b --batch-sizes 1,64

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


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--work-dir", default=str(ROOT / "build" / "bench_run"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--config", default="tiny-qwen3")
    ap.add_argument("--samples-per-level", type=int, default=2)
    ap.add_argument("--batch-sizes", default="1,16")
    ap.add_argument("--tokenizer", default=str(ROOT / "configs/tokenizers/qwen3"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    exe = Path(args.build_dir) / "tttmem"
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    layers = json.loads((ROOT / "configs/models" / f"{args.config}.json").read_text())["num_hidden_layers"]
    ttt_layers = list(range(0, layers, 6)) if layers > 6 else [0, layers // 2]
    model, ttt, bench = ensure_inputs(exe, work, args.config, args.samples_per_level, ttt_layers)
    runs = []
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        out = work / f"out-{args.config}-{batch}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        cmd = [str(exe), "run", "--device", args.device, "--dtype", args.dtype,
               "--model", str(model), "--benchmark", str(bench), "--tokenizer", args.tokenizer,
               "--ttt", str(ttt), "--ttt-layers", ",".join(map(str, ttt_layers)),
               "--ttt-chunk", "64", "--ttt-lr", "3", "--condition", "all",
               "--batch-size", str(batch), "--out", str(out), "--log-level", "warn"]
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
        })
        outputs = {}
        for name in ("a", "b", "c", "d"):
            outputs[name] = sorted((r["sample_id"], r["probe_id"], r["output_ids"]) for r in
                                   map(json.loads, (out / f"condition_{name}.jsonl").read_text().splitlines()))
        runs[-1]["outputs"] = outputs
    first = runs[0]
    for r in runs:  # the first batch size is the reference (1 by default)
        r["speedup_vs_first"] = round(r["probes_per_s"] / first["probes_per_s"], 2)
        r["same_output_ids_as_first"] = r["outputs"] == first["outputs"]
    for r in runs:
        del r["outputs"]
    result = {
        "benchmark": f"tttmem run --condition all (seed protocol) on {args.config}, "
                     f"{args.samples_per_level} samples per level, live TTT on layers {ttt_layers}; "
                     "probes/s from run.json (engine time, model load excluded)",
        "command": "scripts/bench_run.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k in ("device", "dtype", "config", "samples_per_level", "batch_sizes")),
        **machine_description(),
        "torch_threads": torch.get_num_threads(),
        "results": runs,
    }
    out = args.out or ROOT / "benchmark" / "results" / f"run_{args.device.split(':')[0]}.json"
    write_result(out, result)


if __name__ == "__main__":
    main()
