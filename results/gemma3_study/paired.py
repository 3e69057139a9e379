#!/usr/bin/env python3
"""The tiny Gemma3 study's table and paired differences (scripts/tiny_gemma3_study.sh).

Reads OUT/test_<L>_benchmark.json and OUT/test/L<L>/<cell>/run/condition_<mode>.jsonl, scores
every prediction with the study's any-of (SPEC.md `ruler`: lowercase, strip, strip outer ASCII
whitespace and punctuation, then containment of a normalised reference; niah_single has one
reference, so RULER's string_match_all gives the same 0/1 here), and writes per (length, cell)
the mean with a 95% percentile bootstrap interval over samples, and the paired differences
below, each a mean over the same samples with a 95% paired bootstrap interval (samples
resampled together, 10,000 resamples, numpy default_rng(0)). With several seeds a TTT cell's
per-sample score is first averaged over seeds (`mean`), and each seed is also reported alone.

  paired.py --out-dir OUT --lengths 256,512 --seeds 1,2 --json FILE --md FILE [--score digits]
            [--live]

--score digits scores instead the fraction of the 7 answer digits matched position by position
by the prediction's first digits (chance 0.1), which still moves when any-of is at the floor.

Differences (A - B):
  adapter ttt_paper - base in_context      the study's question (1)
  control ttt_paper - base in_context      training down_proj at longer lengths, no fast weights
  adapter ttt_paper - control ttt_paper    what the live fast weights add
  adapter ttt_strict - control ttt_strict  what the fast weights keep with no document in context
With --live, also the adapter's ttt_paper decoded with its fast weights live
(OUT/test/L<L>/adapter_s<S>_ttt_paper_live, `run --paper-decode live`) and
  adapter live - base in_context, adapter live - control ttt_paper, adapter live - adapter ttt_paper
in a table of their own.
The same samples are in every cell (same benchmark file), so differences pair by sample id.
"""
import argparse
import json
import pathlib
import string

import numpy as np

RESAMPLES = 10_000
PUNCT = set(string.whitespace[:6]) | set(string.punctuation)


def normalize(text):
    s = text.lower().strip()
    while s and s[0] in PUNCT:
        s = s[1:]
    while s and s[-1] in PUNCT:
        s = s[:-1]
    return s


def any_of(pred, refs):
    p = normalize(pred)
    return any(normalize(r) and normalize(r) in p for r in refs)


def digit_accuracy(pred, refs):
    """The fraction of the reference's digits the prediction's first digits match position by
    position (chance 0.1): a graded score that still moves when any-of is at the floor."""
    gold = "".join(ch for ch in refs[0] if ch.isdigit())
    got = "".join(ch for ch in pred if ch.isdigit())
    return sum(a == b for a, b in zip(gold, got)) / len(gold)


SCORERS = {"any_of": lambda p, r: float(any_of(p, r)), "digits": digit_accuracy}
SCORE = "any_of"


def load_scores(out, length, cell, mode, refs):
    path = out / "test" / f"L{length}" / cell / "run" / f"condition_{mode}.jsonl"
    scores = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            scores[r["sample_id"]] = SCORERS[SCORE](r["predicted"], refs[r["sample_id"]])
    if set(scores) != set(refs):
        raise SystemExit(f"{path}: samples differ from the benchmark's")
    return scores


def interval(values, rng):
    values = np.asarray(values, dtype=float)
    idx = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    means = values[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(lo), float(hi)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--lengths", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--score", choices=sorted(SCORERS), default="any_of",
                    help="any_of (the study's) or digits (position-wise digit accuracy, chance 0.1)")
    ap.add_argument("--live", action="store_true",
                    help="also the adapter's ttt_paper with --paper-decode live")
    args = ap.parse_args()
    global SCORE
    SCORE = args.score
    out = pathlib.Path(args.out_dir)
    lengths = [int(x) for x in args.lengths.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    result = {"resamples": RESAMPLES, "rng": "numpy default_rng(0)", "unit": "sample",
              "score": args.score, "lengths": {}}
    md = ["| length | n | base in_context | adapter ttt_paper | adapter ttt_strict | "
          "control ttt_paper | control ttt_strict |", "|---|---|---|---|---|---|---|"]
    md_diff = ["| length | adapter paper - base icl | control paper - base icl | "
               "adapter paper - control paper | adapter strict - control strict |",
               "|---|---|---|---|---|"]
    md_live = ["| length | n | adapter ttt_paper, live decode | live - base icl | "
               "live - control paper | live - adapter paper (base decode) |",
               "|---|---|---|---|---|---|"]
    fmt = lambda m: f"{m[0]:.3f} [{m[1]:.3f}, {m[2]:.3f}]"
    for length in lengths:
        rng = np.random.default_rng(0)
        bench = json.load(open(out / f"test_{length}_benchmark.json", encoding="utf-8"))
        refs = {s["id"]: s["answer_aliases"] for s in bench["samples"]}
        ids = sorted(refs)
        cells = {"base_in_context": load_scores(out, length, "base_in_context", "in_context", refs)}
        for arm in ("adapter", "control"):
            for mode in ("ttt_paper", "ttt_strict"):
                per_seed = [load_scores(out, length, f"{arm}_s{s}_{mode}", mode, refs) for s in seeds]
                for s, sc in zip(seeds, per_seed):
                    cells[f"{arm}_s{s}_{mode}"] = sc
                cells[f"{arm}_mean_{mode}"] = {i: float(np.mean([sc[i] for sc in per_seed])) for i in ids}
        if args.live:
            per_seed = [load_scores(out, length, f"adapter_s{s}_ttt_paper_live", "ttt_paper", refs)
                        for s in seeds]
            for s, sc in zip(seeds, per_seed):
                cells[f"adapter_s{s}_ttt_paper_live"] = sc
            cells["adapter_mean_ttt_paper_live"] = {
                i: float(np.mean([sc[i] for sc in per_seed])) for i in ids}
        vec = {k: np.array([v[i] for i in ids]) for k, v in cells.items()}
        entry = {"n": len(ids), "cells": {}, "differences": {}}
        for k, v in vec.items():
            entry["cells"][k] = dict(zip(("mean", "lo", "hi"), interval(v, rng)))
        pairs = {
            "adapter_paper_minus_base_icl": ("adapter_mean_ttt_paper", "base_in_context"),
            "control_paper_minus_base_icl": ("control_mean_ttt_paper", "base_in_context"),
            "adapter_paper_minus_control_paper": ("adapter_mean_ttt_paper", "control_mean_ttt_paper"),
            "adapter_strict_minus_control_strict": ("adapter_mean_ttt_strict", "control_mean_ttt_strict"),
        }
        for s in seeds:
            pairs[f"adapter_s{s}_paper_minus_base_icl"] = (f"adapter_s{s}_ttt_paper", "base_in_context")
            pairs[f"adapter_s{s}_paper_minus_control_s{s}_paper"] = (
                f"adapter_s{s}_ttt_paper", f"control_s{s}_ttt_paper")
        if args.live:
            pairs.update({
                "adapter_live_minus_base_icl": ("adapter_mean_ttt_paper_live", "base_in_context"),
                "adapter_live_minus_control_paper": ("adapter_mean_ttt_paper_live",
                                                     "control_mean_ttt_paper"),
                "adapter_live_minus_adapter_paper": ("adapter_mean_ttt_paper_live",
                                                     "adapter_mean_ttt_paper"),
            })
        for name, (a, b) in pairs.items():
            m = interval(vec[a] - vec[b], rng)
            entry["differences"][name] = {"a": a, "b": b, "mean": m[0], "lo": m[1], "hi": m[2]}
        result["lengths"][str(length)] = entry
        c, d = entry["cells"], entry["differences"]
        get = lambda k: (c[k]["mean"], c[k]["lo"], c[k]["hi"])
        getd = lambda k: (d[k]["mean"], d[k]["lo"], d[k]["hi"])
        md.append(f"| {length} | {len(ids)} | " + " | ".join(fmt(get(k)) for k in (
            "base_in_context", "adapter_mean_ttt_paper", "adapter_mean_ttt_strict",
            "control_mean_ttt_paper", "control_mean_ttt_strict")) + " |")
        md_diff.append(f"| {length} | " + " | ".join(fmt(getd(k)) for k in (
            "adapter_paper_minus_base_icl", "control_paper_minus_base_icl",
            "adapter_paper_minus_control_paper", "adapter_strict_minus_control_strict")) + " |")
        if args.live:
            md_live.append(f"| {length} | {len(ids)} | " + fmt(get("adapter_mean_ttt_paper_live"))
                           + " | " + " | ".join(fmt(getd(k)) for k in (
                               "adapter_live_minus_base_icl", "adapter_live_minus_control_paper",
                               "adapter_live_minus_adapter_paper")) + " |")
    per_seed = ["| length | cell | " + " | ".join(f"seed {s}" for s in seeds) + " |",
                "|---|---|" + "---|" * len(seeds)]
    for length in lengths:
        c = result["lengths"][str(length)]["cells"]
        for arm in ("adapter", "control"):
            for mode in ("ttt_paper", "ttt_strict"):
                per_seed.append(f"| {length} | {arm} {mode} | " + " | ".join(
                    f"{c[f'{arm}_s{s}_{mode}']['mean']:.3f}" for s in seeds) + " |")
        if args.live:
            per_seed.append(f"| {length} | adapter ttt_paper live | " + " | ".join(
                f"{c[f'adapter_s{s}_ttt_paper_live']['mean']:.3f}" for s in seeds) + " |")
    live = ("\n\nThe adapter's ttt_paper decoded with its fast weights live (`run --paper-decode "
            "live`), and its paired differences:\n\n" + "\n".join(md_live)) if args.live else ""
    pathlib.Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    pathlib.Path(args.md).write_text(
        f"{args.score}, mean over samples [95% bootstrap interval over samples]; TTT cells averaged "
        f"over seeds {args.seeds}.\n\n" + "\n".join(md) + "\n\nPaired differences (same samples):\n\n"
        + "\n".join(md_diff) + live + "\n\nEach seed:\n\n" + "\n".join(per_seed) + "\n")
    print("\n".join(md + [""] + md_diff + ([""] + md_live if args.live else [])))


if __name__ == "__main__":
    main()
