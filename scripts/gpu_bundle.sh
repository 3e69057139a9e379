#!/usr/bin/env bash
# Packs what scripts/gpu_check.sh runs on a CUDA machine that cannot build tttmem itself (no
# network, none of the apt packages): the stripped binaries (tttmem, the gpu test suite, the C++
# benchmarks), the shared libraries they need besides libtorch and the C/C++ runtime (the machine
# brings its own torch of the same version), the run and Gemma3 reference fixtures, and the commit.
# Usage: scripts/gpu_bundle.sh [OUT] (default build/gpu-bundle.tar.xz, under 64 MiB).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TTTMEM_BUILD_DIR:-$root/build}"
out="${1:-$build/gpu-bundle.tar.xz}"
targets=(tttmem test_gpu bench_model bench_load bench_ttt)
TTTMEM_TARGETS="${targets[*]}" "$root/scripts/build.sh"
# The reference fixtures the gpu suite compares against (made by their Python oracles).
if [ ! -f "$build/fixtures/run_reference/reference.json" ]; then
  ctest --test-dir "$build" -R '^oracle_make_run_reference$' --output-on-failure >/dev/null
fi
if [ ! -f "$build/fixtures/gemma3_reference/reference.json" ]; then
  ctest --test-dir "$build" -R '^oracle_make_gemma3_reference$' --output-on-failure >/dev/null
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build/tests" "$stage/build/benchmark" "$stage/lib" "$stage/fixtures"
strip -o "$stage/build/tttmem" "$build/tttmem"
strip -o "$stage/build/tests/test_gpu" "$build/tests/test_gpu"
for b in bench_model bench_load bench_ttt; do
  strip -o "$stage/build/benchmark/$b" "$build/benchmark/$b"
done
# Shared libraries from the system (not libtorch's, not glibc's or the compiler runtime's).
for bin in "$stage"/build/tttmem "$stage"/build/tests/test_gpu "$stage"/build/benchmark/*; do
  ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | libutil.so* | ld-linux* | \
      libgcc_s.so* | libstdc++.so* | libtorch* | libc10* | libgomp* | libnvrtc* | libcublas* | \
      libcudnn* | libnccl* | libnv* | libcusparse* | libcufft* | libcurand* | libcusolver* | \
      libcupti* | libcufile* | libshm*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
cp -r "$build/fixtures/run_reference" "$build/fixtures/gemma3_reference" "$stage/fixtures/"
commit="$(git -C "$root" rev-parse HEAD)"
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] || commit+="+dirty"
echo "$commit" >"$stage/commit"
tar -C "$stage" -cJf "$out.tmp" .
mv "$out.tmp" "$out"
size=$(stat -c %s "$out")
echo "gpu bundle: $out ($((size / 1024 / 1024)) MiB; the device tool carries at most 64 MiB)"
[ "$size" -lt $((64 * 1024 * 1024)) ]
