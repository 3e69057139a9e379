#!/usr/bin/env bash
# The test command: set-up (if anything is missing), build, then every ctest suite, including
# the Python oracles. GPU-labelled tests skip themselves when no CUDA device is present.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
start=$SECONDS
"$root/scripts/setup.sh"
"$root/scripts/build.sh" "$@"
echo "test.sh: set-up and build took $((SECONDS - start)) s"
ctest --test-dir "${TTTMEM_BUILD_DIR:-$root/build}" --output-on-failure -j"$(nproc)" --timeout 1500
echo "test.sh: total $((SECONDS - start)) s"
