#!/usr/bin/env python3
"""Peak memory of one `train-minimal --objective memory` step with and without
`--grad-checkpointing`, in the same run: qwen3-mid (configs/models/qwen3-mid.json: hidden 1024,
8 layers, F 3072, Qwen's 151,936-token vocabulary; random, `init-model --seed 0`), fp32 on the
CPU, one micro-batch of 2 level-3 conversations (each ingested with a 2,048-token distractor, as
condition D) and their probes, trainable set `ttt`.
  --memory inplace: In-Place TTT on layers 0 and 4 (chunk 64, `--ttt-init dense`), in both TTT
    training forms (checkpointing recomputes each decoder layer). Writes
    benchmark/results/train_memory_cpu.json.
  --memory e2e: TTT-E2E on its default layers (6 and 7, dynamic width F), mini-batch 1,024,
    `--e2e-init` (checkpointing recomputes each mini-batch of the inner loop, its inner step
    included). Writes benchmark/results/train_memory_e2e_cpu.json.
The peak resident set of the process (getrusage) is what a GPU's memory would hold, weights
included; the difference between two runs is what checkpointing drops.

  .venv/bin/python scripts/bench_train_memory.py --build-dir build [--memory e2e]
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench_common import ROOT, machine_description, write_result

LAYERS, CHUNK = "0,4", "64"  # the seed's chunk (the config's 8192 would write nothing)
E2E_MINI_BATCH = "1024"  # the paper's b
DISTRACTOR_TOKENS = 2048
CONVERSATIONS = 2


# A fresh interpreter per measurement: RUSAGE_CHILDREN's peak is the largest over every child
# a process has waited for, so one parent would report the first run's peak for both.
MEASURE = ("import resource, subprocess, sys, time; t = time.monotonic(); "
           "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.monotonic() - t)")


def peak_rss_gib(command):
    """(peak resident GiB, seconds) of `command`."""
    done = subprocess.run([sys.executable, "-c", MEASURE] + command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    kib, seconds = done.stdout.split()
    return int(kib) / 2**20, float(seconds)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--work-dir", default=str(ROOT / "out" / "bench_train_memory"))
    parser.add_argument("--memory", choices=("inplace", "e2e"), default="inplace")
    parser.add_argument("--out", help="default: benchmark/results/train_memory_cpu.json, "
                                      "train_memory_e2e_cpu.json under --memory e2e")
    args = parser.parse_args()
    out_name = "train_memory_cpu.json" if args.memory == "inplace" else "train_memory_e2e_cpu.json"
    args.out = args.out or str(ROOT / "benchmark" / "results" / out_name)
    tttmem = str(Path(args.build_dir) / "tttmem")
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = str(ROOT / "configs" / "tokenizers" / "qwen3")
    model, bench = work / "model", work / "level3.json"
    if not (model / "config.json").exists():
        subprocess.run([tttmem, "--seed", "0", "init-model", "--config",
                        str(ROOT / "configs" / "models" / "qwen3-mid.json"), "--out", str(model)],
                       check=True, capture_output=True)
    subprocess.run([tttmem, "--seed", "1001", "build-benchmark", "--format", "v2",
                    "--samples-per-level", str(CONVERSATIONS), "--distractor-tokens", str(DISTRACTOR_TOKENS),
                    "--tokenizer", tokenizer, "--out", str(work / "all_levels.json")],
                   check=True, capture_output=True)
    benchmark = json.loads((work / "all_levels.json").read_text())
    benchmark["samples"] = [s for s in benchmark["samples"] if s["level"] == 3]
    benchmark["n_total"] = len(benchmark["samples"])
    bench.write_text(json.dumps(benchmark, ensure_ascii=False))

    # In-Place TTT in both training forms: `auto` takes the parallel one at this shape
    # (L (F + D) > D F for L > 768) but the low-rank one at Qwen3-8B's (up to L = 3072).
    modes = (("plain", []), ("checkpointed", ["--grad-checkpointing"]))
    if args.memory == "inplace":
        groups = {form: ["--ttt-layers", LAYERS, "--ttt-chunk", CHUNK, "--ttt-init", "dense",
                         "--ttt-form", form] for form in ("parallel", "low-rank")}
        what = f"TTT layers {LAYERS}"
    else:
        groups = {"e2e": ["--memory", "e2e", "--e2e-init", "--e2e-mini-batch", E2E_MINI_BATCH]}
        what = f"TTT-E2E on its default layers, mini-batch {E2E_MINI_BATCH}"
    variants = [(f"{group}_{mode}", flags + extra)
                for group, flags in groups.items() for mode, extra in modes]
    runs = {}
    for name, extra in variants:
        out = work / name
        shutil.rmtree(out, ignore_errors=True)
        command = [tttmem, "--seed", "42", "--dtype", "fp32", "train-minimal", "--model", str(model),
                   "--tokenizer", tokenizer, "--objective", "memory", "--memory-data", str(bench), "--trainable", "ttt",
                   "--steps", "1", "--batch-size", str(CONVERSATIONS), "--save-every", "0",
                   "--out", str(out)] + extra
        gib, seconds = peak_rss_gib(command)
        loss = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["loss"]
        runs[name] = {"peak_rss_gib": round(gib, 3), "seconds": round(seconds, 1), "loss": loss}
        print(f"{name}: peak {gib:.2f} GiB, {seconds:.0f} s, loss {loss:.6f}", flush=True)
    result = {
        "benchmark": "train_memory",
        "what": f"peak resident memory of one memory-objective step, qwen3-mid, {what}, "
                f"{CONVERSATIONS} level-3 conversations with {DISTRACTOR_TOKENS}-token "
                "distractors, fp32, CPU",
        **machine_description(),
        "runs": runs,
        "checkpointing_saves_gib": {
            group: round(runs[f"{group}_plain"]["peak_rss_gib"] -
                         runs[f"{group}_checkpointed"]["peak_rss_gib"], 3)
            for group in groups},
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
