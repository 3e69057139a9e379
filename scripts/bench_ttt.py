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

    medians = {}
    for run in report["benchmarks"]:
        if run.get("aggregate_name") != "median":
            continue
        args_part = dict(p.split(":") for p in run["run_name"].split("/")[1:])
        medians[int(args_part["chunk"])] = (run["real_time"], run["time_unit"], args_part)
    plain_ms, unit, shape = medians[0]
    rows = []
    for chunk, (ms, _, _) in sorted(medians.items()):
        if chunk == 0:
            continue
        rows.append({"chunk": chunk, "ttt_ms": ms, "plain_ms": plain_ms,
                     "ttt_over_plain": ms / plain_ms})
    result = {
        "benchmark": "TTT MLP prefill vs plain MLP (same run, median of repetitions)",
        "command": "scripts/bench_ttt.py --bench BUILD/benchmark/bench_ttt",
        "shape": {"D": int(shape["D"]), "F": int(shape["F"]), "L": int(shape["L"])},
        "dtype": "fp32", "device": "cpu", "time_unit": unit,
        **machine_description(),
        "threads": report["context"].get("num_cpus"),
        "load_average_1m_at_end": os.getloadavg()[0],
        "results": rows,
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
