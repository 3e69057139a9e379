#!/usr/bin/env python3
"""Encode throughput (MB/s, one thread) of tttmem's tokenizer against the pip tiktoken package
on the same texts in the same run; writes benchmark/results/tokenizer_cpu.json.

Usage: .venv/bin/python scripts/bench_tokenizer.py [--build-dir build] [--out FILE]
"""
import argparse
import base64
import json
import subprocess
import time
from pathlib import Path

import tiktoken

from bench_common import ROOT, machine_description, write_result

DATA = ROOT.parent / "shared" / "data"
QWEN_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
                r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")


def texts():
    """The texts bench_tokenizer encodes, in the same order."""
    doc = json.loads((DATA / "benchmark_v1.json").read_text(encoding="utf-8"))
    out = []
    for s in doc["samples"]:
        out.append(s["conversation"])
        if s["distractor"] is not None:
            out.append(s["distractor"])
        out += [f["fact_text"] for f in s["facts"]]
        for p in s["probes"]:
            out += [p["question"], p["gold_answer"]]
    return out


def qwen_encoding():
    ranks = {}
    for line in (DATA / "qwen.tiktoken").read_bytes().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name="qwen", pat_str=QWEN_PATTERN, mergeable_ranks=ranks,
                             special_tokens={})


def tiktoken_mb_s(enc, all_texts, min_seconds=2.0):
    """(wall-clock MB/s, CPU-time MB/s, bytes) of one run of at least min_seconds."""
    nbytes = sum(len(t.encode("utf-8")) for t in all_texts)
    passes, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        for t in all_texts:
            enc.encode_ordinary(t)
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            cpu = time.process_time() - cpu_start
            return passes * nbytes / elapsed / 1e6, passes * nbytes / cpu / 1e6, nbytes


def tttmem_mb_s(build_dir):
    """(wall-clock MB/s, CPU-time MB/s, bytes) of one bench_tokenizer run (>= 2 s)."""
    exe = build_dir / "benchmark" / "bench_tokenizer"
    proc = subprocess.run([str(exe), "--benchmark_format=json"],
                          check=True, capture_output=True, text=True)
    row = json.loads(proc.stdout)["benchmarks"][0]
    assert row["time_unit"] == "ms"
    nbytes = int(row["text_bytes"])
    return row["bytes_per_second"] / 1e6, nbytes / (row["cpu_time"] / 1e3) / 1e6, nbytes


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmark" / "results" / "tokenizer_cpu.json")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best of each side)")
    args = ap.parse_args()

    all_texts = texts()
    enc = qwen_encoding()
    # Interleaved rounds, best of each side: the machine is shared, so load changes over time.
    ours = theirs = ours_cpu = theirs_cpu = 0.0
    for _ in range(args.rounds):
        wall, cpu, our_bytes = tttmem_mb_s(args.build_dir)
        ours, ours_cpu = max(ours, wall), max(ours_cpu, cpu)
        wall, cpu, their_bytes = tiktoken_mb_s(enc, all_texts)
        theirs, theirs_cpu = max(theirs, wall), max(theirs_cpu, cpu)
    if our_bytes != their_bytes:
        raise SystemExit(f"the two sides encode different text: {our_bytes} vs {their_bytes} bytes")
    result = {
        "benchmark": "tokenizer encode, single thread, all benchmark_v1.json text "
                     "(conversations, distractors, facts, questions, gold answers)",
        "command": "scripts/bench_tokenizer.py --build-dir " + str(args.build_dir),
        **machine_description(),
        "method": f"{args.rounds} interleaved rounds of >= 2 s per side, best of each; wall "
                  "clock, and CPU time (less sensitive to other jobs on a shared machine)",
        "texts": len(all_texts),
        "text_bytes": our_bytes,
        "tttmem_mb_per_s": round(ours, 3),
        "tiktoken_mb_per_s": round(theirs, 3),
        "tiktoken_version": tiktoken.__version__,
        "ratio_tttmem_over_tiktoken": round(ours / theirs, 3),
        "cpu_time_tttmem_mb_per_s": round(ours_cpu, 3),
        "cpu_time_tiktoken_mb_per_s": round(theirs_cpu, 3),
        "cpu_time_ratio_tttmem_over_tiktoken": round(ours_cpu / theirs_cpu, 3),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
