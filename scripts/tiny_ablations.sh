#!/usr/bin/env bash
# Inference-time ablations of the TTT memory on a model (default: the built-in tiny model), on a
# held-out v2 benchmark: each setting runs conditions A, B, C and D, is scored by `evaluate`, and
# one table (summarize_reports.py) collects them with 95% bootstrap CIs.
#
#   scripts/tiny_ablations.sh [--model DIR] [--samples N] [--out DIR]
#
# Everything runs in fp32 except the two bf16 precision settings. The model's TTT parameters were
# trained at its config's chunk, eta and layers; changing them here asks how sensitive the
# trained memory is, not what training at that setting would give.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="$root/models/tiny-demo"
samples=20
out="$root/out/ablations"
while (($#)); do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--model DIR] [--samples N] [--out DIR]" >&2; exit 2 ;;
  esac
done
tttmem="${TTTMEM_BUILD_DIR:-$root/build}/tttmem"
mkdir -p "$out"
bench="$out/benchmark.json"
"$tttmem" --seed 7 build-benchmark --format v2 --split train --samples-per-level "$samples" \
  --distractor-tokens 128 --tokenizer "$model" --out "$bench"

rows=()
# [dtype=bf16] setting NAME CONDITION -- RUN FLAGS...
setting() {
  local name="$1" condition="$2"
  shift 3
  rm -rf "$out/$name"
  "$tttmem" --dtype "${dtype:-fp32}" run --model "$model" --benchmark "$bench" --condition "$condition" --batch-size 32 \
    --out "$out/$name/run" "$@"
  "$tttmem" evaluate --results "$out/$name/run" --benchmark "$bench" --out "$out/$name/eval" >/dev/null
  rows+=("$name=$out/$name/eval")
}
fixed=(--trained-ttt-in-a-c --freeze-while-answering --distractor-in-a-c)
setting fixed all -- --protocol fixed
setting partial_chunk_drop all -- "${fixed[@]}"
setting probe_time_updates all -- --trained-ttt-in-a-c --flush-partial-chunk --distractor-in-a-c
for chunk in 16 64 128; do setting "chunk_$chunk" all -- --protocol fixed --ttt-chunk "$chunk"; done
for lr in 0.5 2; do setting "eta_$lr" all -- --protocol fixed --ttt-lr "$lr"; done
# In bf16 the upstream fast weight is a dense bf16 W (rounded at every update); fp32 keeps an fp32
# delta. In fp32 both are fp32, so the pair only differs under --dtype bf16.
dtype=bf16 setting bf16_upstream all -- --protocol fixed
dtype=bf16 setting bf16_fp32_delta all -- --protocol fixed --ttt-precision fp32
for layers in 0 2; do setting "ttt_layer_${layers}_only" all -- --protocol fixed --ttt-layers "$layers"; done
python3 "$root/scripts/summarize_reports.py" "${rows[@]}" | tee "$out/summary.md"
