#!/usr/bin/env python3
"""One markdown table from several `tttmem evaluate` reports: a row per report, EM of each
condition with its 95% bootstrap interval, and the paired B - C and A - B differences.

  summarize_reports.py LABEL=EVAL_DIR [LABEL=EVAL_DIR ...]

EVAL_DIR is an `evaluate --out` folder (its report.json is read). Standard library only.
"""
import json
import sys


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
            if c not in conditions:
                conditions.append(c)
    head = ["setting", "samples / probes (A)"] + [f"EM {c.upper()}" for c in conditions]
    head += ["B − C (paired)", "A − B (paired)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, report in reports:
        by = report["by_condition"]
        first = by.get("a") or next(iter(by.values()))
        size = f"{first['n_samples']} / {first['overall']['n']}"
        row = [label, size] + [cell(by[c]["overall"] if c in by else None) for c in conditions]
        headline = report.get("headline", {})
        row += [paired(headline.get("em_b_minus_c")), paired(headline.get("em_a_minus_b"))]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
