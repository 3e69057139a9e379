#!/usr/bin/env bash
# Issue 13 on the tiny model: does training for memory lift B above C, and what does it cost in A?
# From the LM-trained demo model, 150 optimizer steps of each objective (lm, memory, mixed) on
# each trainable set (ttt, all), on seed-1001 conversations (the demo model's training seed),
# then A, B, C, D under --protocol fixed on the held-out seed-7 benchmark; one table.
#
#   scripts/tiny_memory_training.sh [--samples N] [--steps N] [--out DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
samples=20
steps=150
out="$root/out/memory"
while (($#)); do
  case "$1" in
    --samples) samples="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--samples N] [--steps N] [--out DIR]" >&2; exit 2 ;;
  esac
done
tttmem="${TTTMEM_BUILD_DIR:-$root/build}/tttmem"
model="$root/models/tiny-demo"
mkdir -p "$out"
run() { "$tttmem" --seed 42 --dtype fp32 "$@"; }

bench() {  # SEED SAMPLES_PER_LEVEL FILE
  "$tttmem" --seed "$1" build-benchmark --format v2 --samples-per-level "$2" --distractor-tokens 128 \
    --tokenizer "$model" --out "$3" >/dev/null
}
bench 1001 500 "$out/train_benchmark.json"
bench 1002 10 "$out/dev_benchmark.json"
bench 7 "$samples" "$out/heldout_benchmark.json"
# The LM rows: the demo model's own format (a conversation and all its probes per row).
python3 "$root/scripts/demo_model/make_corpus.py" "$out/train_benchmark.json" --out "$out" \
  --exclude "$out/heldout_benchmark.json" >/dev/null

rows=()
evaluate() {  # NAME MODEL [RUN FLAGS...]
  local name="$1" with="$2"
  shift 2
  rm -rf "$out/$name/run" "$out/$name/eval"
  run run --model "$with" --tokenizer "$model" --benchmark "$out/heldout_benchmark.json" --condition all \
    --protocol fixed --batch-size 32 --out "$out/$name/run" "$@"
  run evaluate --results "$out/$name/run" --benchmark "$out/heldout_benchmark.json" \
    --out "$out/$name/eval" >/dev/null
  rows+=("$name=$out/$name/eval")
}
evaluate lm_trained_demo "$model"
common=(--steps "$steps" --batch-size 4 --grad-accum 1 --seq-len 768 --lr 1e-3 --schedule constant --warmup 10
        --save-every 0 --eval-every 50)
memory=(--memory-data "$out/train_benchmark.json" --memory-eval-data "$out/dev_benchmark.json"
        --memory-protocol fixed)
for trainable in ttt all; do
  for objective in lm memory mixed; do
    name="${objective}_${trainable}"
    rm -rf "$out/$name"
    data=()
    [[ $objective != memory ]] && data+=(--data "$out/corpus.jsonl" --eval-data "$out/eval.jsonl")
    [[ $objective != lm ]] && data+=("${memory[@]}")
    run train-minimal --model "$model" --objective "$objective" --trainable "$trainable" \
      "${data[@]}" "${common[@]}" --out "$out/$name/train"
    if [[ $trainable == ttt ]]; then
      evaluate "$name" "$model" --ttt "$out/$name/train/ttt.safetensors"
    else
      evaluate "$name" "$out/$name/train/model"  # `all` changed the base: its model folder
    fi
  done
done
python3 "$root/scripts/summarize_reports.py" "${rows[@]}" | tee "$out/summary.md"
