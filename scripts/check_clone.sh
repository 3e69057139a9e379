#!/usr/bin/env bash
# The repository as a user meets it: `git clone` of the committed HEAD into an empty temporary
# folder, so nothing sits beside the clone, then checks run inside the clone.
#
#   scripts/check_clone.sh                  scripts/test.sh in the clone: set-up, build, every
#                                           test (the full check; the venv and ccache in
#                                           ~/.cache/tttmem are reused, but units behind the
#                                           precompiled header rebuild from another path)
#   scripts/check_clone.sh --quick TTTMEM   a minute or two: the tracked-files check, configure and
#                                           the torch-free library with the shared ccache, then
#                                           the commands that read shipped data, run in the clone
#                                           with the given tttmem binary (ctest `clone_quick`)
#
# Uncommitted changes are not in the clone: commit first. The folder is removed at the end
# unless TTTMEM_KEEP_CLONE=1. Exit 77 (ctest: skipped) when the source is not a git checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=""
if [ "${1:-}" = "--quick" ]; then
  quick="$(realpath "${2:?--quick needs the tttmem binary to run}")"
fi
if ! git -C "$root" rev-parse --verify -q HEAD >/dev/null 2>&1; then
  echo "check_clone: $root is not a git checkout with a commit: skipped"
  exit 77
fi

parent="$(mktemp -d "${TMPDIR:-/tmp}/tttmem-clone.XXXXXX")"
[ "${TTTMEM_KEEP_CLONE:-0}" = 1 ] || trap 'rm -rf "$parent"' EXIT
clone="$parent/tttmem"
git clone -q --no-hardlinks "$root" "$clone"
echo "check_clone: $(git -C "$clone" rev-parse --short HEAD) cloned into $clone"
# A clone's origin is the folder it came from; a user's is a remote. Forget it, so nothing in
# the clone can reach back.
git -C "$clone" remote remove origin

if [ -z "$quick" ]; then
  start=$SECONDS
  "$clone/scripts/test.sh"
  echo "check_clone: scripts/test.sh passed in a fresh clone in $((SECONDS - start)) s"
  exit 0
fi

cd "$clone"
scripts/check_no_outside_paths.sh
scripts/setup.sh
TTTMEM_TARGETS=tttmem_base scripts/build.sh -DTTTMEM_CUDA=OFF -DTTTMEM_FUZZ=OFF
echo "check_clone: configured and built tttmem_base in the clone"

# The shipped tokenizer: added tokens load (<|im_end|> is id 151645) and text round-trips.
tok=configs/tokenizers/qwen3
test "$("$quick" tokenize --tokenizer "$tok" --special --text '<|im_end|>')" = 151645
text='问题：新同事叫什么？'
ids="$("$quick" tokenize --tokenizer "$tok" --text "$text")"
test "$("$quick" tokenize --tokenizer "$tok" --decode --text "$ids")" = "$text"
# The published benchmark, regenerated (its sha256 as published) and measured in Qwen tokens.
"$quick" build-benchmark --seed 42 --samples-per-level 100 --out "$parent/benchmark_v1.json" \
  >/dev/null
echo "e37ad24c552803e0f59753021e1d1968b6d13c3e4d966ff9521fbba62e2cafaf  $parent/benchmark_v1.json" |
  sha256sum --check --quiet
"$quick" build-benchmark --validate "$parent/benchmark_v1.json" --tokenizer "$tok" >/dev/null
# A shipped model config and the tokenizer at run time.
"$quick" init-model --config configs/models/tiny-qwen3.json --seed 1 --out "$parent/tiny" \
  2>/dev/null
"$quick" forward --model "$parent/tiny" --tokenizer "$tok" --text "$text" \
  --out "$parent/logits.safetensors" 2>/dev/null
echo "check_clone: the quick check passed in the clone"
