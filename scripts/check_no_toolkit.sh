#!/usr/bin/env bash
# A machine without a CUDA toolkit: set-up, build and a short pipeline must work with
# only the pip toolkit components scripts/setup.sh installs into the venv. The system toolkit is
# hidden in a private mount namespace: empty folders are bound over the toolkit folders and over
# every PATH folder holding nvcc. Inside, the script runs scripts/setup.sh, builds the tttmem
# target into build-no-toolkit/ and runs build-benchmark, sanity, run and evaluate on
# models/tiny-demo with that binary.
#
#   scripts/check_no_toolkit.sh
#
# Exit 77 (skipped) where unshare or mount is not permitted, or where nvcc sits in a system
# folder such as /usr/bin that cannot be hidden without hiding the shell.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-no-toolkit"

if [ "${1:-}" != --hidden ]; then
  start=$SECONDS
  empty="$(mktemp -d "${TMPDIR:-/tmp}/tttmem-empty.XXXXXX")"
  trap 'rmdir "$empty"' EXIT
  if ! unshare -m mount --bind "$empty" "$empty" 2>/dev/null; then
    echo "check_no_toolkit: unshare -m or mount --bind is not permitted here (needs root): skipped"
    exit 77
  fi
  hide=()
  for d in /usr/local/cuda /usr/local/cuda-* /opt/cuda* "${CUDA_HOME:-}" "${CUDA_PATH:-}"; do
    if [ -n "$d" ] && [ -d "$d" ]; then hide+=("$(realpath "$d")"); fi
  done
  IFS=: read -ra path_dirs <<<"$PATH"
  for d in "${path_dirs[@]}"; do
    if [ -e "$d/nvcc" ] || [ -L "$d/nvcc" ]; then hide+=("$(realpath "$d")"); fi
  done
  # Sorted, a folder comes before the folders inside it, which it then hides with itself.
  mapfile -t hide < <(printf '%s\n' "${hide[@]}" | sort -u)
  rc=0
  unshare -m env -u CUDA_HOME -u CUDA_PATH -u CUDACXX -u CUDAToolkit_ROOT \
    "$root/scripts/check_no_toolkit.sh" --hidden "$empty" "${hide[@]}" || rc=$?
  echo "check_no_toolkit: exit $rc after $((SECONDS - start)) s"
  exit "$rc"
fi

empty="$2"
shift 2
system=()
for d in "$@"; do
  [ -d "$d" ] || continue
  # A folder with the shell in it (/usr/bin) holds far more than a toolkit.
  if [ -x "$d/bash" ]; then system+=("$d"); continue; fi
  mount --bind "$empty" "$d"
  echo "check_no_toolkit: hid $d"
done
if nvcc="$(command -v nvcc)" || nvcc="$(ls /usr/local/cuda/bin/nvcc 2>/dev/null)"; then
  for d in "${system[@]}"; do
    if [ "$(dirname "$nvcc")" = "$d" ]; then
      echo "check_no_toolkit: nvcc is in the system folder $d, which cannot be hidden: skipped"
      exit 77
    fi
  done
  echo "check_no_toolkit: nvcc is still visible at $nvcc" >&2
  exit 1
fi
echo "check_no_toolkit: no nvcc visible"

"$root/scripts/setup.sh"
TTTMEM_BUILD_DIR="$build" TTTMEM_TARGETS=tttmem "$root/scripts/build.sh" \
  -DTTTMEM_TESTS=OFF -DTTTMEM_BENCHMARKS=OFF
grep -q "^CMAKE_CUDA_COMPILER:[A-Z]*=$root/.venv/cuda/bin/nvcc$" "$build/CMakeCache.txt" ||
  { echo "check_no_toolkit: the build did not use the venv's pip toolkit" >&2; exit 1; }
if ldd "$build/tttmem" | grep 'not found'; then
  echo "check_no_toolkit: $build/tttmem misses the libraries above" >&2
  exit 1
fi
kernels=no
[ ! -f "$build/libtttmem_kernels.a" ] || kernels=yes
echo "check_no_toolkit: built $build/tttmem with the pip toolkit (CUDA kernels built: $kernels)"

tttmem="$build/tttmem"
model="$root/models/tiny-demo"
out="$build/check"
rm -rf "$out"
mkdir -p "$out"
"$tttmem" --seed 7 build-benchmark --format v2 --samples-per-level 1 --distractor-tokens 128 \
  --tokenizer "$model" --out "$out/benchmark.json"
"$tttmem" sanity --model "$model" --json "$out/sanity.json"
"$tttmem" run --model "$model" --benchmark "$out/benchmark.json" --condition all --limit 1 \
  --out "$out/run"
"$tttmem" evaluate --results "$out/run" --benchmark "$out/benchmark.json" --out "$out/eval"
echo "check_no_toolkit: set-up, build and pipeline passed without a system CUDA toolkit"
