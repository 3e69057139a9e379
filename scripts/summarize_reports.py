#!/usr/bin/env python3
"""One markdown table from several `tttmem evaluate` reports: a row per report, the size of the
first condition (A when present: conversations, the bootstrap's unit, samples and probes), EM of
each condition with its 95% bootstrap interval, and the paired differences between the
conditions shown (B - C, A - B, scroll - C, scroll - B).

  summarize_reports.py [--conditions a,b,c,...] [--distractor-lengths] [--compare X:Y ...]
                       LABEL=EVAL_DIR ...

EVAL_DIR is an `evaluate --out` folder (its report.json is read). --conditions keeps only those
columns (default: every condition of any report). --distractor-lengths makes the columns B on
level 3 and D at each distractor length of any report instead (the D curve; no paired columns).

Training seeds: a LABEL written NAME/SEED makes its row one training run of the setting NAME
(a `seed` column appears), and the runs of one NAME are followed by a row `mean of K` holding,
per column, the mean over the seeds and their range (min-max). --compare X:Y (two such NAMEs)
adds a table: per condition shown, the difference of the seed means of X and Y and whether it
exceeds the seed spread, i.e. every seed of one lies above every seed of the other.
Standard library only.
"""
import json
import sys

PAIRS = [("b", "c"), ("a", "b"), ("scroll", "c"), ("scroll", "b")]


def title(condition):
    """A, B, C, D in capitals, as the project writes them; longer names as they are."""
    return condition.upper() if len(condition) == 1 else condition


def em(report, condition):
    c = report["by_condition"].get(condition)
    return None if c is None else c["overall"]


def b_level3(report):
    return report["by_condition"].get("b", {}).get("by_level", {}).get("3")


def d_by_length(report):
    return report["by_condition"].get("d", {}).get("by_distractor_length", {})


def d_at(length):
    return lambda report: d_by_length(report).get(length)


def diff(report, x, y):
    return report.get("headline", {}).get(f"em_{x}_minus_{y}")


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


def spread(values, sign=""):
    """Mean and range of one column over seeds; — where a seed lacks it."""
    if not values or any(v is None for v in values):
        return "—"
    return f"{sum(values) / len(values):{sign}.3f} ({min(values):{sign}.3f}–{max(values):{sign}.3f})"


def size(report, condition=None):
    """Conversations / samples / probes of `condition`, else of A, else of the first condition."""
    by = report["by_condition"]
    first = by.get(condition or "a") or next(iter(by.values()))
    return f"{first['n_conversations']} / {first['n_samples']} / {first['overall']['n']}"


def parse(args):
    shown, compares, lengths = None, [], False
    while args and args[0] in ("--conditions", "--compare", "--distractor-lengths"):
        if args[0] == "--distractor-lengths":
            lengths = True
            args = args[1:]
            continue
        if len(args) < 2:
            sys.exit(__doc__)
        if args[0] == "--conditions":
            shown = args[1].split(",")
        else:
            compares.append(args[1].split(":"))
        args = args[2:]
    if not args or any("=" not in a for a in args) or any(len(c) != 2 for c in compares):
        sys.exit(__doc__)
    return shown, compares, lengths, args


def main(args):
    shown, compares, by_length, args = parse(args)
    conditions = []
    groups = {}  # NAME -> [(seed or None, report)], in order of first appearance
    for arg in args:
        label, folder = arg.split("=", 1)
        name, _, seed = label.partition("/")
        with open(f"{folder}/report.json", encoding="utf-8") as f:
            report = json.load(f)
        groups.setdefault(name, []).append((seed or None, report))
        for c in report["by_condition"]:
            if c not in conditions and (shown is None or c in shown):
                conditions.append(c)
    if shown is not None:
        conditions = [c for c in shown if c in conditions]
    # Columns: (header, the report's entry: {em, em_ci95} or, paired, {diff, ci95}).
    if by_length:
        lengths = sorted({n for runs in groups.values() for _, r in runs for n in d_by_length(r)},
                         key=int)
        columns = [("EM B (level 3)", b_level3)]
        columns += [(f"EM D, {n} tokens", d_at(n)) for n in lengths]
        pairs = []
        counted = "d"
    else:
        counted = None
        columns = [(f"EM {title(c)}", lambda r, c=c: em(r, c)) for c in conditions]
        pairs = [(f"{title(x)} − {title(y)} (paired)", lambda r, x=x, y=y: diff(r, x, y))
                 for x, y in PAIRS if x in conditions and y in conditions]
    seeded = any(seed for runs in groups.values() for seed, _ in runs)
    head = ["setting"] + (["seed"] if seeded else []) + ["conversations / samples / probes"]
    head += [h for h, _ in columns + pairs]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, runs in groups.items():
        for seed, report in runs:
            row = [name] + ([seed or ""] if seeded else []) + [size(report, counted)]
            row += [cell(get(report)) for _, get in columns]
            row += [paired(get(report)) for _, get in pairs]
            print("| " + " | ".join(row) + " |")
        if len(runs) > 1:
            reports = [report for _, report in runs]
            sizes = {size(r, counted) for r in reports}
            row = [name, f"mean of {len(runs)}", sizes.pop() if len(sizes) == 1 else "differ"]
            row += [spread([(get(r) or {}).get("em") for r in reports]) for _, get in columns]
            row += [spread([(get(r) or {}).get("diff") for r in reports], "+") for _, get in pairs]
            print("| " + " | ".join(row) + " |")
    if compares:
        print()
        print("| comparison | column | difference of seed means | seeds of the first | "
              "seeds of the second | beyond the seed spread |")
        print("|---|---|---|---|---|---|")
    for x, y in compares:
        for name in (x, y):
            if name not in groups:
                sys.exit(f"--compare names {name}, which no LABEL has")
        for header, get in columns:
            a = [(get(r) or {}).get("em") for _, r in groups[x]]
            b = [(get(r) or {}).get("em") for _, r in groups[y]]
            if None in a or None in b:
                continue
            apart = min(a) > max(b) or max(a) < min(b)
            verdict = "yes" if apart else "no: the seeds' ranges overlap"
            print(f"| {x} − {y} | {header} | {sum(a) / len(a) - sum(b) / len(b):+.3f} | "
                  f"{', '.join(f'{v:.3f}' for v in a)} | {', '.join(f'{v:.3f}' for v in b)} | "
                  f"{verdict} |")


if __name__ == "__main__":
    main(sys.argv[1:])
