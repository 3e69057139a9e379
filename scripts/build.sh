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
if [ ! -f "$build/CMakeCache.txt" ] || [ "$#" -gt 0 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DTTTMEM_PYTHON="$root/.venv/bin/python" "$@" >/dev/null
fi
# TTTMEM_TARGETS (space-separated) builds only those targets.
cmake --build "$build" -j"$(nproc)" ${TTTMEM_TARGETS:+--target $TTTMEM_TARGETS}
