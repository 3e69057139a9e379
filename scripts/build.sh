#!/usr/bin/env bash
# Configures and builds tttmem into build/ (or $TTTMEM_BUILD_DIR) with ccache kept outside the
# clone. Extra arguments go to the CMake configure step.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TTTMEM_BUILD_DIR:-$root/build}"
export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tttmem/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-8G}"
# Paths relative to the clone, and no working directory in the hash: a fresh clone elsewhere
# (as CI makes) still hits the cache.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
# The CUDA toolkit torch's CMake config needs: $CUDA_HOME when it holds nvcc, else whatever
# CMake finds itself (nvcc on PATH, /usr/local/cuda), else the pip components scripts/setup.sh
# installed into the venv when the system had none.
cuda_root=""
if [ -x "${CUDA_HOME:-}/bin/nvcc" ]; then
  cuda_root="$CUDA_HOME"
elif [ ! -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null &&
  [ -x "$root/.venv/cuda/bin/nvcc" ]; then
  cuda_root="$root/.venv/cuda"
fi
cuda_args=()
if [ -n "$cuda_root" ]; then
  # FindCUDA (torch), FindCUDAToolkit and the CUDA language each read their own variable.
  cuda_args=(-DCUDA_TOOLKIT_ROOT_DIR="$cuda_root" -DCUDAToolkit_ROOT="$cuda_root"
    -DCMAKE_CUDA_COMPILER="$cuda_root/bin/nvcc")
fi
if [ ! -f "$build/CMakeCache.txt" ] || [ "$#" -gt 0 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DTTTMEM_PYTHON="$root/.venv/bin/python" \
    "${cuda_args[@]}" "$@" >/dev/null
fi
# TTTMEM_TARGETS (space-separated) builds only those targets.
cmake --build "$build" -j"$(nproc)" ${TTTMEM_TARGETS:+--target $TTTMEM_TARGETS}
