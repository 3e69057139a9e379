#!/usr/bin/env python3
"""Pack the raw outputs of a recipe's folder (e.g. scripts/tiny_memory_training.sh --out DIR)
into one reproducible .tar.xz for results/: what `tttmem evaluate` re-scores and nothing it can
rebuild.

  pack_results.py DIR ARCHIVE

Kept, paths relative to DIR: every `*_benchmark.json` at its top except the training set (the
recipe regenerates it from its seed), and in every `run` folder `run.json` and each condition's
records, `condition_<x>.jsonl` (its `condition_<x>.json` only where there is no JSONL: a copied
B or C); every `metrics.jsonl` (a train-minimal folder's training curve, wherever the recipe put
it). Checkpoints, reports and figures are
left out. Entries are sorted, owned by 0:0 and dated 0, so the same outputs give the same bytes.
Standard library only.
"""
import pathlib
import sys
import tarfile


def kept(root):
    for path in sorted(root.glob("*_benchmark.json")):
        if path.name != "train_benchmark.json":
            yield path
    for run in sorted(root.rglob("run")):
        if not run.is_dir():
            continue
        yield run / "run.json"
        for record in sorted(run.glob("condition_*.json")):
            jsonl = record.with_suffix(".jsonl")
            yield jsonl if jsonl.exists() else record
    yield from sorted(root.rglob("metrics.jsonl"))


def main(args):
    if len(args) != 2:
        sys.exit(__doc__)
    root, archive = pathlib.Path(args[0]), pathlib.Path(args[1])
    if not root.is_dir():
        sys.exit(f"{root}: not a folder")
    files = sorted({p for p in kept(root) if p.is_file()})
    if not files:
        sys.exit(f"{root}: no raw outputs found")
    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w:xz", preset=9) as tar:
        for path in files:
            info = tar.gettarinfo(path, arcname=str(path.relative_to(root)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with open(path, "rb") as f:
                tar.addfile(info, f)
    partial.replace(archive)  # atomic: a killed run leaves the old archive
    print(f"{archive}: {len(files)} files, {archive.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
