#!/usr/bin/env bash
# The demo: set up, build, then run the pipeline on the built-in tiny model, end to end as far as
# this version goes. Everything lands in out/demo/ (ignored by git).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tokenizer="$root/configs/tokenizers/qwen3"
out="$root/out/demo"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
tttmem="${TTTMEM_BUILD_DIR:-$root/build}/tttmem"
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }

step "1. benchmark: regenerate the published benchmark and check it byte for byte"
"$tttmem" build-benchmark --seed 42 --samples-per-level 100 --out "$out/benchmark_v1.json"
# sha256 of the published file (SPEC.md "Data the repository ships").
echo "e37ad24c552803e0f59753021e1d1968b6d13c3e4d966ff9521fbba62e2cafaf  $out/benchmark_v1.json" |
  sha256sum --check
"$tttmem" build-benchmark --validate "$out/benchmark_v1.json" --tokenizer "$tokenizer"

step "2. tokenizer: a probe prompt of the seed protocol"
"$tttmem" tokenize --tokenizer "$tokenizer" --text "问题：新同事叫什么？
回答："

step "3. model: a random tiny Qwen3 in the real checkpoint layout (2 shards)"
"$tttmem" init-model --config "$root/configs/models/tiny-qwen3.json" --seed 42 --shards 2 \
  --out "$out/tiny-qwen3"
"$tttmem" info --model "$out/tiny-qwen3"

step "4. forward: logits of the tiny model on a conversation line"
"$tttmem" forward --model "$out/tiny-qwen3" --tokenizer "$tokenizer" \
  --text "A：你好，张伟，最近怎么样？" --out "$out/logits.safetensors"
"$tttmem" info --model "$out/logits.safetensors"

step "5. the experiment layer (train-minimal, sanity, run, evaluate)"
for cmd in train-minimal sanity run evaluate; do
  "$tttmem" "$cmd" --help | head -1
done
echo "These are the next milestone; see the open issues."
printf '\ndemo: outputs in %s\n' "$out"
