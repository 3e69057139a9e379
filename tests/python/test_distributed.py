#!/usr/bin/env python3
"""tttmem as a torch.distributed program, checked end to end on the CPU with Gloo: ranks are real
processes on localhost (a free port each time), started with the launch variables torchrun sets,
or by torchrun itself. Each case compares with the same command run as one process.

  test_distributed.py --tttmem BIN --case NAME [--work DIR]

Cases: run_matches_single, run_under_torchrun, run_failed_rank, run_killed_rank_resumes,
run_world_mismatch, train_matches_single, train_resumes_on_another_world, launch_errors,
nccl_smoke (label gpu: exits 77, skipped, without a CUDA device).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "configs/tokenizers/qwen3"
TTT = ["--ttt-layers", "0,2", "--ttt-chunk", "8", "--ttt-lr", "3", "--ttt-init", "dense"]
TIMING = ("seconds", "ingest_seconds")  # wall times: the only fields two runs may differ in


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Case:
    def __init__(self, binary, work):
        self.bin, self.work = binary, Path(work)
        self.env = dict(os.environ, OMP_NUM_THREADS="1")
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            self.env.pop(name, None)

    def tttmem(self, args, env=None, check=True, timeout=600):
        r = subprocess.run([self.bin, *args], cwd=self.work, env=env or self.env, text=True,
                           capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            sys.exit(f"tttmem {' '.join(args)} exited {r.returncode}:\n{r.stderr[-3000:]}")
        return r

    def ranks(self, size, args, per_rank=None, timeout=600):
        """Starts `size` ranks of `tttmem args` (per_rank(rank) -> (extra env, args) may vary
        them); returns [(exit code, stderr)] by rank and the seconds until the last exited."""
        port = str(free_port())
        procs = []
        started = time.monotonic()
        for rank in range(size):
            env = dict(self.env, RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
            rank_args = args
            if per_rank:
                extra, rank_args = per_rank(rank)
                env.update(extra)
            procs.append(subprocess.Popen([self.bin, *rank_args], cwd=self.work, env=env,
                                          text=True, stderr=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL))
        out = [(p.wait(timeout=timeout), p.stderr.read()) for p in procs]
        return out, time.monotonic() - started

    def all_ok(self, results, what):
        for rank, (code, err) in enumerate(results):
            if code != 0:
                sys.exit(f"{what}: rank {rank} exited {code}:\n{err[-3000:]}")

    def model(self):
        if not (self.work / "model").exists():
            self.tttmem(["--seed", "3", "init-model", "--config",
                         str(ROOT / "configs/models/tiny-qwen3.json"), "--out", "model"])
            self.tttmem(["build-benchmark", "--seed", "42", "--samples-per-level", "2",
                         "--out", "bench.json"])
            lines = []
            for i in range(16):
                lines.append(json.dumps({"text": f"第{i}次会议：负责人是张伟，工号{7000 + 37 * i}，"
                                                 f"办公室在{1 + i % 5}号楼{2 + i}层。我们讨论一下项目进度。"},
                                        ensure_ascii=False))
            (self.work / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run_args(self, out, *extra):
        return ["run", "--dtype", "fp32", "--model", "model", "--tokenizer", str(TOKENIZER),
                "--benchmark", "bench.json", "--max-new-tokens", "4", "--condition", "all",
                *TTT, "--out", out, *extra]

    def train_args(self, out, accum, *extra):
        return ["--dtype", "fp32", "train-minimal", "--model", "model", "--tokenizer",
                str(TOKENIZER), "--data", "corpus.jsonl", *TTT, "--seq-len", "48", "--lr", "1e-2",
                "--batch-size", "2", "--grad-accum", str(accum), "--shuffle", "--out", out, *extra]

    def single_run(self):
        if not (self.work / "single" / "run.json").exists():
            self.tttmem(self.run_args("single"))
        return self.work / "single"


def records(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def expect_same_results(single, other):
    """`other` holds what `single` holds: the JSONL records in the same order with the same content
    (wall times aside), the seed-format files and the identities byte for byte."""
    files = sorted(p.name for p in single.iterdir() if p.name.startswith(("condition_", "identity_")))
    assert files, f"{single}: no result files"
    for name in files:
        a, b = single / name, other / name
        assert b.exists(), f"{b} missing"
        if name.endswith(".jsonl"):
            ra, rb = records(a), records(b)
            assert ra == rb, f"{b}: records differ from {a} ({len(ra)} vs {len(rb)} lines)"
        else:
            assert a.read_bytes() == b.read_bytes(), f"{b} differs from {a}"


def benchmark_order(path, benchmark):
    """The (sample, probe) order a finished JSONL must have: the benchmark's own."""
    want = [(s["sample_id"], p["probe_id"]) for s in benchmark["samples"] for p in s["probes"]]
    got = [(r["sample_id"], r["probe_id"]) for r in records(path)]
    return got == [k for k in want if k in set(got)]


def run_matches_single(c):
    c.model()
    single = c.single_run()
    bench = json.loads((c.work / "bench.json").read_text())
    for name in ("condition_a.jsonl", "condition_d.jsonl"):
        assert benchmark_order(single / name, bench), f"{single / name}: not in benchmark order"
    for size in (2, 3):
        out = f"world{size}"
        results, _ = c.ranks(size, c.run_args(out))
        c.all_ok(results, f"run over {size} ranks")
        expect_same_results(single, c.work / out)
        run = json.loads((c.work / out / "run.json").read_text())
        assert run["world"]["size"] == size and len(run["world"]["ranks"]) == size, run["world"]
        for cond in run["conditions"]:
            mine = [r["conditions"][run["conditions"].index(cond)]["probes"] for r in run["world"]["ranks"]]
            assert cond["probes"] == sum(mine) and sum(n > 0 for n in mine) >= 2, (cond, mine)
        print(f"run over {size} ranks: same records as one process; probes per rank "
              f"{[r['conditions'][0]['probes'] for r in run['world']['ranks']]}")


def run_under_torchrun(c):
    c.model()
    single = c.single_run()
    torchrun = Path(sys.executable).with_name("torchrun")
    r = subprocess.run([str(torchrun), "--nproc-per-node", "2", "--master-port", str(free_port()),
                        "--no-python", c.bin, *c.run_args("torchrun")], cwd=c.work, env=c.env,
                       text=True, capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    expect_same_results(single, c.work / "torchrun")
    print("torchrun --nproc-per-node 2 --no-python tttmem run: same records as one process")


def run_failed_rank(c):
    c.model()
    # Rank 1 cannot read its model: rank 0, busy with its own samples, stops and names it.
    good = c.run_args("failed", "--dist-timeout", "60")
    bad = [arg if arg != "model" else "no_such_model" for arg in good]
    results, seconds = c.ranks(2, good, per_rank=lambda rank: ({}, good if rank == 0 else bad))
    (code0, err0), (code1, err1) = results
    assert code0 == 1 and code1 == 1, (code0, code1, err0[-2000:], err1[-2000:])
    assert "rank 1 failed: no_such_model" in err0, err0[-2000:]
    assert "tttmem run (rank 1): error: no_such_model" in err1, err1[-2000:]
    assert seconds < 45, f"the ranks took {seconds:.0f} s to stop (they should not wait the timeout)"
    print(f"a failing rank stops the other in {seconds:.1f} s, naming it: "
          + err0.strip().splitlines()[-1])


def run_killed_rank_resumes(c):
    c.model()
    single = c.single_run()
    args = c.run_args("killed", "--dist-timeout", "5")
    results, seconds = c.ranks(2, args, per_rank=lambda rank: (
        {"TTTMEM_TEST_EXIT_AFTER_RECORDS": "3"} if rank == 1 else {}, args))
    (code0, err0), (code1, _) = results
    assert code1 == 137 and code0 == 1, (code0, code1, err0[-2000:])
    assert "rank(s) 1 did not reach run and sent no sign of life for 5 s" in err0, err0[-2000:]
    assert not (c.work / "killed" / "condition_a.jsonl").exists(), "merged despite a killed rank"
    results, _ = c.ranks(2, args + ["--resume"])
    c.all_ok(results, "the resumed run")
    assert "from an earlier run" in results[1][1]
    expect_same_results(single, c.work / "killed")
    print(f"a killed rank is named after the 5 s timeout (rank 0 stopped in {seconds:.1f} s); "
          "--resume per rank then gives the single-process records")


def run_world_mismatch(c):
    c.model()
    results, _ = c.ranks(2, c.run_args("mismatch"))
    c.all_ok(results, "run over 2 ranks")
    results, _ = c.ranks(3, c.run_args("mismatch", "--resume"))
    for code, err in results:
        assert code == 1 and "holds records of a run over 2 ranks, and this launch has 3" in err, err
    r = c.tttmem(c.run_args("mismatch", "--resume"), check=False)
    assert r.returncode == 1 and "and this is one process" in r.stderr, r.stderr
    c.single_run()
    results, _ = c.ranks(2, c.run_args("single", "--resume"))
    for code, err in results:
        assert code == 1 and "was written by a single-process run" in err, err
    print("resuming with another world is refused, naming the folder and its world")


def losses(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def tensors(path):
    from safetensors.numpy import load_file
    return load_file(str(path / "ttt.safetensors"))


def expect_same_training(a, b, what):
    la, lb = losses(a), losses(b)
    assert [x["step"] for x in la] == [x["step"] for x in lb], what
    for x, y in zip(la, lb):
        for key in ("loss", "grad_norm"):
            assert abs(x[key] - y[key]) <= 1e-5 * max(1.0, abs(x[key])), (what, key, x, y)
        assert x["tokens"] == y["tokens"], (what, x, y)
    # The weights as a whole: AdamW turns a last-bit difference of a near-zero gradient element
    # (another summation order over 3 ranks) into a visible difference of that one element.
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        err = float(np.linalg.norm(ta[k] - tb[k]) / max(np.linalg.norm(ta[k]), 1e-12))
        assert err <= 1e-4, f"{what}: {k} differs by {err:.2e} (relative Frobenius norm)"


def train_matches_single(c):
    c.model()
    for size in (2, 3):
        single, ranks = f"train_single{size}", f"train_world{size}"
        c.tttmem(c.train_args(single, size, "--steps", "4"))
        results, _ = c.ranks(size, c.train_args(ranks, 1, "--steps", "4"))
        c.all_ok(results, f"train-minimal over {size} ranks")
        expect_same_training(c.work / single, c.work / ranks, f"{size} ranks")
        print(f"train-minimal over {size} ranks (batch 2 each) = one process with --grad-accum "
              f"{size}: losses within 1e-5, TTT weights within 1e-4")


def train_resumes_on_another_world(c):
    c.model()
    c.tttmem(c.train_args("whole", 2, "--steps", "4"))
    results, _ = c.ranks(2, c.train_args("resumed", 1, "--steps", "2"))
    c.all_ok(results, "train-minimal over 2 ranks")
    # The same global batch on one process continues the 2-rank state exactly.
    c.tttmem(c.train_args("resumed", 2, "--steps", "4", "--resume"))
    expect_same_training(c.work / "whole", c.work / "resumed", "resumed on one process")
    # Another global batch is another run.
    r = c.tttmem(c.train_args("resumed", 1, "--steps", "6", "--resume"), check=False)
    assert r.returncode == 1 and "grad_accum: the state has '2', this run '1'" in r.stderr, r.stderr
    print("a state written by 2 ranks resumes on one process with the same global batch, exactly; "
          "another global batch is refused")


def launch_errors(c):
    c.model()
    cases = [
        ({"WORLD_SIZE": "2", "RANK": "0"}, "needs MASTER_ADDR and MASTER_PORT"),
        ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
         "RANK=2: expected a whole number from 0 to 1"),
        ({"WORLD_SIZE": "two", "RANK": "0"}, "WORLD_SIZE=two: expected a whole number"),
        ({"WORLD_SIZE": "2"}, "WORLD_SIZE is set but RANK is not"),
        ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "70000"},
         "MASTER_PORT=70000: expected a whole number from 1 to 65535"),
    ]
    for env, message in cases:
        r = c.tttmem(c.run_args("never"), env=dict(c.env, **env), check=False)
        assert r.returncode == 1 and message in r.stderr, (env, r.stderr)
    r = c.tttmem(["info", "--model", "model"], env=dict(c.env, WORLD_SIZE="2", RANK="0",
                                                        MASTER_ADDR="127.0.0.1", MASTER_PORT="1"),
                 check=False)
    assert r.returncode == 1 and "only run and train-minimal run distributed" in r.stderr, r.stderr
    r = c.tttmem(["--device", "cuda:0", *c.run_args("never")],
                 env=dict(c.env, WORLD_SIZE="2", RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="1"),
                 check=False)
    assert r.returncode == 1 and "puts all 2 ranks on one GPU" in r.stderr, r.stderr
    # Slurm's variables alone (a job step that is not a launch) leave one process.
    c.tttmem(["info", "--model", "model"], env=dict(c.env, SLURM_NTASKS="4", SLURM_PROCID="1"))
    print("bad launch variables are refused, naming the variable and what was expected")


def nccl_smoke(c):
    r = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                       capture_output=True, text=True)
    gpus = int(r.stdout.strip() or 0)
    if gpus == 0:
        print("no CUDA device: skipped")
        sys.exit(77)
    c.model()
    size = min(gpus, 2)
    args = ["--device", "cuda", *c.train_args("nccl", 1, "--steps", "2")]
    results, _ = c.ranks(size, args)
    c.all_ok(results, f"train-minimal over {size} GPU rank(s)")
    assert "nccl process group" in results[0][1], results[0][1][-2000:]
    print(f"train-minimal over {size} GPU rank(s) through NCCL: done")


CASES = {f.__name__: f for f in (run_matches_single, run_under_torchrun, run_failed_rank,
                                 run_killed_rank_resumes, run_world_mismatch, train_matches_single,
                                 train_resumes_on_another_world, launch_errors, nccl_smoke)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tttmem", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--work", help="keep the files here (default: a temporary folder)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tttmem_dist_")
    Path(work).mkdir(parents=True, exist_ok=True)
    try:
        CASES[a.case](Case(str(Path(a.tttmem).resolve()), work))
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
