#!/usr/bin/env python3
"""Runs benchmark/bench_ttt and writes benchmark/results/ttt_cpu.json: the TTT MLP's prefill time
as a ratio to the plain MLP measured in the same run, with the machine, CPU and commit.

usage: scripts/bench_ttt.py --bench BUILD/benchmark/bench_ttt [--out benchmark/results/ttt_cpu.json]
"""

import argparse
import json
import os
import subprocess
import tempfile

from bench_common import machine_description, write_result


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True, help="path to the bench_ttt executable")
    parser.add_argument("--out", default=os.path.join(repo, "benchmark", "results", "ttt_cpu.json"))
    parser.add_argument("--repetitions", type=int, default=6)
    args = parser.parse_args()

    with tempfile.NamedTemporaryFile(suffix=".json") as raw:
        subprocess.run([args.bench, f"--benchmark_out={raw.name}", "--benchmark_out_format=json",
                        f"--benchmark_repetitions={args.repetitions}",
                        "--benchmark_report_aggregates_only=true",
                        # interleave so load drift on a shared machine hits every case alike
                        "--benchmark_enable_random_interleaving=true"], check=True)
        report = json.load(open(raw.name))

    # run_name: BM_<Level>Prefill/<arg>:<value>/...; chunk 0 is the plain path of that level.
    medians = {}
    for run in report["benchmarks"]:
        if run.get("aggregate_name") != "median":
            continue
        family, *params = run["run_name"].split("/")
        shape = dict(p.split(":") for p in params if not p.startswith("min_time:"))
        chunk = int(shape.pop("chunk"))
        medians.setdefault(family, {"shape": shape, "unit": run["time_unit"]})[chunk] = \
            run["real_time"]
    levels = {"BM_MlpPrefill": "one MLP layer: TTT MLP vs plain MLP",
              "BM_ModelPrefill": "6-layer Qwen3 with TTT on layer 0 vs without, whole prefill"}
    rows = []
    for family, found in medians.items():
        plain = found[0]
        for chunk in sorted(c for c in found if isinstance(c, int) and c > 0):
            rows.append({"level": levels[family], "shape": {k: int(v) for k, v in found["shape"].items()},
                         "chunk": chunk, "ttt": found[chunk], "plain": plain,
                         "time_unit": found["unit"], "ttt_over_plain": found[chunk] / plain})
    result = {
        "benchmark": "TTT prefill vs the plain path, same run, median of repetitions "
                     "(model level: D 1024, F 3072, 16/8 heads, vocab 8192, last-token logits)",
        "command": "scripts/bench_ttt.py --bench BUILD/benchmark/bench_ttt",
        "dtype": "fp32", "device": "cpu",
        **machine_description(),
        "threads": report["context"].get("num_cpus"),
        "load_average_1m_at_end": os.getloadavg()[0],
        "results": rows,
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
