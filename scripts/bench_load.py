#!/usr/bin/env python3
"""Runs benchmark/bench_load and writes benchmark/results/load_cpu.json: checkpoint load
throughput from the page cache as ratios to plain read() of the same bytes in the same run, with
the machine, CPU and commit.

usage: scripts/bench_load.py --bench BUILD/benchmark/bench_load [--gib 3] [--out FILE]
"""

import argparse
import json
import os
import platform
import subprocess
import tempfile

from bench_common import machine_description, write_result

CASES = {"BM_ReadFiles": "read_files", "BM_PreadTensors": "pread_fresh_buffers",
         "BM_LoadTensorCpu": "load_tensor_cpu", "BM_TouchZeroCopy": "touch_zero_copy"}


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True, help="path to the bench_load executable")
    parser.add_argument("--gib", type=float, default=3.0, help="synthetic checkpoint size")
    parser.add_argument("--out", default=os.path.join(repo, "benchmark", "results", "load_cpu.json"))
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()

    env = dict(os.environ, TTTMEM_BENCH_LOAD_GIB=str(args.gib))
    load_before = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile(suffix=".json") as raw:
        subprocess.run([args.bench, f"--benchmark_out={raw.name}", "--benchmark_out_format=json",
                        f"--benchmark_repetitions={args.repetitions}",
                        "--benchmark_report_aggregates_only=true",
                        "--benchmark_enable_random_interleaving=true"], check=True, env=env)
        report = json.load(open(raw.name))

    gbps, size = {}, {}
    for run in report["benchmarks"]:
        if run.get("aggregate_name") != "median":
            continue
        gbps[CASES[run["run_name"].split("/")[0]]] = run["bytes_per_second"] / 1e9
        size = {"tensor_bytes": int(run["tensor_bytes"]), "tensors": int(run["tensors"]),
                "shards": 5, "dtype": "bf16"}
    result = {
        "benchmark": "checkpoint load from the page cache (median of repetitions, GB/s = 1e9 B/s)",
        "command": f"scripts/bench_load.py --bench BUILD/benchmark/bench_load --gib {args.gib:g}",
        "cases": {
            "read_files": "read(2) of every shard file into one reused, pre-faulted buffer",
            "pread_fresh_buffers": "pread(2) of every tensor into its own new at::empty buffer",
            "load_tensor_cpu": "Checkpoint::open + io::load_tensor of every tensor to the CPU",
            "touch_zero_copy": "Checkpoint::open + reading every byte through the mapped views"},
        "size": size, "gb_per_s": gbps,
        "ratios": {"load_tensor_cpu_over_read_files": gbps["load_tensor_cpu"] / gbps["read_files"],
                   "load_tensor_cpu_over_pread_fresh_buffers":
                       gbps["load_tensor_cpu"] / gbps["pread_fresh_buffers"],
                   "touch_zero_copy_over_read_files": gbps["touch_zero_copy"] / gbps["read_files"]},
        **machine_description(), "kernel": platform.release(),
        "load_average_1m_before_and_after": [load_before, os.getloadavg()[0]],
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
