#!/usr/bin/env python3
"""Runs benchmark/bench_load and writes benchmark/results/load_cpu.json: checkpoint load
throughput from the page cache as ratios to plain read() of the same bytes in the same run, with
the machine, CPU and commit.

usage: scripts/bench_load.py --bench BUILD/benchmark/bench_load [--gib 3] [--out FILE]

--device cuda measures loading to the GPU against read() instead (benchmark/results/load_gpu.json);
--gib 15.27 is Qwen3-8B's 16.4 GB of bf16 weights.
"""

import argparse
import json
import os
import platform
import subprocess
import tempfile

from bench_common import machine_description, write_result

CASES = {"BM_ReadFiles": "read_files", "BM_PreadTensors": "pread_fresh_buffers",
         "BM_LoadTensorCpu": "load_tensor_cpu", "BM_TouchZeroCopy": "touch_zero_copy",
         "BM_LoadTensorCuda": "load_tensor_cuda"}
RATIOS = {"load_tensor_cpu_over_read_files": ("load_tensor_cpu", "read_files"),
          "load_tensor_cpu_over_pread_fresh_buffers": ("load_tensor_cpu", "pread_fresh_buffers"),
          "touch_zero_copy_over_read_files": ("touch_zero_copy", "read_files"),
          "load_tensor_cuda_over_read_files": ("load_tensor_cuda", "read_files")}


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True, help="path to the bench_load executable")
    parser.add_argument("--gib", type=float, default=3.0, help="synthetic checkpoint size")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    cuda = args.device == "cuda"
    out = args.out or os.path.join(repo, "benchmark", "results",
                                   f"load_{'gpu' if cuda else 'cpu'}.json")
    only = ("BM_ReadFiles|BM_LoadTensorCuda" if cuda else
            "BM_ReadFiles|BM_PreadTensors|BM_LoadTensorCpu|BM_TouchZeroCopy")

    env = dict(os.environ, TTTMEM_BENCH_LOAD_GIB=str(args.gib))
    load_before = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile(suffix=".json") as raw:
        subprocess.run([args.bench, f"--benchmark_out={raw.name}", "--benchmark_out_format=json",
                        f"--benchmark_repetitions={args.repetitions}",
                        "--benchmark_report_aggregates_only=true", f"--benchmark_filter={only}",
                        "--benchmark_enable_random_interleaving=true"], check=True, env=env)
        report = json.load(open(raw.name))

    gbps, size = {}, {}
    for run in report["benchmarks"]:
        if run.get("aggregate_name", "median") != "median":  # one repetition has no aggregates
            continue
        gbps[CASES[run["run_name"].split("/")[0]]] = run["bytes_per_second"] / 1e9
        size = {"tensor_bytes": int(run["tensor_bytes"]), "tensors": int(run["tensors"]),
                "shards": 5, "dtype": "bf16"}
    result = {
        "benchmark": "checkpoint load from the page cache (median of repetitions, GB/s = 1e9 B/s)",
        "command": f"scripts/bench_load.py --bench BUILD/benchmark/bench_load --gib {args.gib:g} "
                   f"--device {args.device}",
        "cases": {
            "read_files": "read(2) of every shard file into one reused, pre-faulted buffer",
            "pread_fresh_buffers": "pread(2) of every tensor into its own new at::empty buffer",
            "load_tensor_cpu": "Checkpoint::open + io::load_tensor of every tensor to the CPU",
            "touch_zero_copy": "Checkpoint::open + reading every byte through the mapped views",
            "load_tensor_cuda": "Checkpoint::open + io::load_tensor of every tensor to the GPU"},
        "size": size, "gb_per_s": gbps,
        "seconds": {case: size["tensor_bytes"] / 1e9 / rate for case, rate in gbps.items()},
        "ratios": {name: gbps[a] / gbps[b] for name, (a, b) in RATIOS.items()
                   if a in gbps and b in gbps},
        **machine_description(), "kernel": platform.release(),
        "load_average_1m_before_and_after": [load_before, os.getloadavg()[0]],
    }
    write_result(out, result)


if __name__ == "__main__":
    main()
