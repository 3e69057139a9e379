"""The eager pipeline that bench_run.py measures tttmem against (scripts/eager_pipeline.py) does
the seed experiment's work: on the run reference fixture (make_run_reference.py) its generated ids
equal the oracle's for every probe of A, B, C and D, up to the oracle's first near-tie.

  python tests/python/check_eager_pipeline.py --fixtures BUILD/fixtures
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import eager_pipeline  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", required=True, type=Path)
    folder = ap.parse_args().fixtures / "run_reference"
    ref = json.loads((folder / "reference.json").read_text())
    res = eager_pipeline.run_all(folder / "model", folder / "model" / "model.safetensors",
                                 ref["ttt_layers"], ref["chunk"], ref["lr"],
                                 folder / "benchmark.json", ROOT / "configs/tokenizers/qwen3",
                                 "cpu", "fp32")
    failures, compared = [], 0
    for name in eager_pipeline.CONDITIONS:
        expected = [json.loads(line) for line in
                    (folder / f"expected_{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        got = res["conditions"][name]["records"]
        if len(got) != len(expected):
            failures.append(f"{name}: {len(got)} probes, the oracle answered {len(expected)}")
            continue
        for e, g in zip(expected, got):
            upto = e["tie_at"] if e["tie_at"] is not None else len(e["output_ids"])
            compared += 1
            if (g["sample_id"], g["probe_id"]) != (e["sample_id"], e["probe_id"]) or \
                    g["output_ids"][:upto] != e["output_ids"][:upto]:
                failures.append(f"{name} {e['sample_id']} {e['probe_id']}: "
                                f"{g['output_ids'][:upto]} != {e['output_ids'][:upto]}")
    print(f"eager pipeline: {compared - len(failures)} of {compared} probes equal the oracle's ids")
    for f in failures[:10]:
        print("  " + f)
    sys.exit(1 if failures or not compared else 0)


if __name__ == "__main__":
    main()
