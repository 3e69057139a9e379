#!/usr/bin/env bash
# The demo: set up, build, then run the whole pipeline on a random tiny model, end to end. Everything lands in out/demo/ (ignored by git).
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

step "5. the experiment on the random tiny model: train, sanity, run, evaluate"
# A random model answers nothing: this shows the pipeline working end to end, not a result (the
# trained tiny demo model is a later milestone). TTT on layers 0 and 2, chunk 8, so a conversation
# crosses many chunk boundaries.
ttt=(--ttt-layers 0,2 --ttt-chunk 8 --ttt-lr 3)
# Training text: the first 16 conversations of the benchmark.
"$root/.venv/bin/python" - "$out/benchmark_v1.json" > "$out/corpus.jsonl" <<'PY'
import json, sys
for sample in json.load(open(sys.argv[1]))["samples"][:16]:
    print(json.dumps({"text": sample["conversation"]}, ensure_ascii=False))
PY
"$tttmem" --dtype fp32 train-minimal --model "$out/tiny-qwen3" --tokenizer "$tokenizer" \
  --data "$out/corpus.jsonl" --out "$out/train" "${ttt[@]}" --ttt-init dense \
  --steps 8 --batch-size 2 --grad-accum 1 --seq-len 64 --lr 1e-2
"$tttmem" --dtype fp32 sanity --model "$out/tiny-qwen3" --tokenizer "$tokenizer" \
  --ttt "$out/train/ttt.safetensors" "${ttt[@]}" --json "$out/sanity.json"
rm -rf "$out/run"
"$tttmem" --dtype fp32 run --model "$out/tiny-qwen3" --tokenizer "$tokenizer" \
  --ttt "$out/train/ttt.safetensors" "${ttt[@]}" --benchmark "$out/benchmark_v1.json" \
  --condition all --limit 1 --max-new-tokens 8 --batch-size 16 --out "$out/run"
"$tttmem" evaluate --results "$out/run" --out "$out/eval" --benchmark "$out/benchmark_v1.json"
printf '\ndemo: outputs in %s (report: %s)\n' "$out" "$out/eval/report.json"
