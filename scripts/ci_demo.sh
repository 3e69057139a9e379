#!/usr/bin/env bash
# CI's demo check: scripts/demo.sh on the existing build with 2 samples per level, then the report
# must hold A, B, C and D under both protocols and the trained tiny model must answer from its
# context (EM(A) > EM(C) under the fixed protocol, which keeps its TTT parameters).
# Usage: ci_demo.sh BUILD_DIR. tests/CMakeLists.txt registers it as the ctest `demo_pipeline`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
TTTMEM_BUILD_DIR="$1" "$root/scripts/demo.sh" --no-setup --samples 2 --out "$work"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
for protocol in ("seed", "fixed"):
    report = json.load(open(f"{work}/{protocol}/eval/report.json", encoding="utf-8"))
    conditions = report["by_condition"]
    missing = {"a", "b", "c", "d"} - set(conditions)
    if missing:
        sys.exit(f"{protocol}: report.json lacks conditions {sorted(missing)}")
    em = {c: conditions[c]["overall"]["em"] for c in "abcd"}
    print(f"{protocol}: EM " + ", ".join(f"{c.upper()} {v:.3f}" for c, v in em.items()))
    if protocol == "fixed" and not em["a"] > em["c"]:
        sys.exit(f"fixed: EM(A) {em['a']} is not above EM(C) {em['c']}: the demo model does not read its context")
PY
