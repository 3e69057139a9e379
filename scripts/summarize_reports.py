#!/usr/bin/env python3
"""One markdown table from several `tttmem evaluate` reports: a row per report, the size of the
first condition (A when present: conversations, the bootstrap's unit, samples and probes), EM of
each condition with its 95% bootstrap interval, and the paired differences between the
conditions shown (B - C, A - B, scroll - C, scroll - B).

  summarize_reports.py [--conditions a,b,c,...] LABEL=EVAL_DIR [LABEL=EVAL_DIR ...]

EVAL_DIR is an `evaluate --out` folder (its report.json is read). --conditions keeps only those
columns (default: every condition of any report). Standard library only.
"""
import json
import sys

PAIRS = [("b", "c"), ("a", "b"), ("scroll", "c"), ("scroll", "b")]


def title(condition):
    """A, B, C, D in capitals, as the project writes them; longer names as they are."""
    return condition.upper() if len(condition) == 1 else condition


def cell(overall):
    if overall is None:
        return "—"
    lo, hi = overall["em_ci95"]
    return f"{overall['em']:.3f} [{lo:.3f}, {hi:.3f}]"


def paired(entry):
    if not entry:
        return "—"
    lo, hi = entry["ci95"]
    return f"{entry['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main(args):
    shown = None
    if len(args) >= 2 and args[0] == "--conditions":
        shown = args[1].split(",")
        args = args[2:]
    if not args or any("=" not in a for a in args):
        sys.exit(__doc__)
    conditions = []
    reports = []
    for arg in args:
        label, folder = arg.split("=", 1)
        with open(f"{folder}/report.json", encoding="utf-8") as f:
            report = json.load(f)
        reports.append((label, report))
        for c in report["by_condition"]:
            if c not in conditions and (shown is None or c in shown):
                conditions.append(c)
    if shown is not None:
        conditions = [c for c in shown if c in conditions]
    pairs = [(x, y) for x, y in PAIRS if x in conditions and y in conditions]
    head = ["setting", "conversations / samples / probes"] + [f"EM {title(c)}" for c in conditions]
    head += [f"{title(x)} − {title(y)} (paired)" for x, y in pairs]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, report in reports:
        by = report["by_condition"]
        first = by.get("a") or next(iter(by.values()))
        size = f"{first['n_conversations']} / {first['n_samples']} / {first['overall']['n']}"
        row = [label, size] + [cell(by[c]["overall"] if c in by else None) for c in conditions]
        headline = report.get("headline", {})
        row += [paired(headline.get(f"em_{x}_minus_{y}")) for x, y in pairs]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
