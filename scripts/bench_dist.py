#!/usr/bin/env python3
"""Scaling of `tttmem run --condition all` with ranks: the same benchmark answered by one process
(no launcher) and by torchrun with N processes, with the same total threads (--threads split
evenly: OMP_NUM_THREADS = threads / N), all in the same run. The reference is the one-process run.

Per world size: process_seconds (launch to the last rank's exit: model loads, the run and the
merge), engine_seconds (run.json: per condition the slowest rank's time, summed), probes_per_s
on each, speedup_vs_one_process of both, and same_records_as_one_process (every probe's output ids
equal the one-process run's).

CPU:  .venv/bin/python scripts/bench_dist.py --build-dir build            (1 and 2 processes)
GPU:  .venv/bin/python scripts/bench_dist.py --device cuda --processes 1,2,4 --config qwen3-8b \
          --samples-per-level 100 --threads 8        (one rank per GPU: needs as many GPUs)
Writes benchmark/results/dist_<device>.json.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench_common import ROOT, machine_description, write_result
from bench_run import benchmark_inputs, run_command, tttmem_outputs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--work-dir", default=str(ROOT / "build/bench-dist"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--config", default="tiny-qwen3")
    ap.add_argument("--samples-per-level", type=int, default=4)
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="torch threads over all processes (each gets threads / processes)")
    ap.add_argument("--batch-size", default="16")
    ap.add_argument("--tokenizer", default=str(ROOT / "configs/tokenizers/qwen3"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    exe = Path(args.build_dir).resolve() / "tttmem"
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ttt_layers, model, ttt, bench = benchmark_inputs(exe, work, args.config, args.samples_per_level)
    torchrun = Path(sys.executable).with_name("torchrun")
    runs = []
    for n in [int(p) for p in args.processes.split(",")]:
        if args.threads % n:
            sys.exit(f"--threads {args.threads} does not split evenly over {n} processes")
        out = work / f"out-{args.config}-{n}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        cmd = run_command(exe, args, ttt_layers, model, ttt, bench, args.batch_size, out)
        if n > 1:
            cmd = [str(torchrun), "--nproc-per-node", str(n), "--master-port", str(free_port()),
                   "--no-python", *cmd]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads // n))
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        wall = time.perf_counter() - start
        run = json.loads((out / "run.json").read_text())
        probes = sum(c["probes"] for c in run["conditions"])
        engine = sum(c["seconds"] for c in run["conditions"])
        runs.append({"processes": n, "threads_per_process": args.threads // n, "probes": probes,
                     "engine_seconds": round(engine, 3), "process_seconds": round(wall, 3),
                     "probes_per_s_engine": round(probes / engine, 3),
                     "probes_per_s_process": round(probes / wall, 3),
                     "outputs": tttmem_outputs(out)})
    first = runs[0]
    for r in runs:
        r["speedup_vs_one_process"] = {
            "engine": round(first["engine_seconds"] / r["engine_seconds"], 2),
            "process": round(first["process_seconds"] / r["process_seconds"], 2)}
        r["same_records_as_one_process"] = r["outputs"] == first["outputs"]
    for r in runs:
        del r["outputs"]
    result = {
        "benchmark": f"tttmem run --condition all (seed protocol) on {args.config}, "
                     f"{args.samples_per_level} samples per level, live TTT on layers {ttt_layers}, "
                     f"batch size {args.batch_size}: one process against torchrun with N "
                     f"processes, {args.threads} torch threads in all, in the same run",
        "command": "scripts/bench_dist.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k in ("device", "dtype", "config", "samples_per_level", "processes", "threads",
                     "batch_size")),
        **machine_description(),
        "results": runs,
    }
    write_result(args.out or ROOT / "benchmark/results" / f"dist_{args.device}.json", result)


if __name__ == "__main__":
    main()
