#!/usr/bin/env python3
"""Runs benchmark/bench_ttt and writes benchmark/results/ttt_cpu.json: the TTT MLP's prefill time
as a ratio to the plain MLP measured in the same run, with the machine, CPU and commit.

usage: scripts/bench_ttt.py --bench BUILD/benchmark/bench_ttt [--out benchmark/results/ttt_cpu.json]
"""

import argparse
import json
import os
import platform
import subprocess
import tempfile


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def commit(repo):
    try:
        rev = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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
        "machine": platform.node(), "cpu": cpu_model(), "cores": os.cpu_count(),
        "threads": report["context"].get("num_cpus"), "commit": commit(repo),
        "load_average_1m_at_end": os.getloadavg()[0],
        "results": rows,
    }
    text = json.dumps(result, indent=2) + "\n"
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.out)  # atomic: never a half-written result
    print(text)


if __name__ == "__main__":
    main()
