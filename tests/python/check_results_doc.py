#!/usr/bin/env python3
"""RESULTS.md cannot drift from the raw outputs committed under results/: every block of it
between a check marker and `<!-- end check -->` is regenerated from those outputs, and each of
its non-empty lines must occur, verbatim, in what the regeneration prints.

Markers (HTML comments, invisible when rendered):

  <!-- check: evaluate RESULTS_DIR BENCHMARK -->
      `tttmem evaluate --results RESULTS_DIR --benchmark BENCHMARK`; the block's lines are
      looked up in its results.md.
  <!-- check: summary BENCHMARK [--conditions a,b] [--compare X:Y ...] LABEL=RESULTS_DIR ... -->
      each RESULTS_DIR evaluated as above, then scripts/summarize_reports.py over them with the
      options given (the tables of the ablation and training-seed sections).

Paths are relative to the repository root; a path through an archive,
`results/NAME.tar.xz/INNER/PATH`, names INNER/PATH inside it (large sets of raw outputs ship
compressed; the archive is unpacked into a temporary folder). A marker without an end, an empty
block or a folder that does not exist is an error too, so a block cannot silently stop being
checked.

  check_results_doc.py --tttmem BIN [--root DIR]
"""
import argparse
import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile
import threading

MARKER = re.compile(r"^<!-- check: (evaluate|summary) (.+) -->$")
END = "<!-- end check -->"


def blocks(doc):
    """(line number, kind, arguments, block lines) of every checked block."""
    lines = doc.splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i].strip())
        if not m:
            i += 1
            continue
        start = i + 1
        try:
            end = lines.index(END, start)
        except ValueError:
            sys.exit(f"RESULTS.md:{start}: check marker without `{END}`")
        body = [line for line in lines[start:end] if line.strip()]
        if not body:
            sys.exit(f"RESULTS.md:{start}: empty checked block")
        out.append((start, m.group(1), m.group(2).split(), body))
        i = end + 1
    return out


class Paths:
    """Resolves the paths of markers, unpacking each archive they go through once."""

    def __init__(self, root, scratch):
        self.root, self.scratch, self.unpacked = root, scratch, {}
        self.lock = threading.Lock()  # evaluations resolve paths from several threads

    def __call__(self, path):
        with self.lock:
            return self.resolve(path)

    def resolve(self, path):
        parts = pathlib.PurePosixPath(path).parts
        for i, part in enumerate(parts):
            if part.endswith(".tar.xz"):
                archive = self.root.joinpath(*parts[:i + 1])
                if not archive.is_file():
                    break
                if archive not in self.unpacked:
                    target = self.scratch / f"archive{len(self.unpacked)}"
                    with tarfile.open(archive, "r:xz") as tar:
                        tar.extractall(target, filter="data")
                    self.unpacked[archive] = target
                resolved = self.unpacked[archive].joinpath(*parts[i + 1:])
                break
        else:
            resolved = self.root / path
        if not resolved.exists():
            sys.exit(f"RESULTS.md names {path}, which does not exist")
        return resolved


class Evaluations:
    """`tttmem evaluate` of each (RESULTS_DIR, BENCHMARK) pair once, in parallel: a folder can
    appear in several blocks (a shared baseline row), and there are a hundred or more."""

    def __init__(self, tttmem, paths, scratch):
        self.tttmem, self.paths, self.scratch, self.outs = tttmem, paths, scratch, {}

    def run(self, pairs):
        todo = [p for p in dict.fromkeys(pairs) if p not in self.outs]
        for pair in todo:
            self.outs[pair] = self.scratch / f"eval{len(self.outs)}"
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            for failure in pool.map(self.evaluate, todo):
                if failure:
                    sys.exit(failure)

    def evaluate(self, pair):
        results, benchmark = pair
        done = subprocess.run([self.tttmem, "--log-level", "error", "evaluate", "--results",
                               str(self.paths(results)), "--benchmark", str(self.paths(benchmark)),
                               "--out", str(self.outs[pair])], capture_output=True, text=True)
        if done.returncode != 0:
            return f"evaluate of {results} failed:\n{done.stdout}{done.stderr}"
        return None


def parse(kind, args):
    """The (RESULTS_DIR, BENCHMARK) pairs a block needs, and how to print it from their outputs."""
    if kind == "evaluate":
        if len(args) != 2:
            sys.exit(f"check: evaluate takes RESULTS_DIR BENCHMARK, got {args}")
        pair = (args[0], args[1])
        return [pair], lambda root, outs: (outs[pair] / "results.md").read_text(encoding="utf-8")
    benchmark, rest = args[0], args[1:]
    options = []
    while rest[:1] in (["--conditions"], ["--compare"], ["--distractor-lengths"]):
        width = 1 if rest[0] == "--distractor-lengths" else 2
        options += rest[:width]
        rest = rest[width:]
    items = [item.split("=", 1) for item in rest]
    pairs = [(folder, benchmark) for _, folder in items]

    def summary(root, outs):
        rows = [f"{label}={outs[(folder, benchmark)]}" for label, folder in items]
        return subprocess.run([sys.executable, str(root / "scripts/summarize_reports.py"),
                               *options, *rows], check=True, capture_output=True, text=True).stdout
    return pairs, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tttmem", required=True)
    ap.add_argument("--root", default=pathlib.Path(__file__).resolve().parents[2], type=pathlib.Path)
    args = ap.parse_args()
    found = blocks((args.root / "RESULTS.md").read_text(encoding="utf-8"))
    if not found:
        sys.exit("RESULTS.md has no checked block")
    parsed = [parse(kind, marker_args) for _, kind, marker_args, _ in found]
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        evaluations = Evaluations(args.tttmem, Paths(args.root, scratch / "archives"), scratch)
        evaluations.run([pair for pairs, _ in parsed for pair in pairs])
        for (line_no, kind, marker_args, body), (_, text) in zip(found, parsed):
            fresh = set(text(args.root, evaluations.outs).splitlines())
            failures += check(line_no, kind, marker_args, body, fresh)
    sys.exit(1 if failures else 0)


def check(line_no, kind, marker_args, body, fresh):
    """The block's lines the regeneration does not print, reported; their count."""
    failures = 0
    for line in body:
        if line not in fresh:
            failures += 1
            print(f"RESULTS.md block at line {line_no} ({kind} {' '.join(marker_args)}): "
                  f"not what the outputs give now:\n  {line}")
    print(f"RESULTS.md:{line_no}: {kind}: {len(body)} lines checked")
    return failures


if __name__ == "__main__":
    main()
