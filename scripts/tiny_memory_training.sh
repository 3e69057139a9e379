#!/usr/bin/env bash
# Issue 13 on the tiny model: can fast weights be trained to remember, and what does it cost in A?
# Every trained setting starts from the LM-trained demo model and trains 150 optimizer steps on
# seed-1001 conversations (the demo model's training seed); every evaluation runs A, B, C and D
# under --protocol fixed on the held-out seed-7 benchmark. Four parts, one table each:
#
#   objectives  each objective (lm, memory, mixed) on each trainable set (ttt, all)
#   ablations   the memory objective (trainable ttt) trained and evaluated at each setting: the
#               seed's ingestion (partial chunk dropped, probe-time updates), chunk 16/64/128,
#               eta 0.5/2, bf16, and the TTT layer placements (every sixth, last 25%, all)
#   placements  the layer placements again, every weight trained on LM + memory (mixed, all)
#   scroll      the scroll-out condition at windows 96/128/256 for the LM- and memory-trained TTT,
#               and with eta 0 (no fast-weight memory: what the window lets through)
#
#   scripts/tiny_memory_training.sh [--part objectives|ablations|placements|scroll|all] [--samples N]
#                                   [--steps N] [--out DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
part=all
samples=20
steps=150
out="$root/out/memory"
while (($#)); do
  case "$1" in
    --part) part="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--part objectives|ablations|placements|scroll|all] [--samples N] [--steps N] [--out DIR]" >&2
       exit 2 ;;
  esac
done
case "$part" in objectives|ablations|placements|scroll|all) ;; *) echo "$0: unknown --part '$part'" >&2; exit 2 ;; esac
tttmem="${TTTMEM_BUILD_DIR:-$root/build}/tttmem"
model="$root/models/tiny-demo"
heldout="$out/heldout_benchmark.json"
mkdir -p "$out"

bench() {  # SEED SAMPLES_PER_LEVEL FILE
  [[ -f $3 ]] || "$tttmem" --seed "$1" build-benchmark --format v2 --split train --samples-per-level "$2" \
    --distractor-tokens 128 --tokenizer "$model" --out "$3" >/dev/null
}
bench 1001 500 "$out/train_benchmark.json"
bench 1002 10 "$out/dev_benchmark.json"
bench 7 "$samples" "$heldout"
# The LM rows: the demo model's own format (a conversation and all its probes per row).
[[ -f $out/corpus.jsonl ]] || python3 "$root/scripts/demo_model/make_corpus.py" \
  "$out/train_benchmark.json" --out "$out" --exclude "$heldout" >/dev/null

# DTYPE=fp32 MEMORY_PROTOCOL=fixed train NAME OBJECTIVE TRAINABLE [TRAIN-MINIMAL FLAGS...]
train() {
  local name="$1" objective="$2" trainable="$3"
  shift 3
  local data=()
  [[ $objective != memory ]] && data+=(--data "$out/corpus.jsonl" --eval-data "$out/eval.jsonl")
  [[ $objective != lm ]] && data+=(--memory-data "$out/train_benchmark.json"
                                   --memory-eval-data "$out/dev_benchmark.json"
                                   --memory-protocol "${MEMORY_PROTOCOL:-fixed}")
  rm -rf "${out:?}/$name"
  "$tttmem" --seed 42 --dtype "${DTYPE:-fp32}" train-minimal --model "$model" --objective "$objective" \
    --trainable "$trainable" "${data[@]}" --steps "$steps" --batch-size 4 --grad-accum 1 --seq-len 768 \
    --lr 1e-3 --schedule constant --warmup 10 --save-every 0 --eval-every 50 \
    --out "$out/$name/train" "$@"
}
# The trained checkpoint as `run` reads it: `ttt` leaves a --ttt file; `all` changed the base,
# so its model folder.
trained() {  # NAME TRAINABLE
  if [[ $2 == ttt ]]; then echo "--model $model --ttt $out/$1/train/ttt.safetensors"
  else echo "--model $out/$1/train/model"; fi
}
# DTYPE=fp32 PROTOCOL=fixed answer NAME CONDITION [RUN FLAGS...]: one `run` into NAME/run.
answer() {
  local name="$1" condition="$2"
  shift 2
  "$tttmem" --seed 42 --dtype "${DTYPE:-fp32}" run --tokenizer "$model" --benchmark "$heldout" \
    --condition "$condition" --protocol "${PROTOCOL:-fixed}" --batch-size 32 --out "$out/$name/run" "$@"
}
score() {  # NAME: evaluate NAME/run into NAME/eval
  "$tttmem" evaluate --results "$out/$1/run" --benchmark "$heldout" --out "$out/$1/eval" >/dev/null
}
# DTYPE=fp32 PROTOCOL=fixed evaluate NAME [RUN FLAGS...]: A, B, C, D, then scored.
evaluate() {
  local name="$1"
  shift
  rm -rf "${out:?}/$name/run" "${out:?}/$name/eval"
  answer "$name" all "$@"
  score "$name"
}
summary() {  # FILE [--conditions LIST] LABEL=NAME...
  local file="$1" rows=() entry
  shift
  if [[ $1 == --conditions ]]; then rows+=("$1" "$2"); shift 2; fi
  for entry in "$@"; do rows+=("${entry%%=*}=$out/${entry#*=}/eval"); done
  python3 "$root/scripts/summarize_reports.py" "${rows[@]}" | tee "$out/$file"
}

# The two starting points every part compares against.
if [[ ! -f $out/lm_trained_demo/eval/report.json ]]; then evaluate lm_trained_demo --model "$model"; fi
if [[ ! -f $out/memory_ttt/eval/report.json ]]; then
  train memory_ttt memory ttt
  # shellcheck disable=SC2046  # trained() prints flags
  evaluate memory_ttt $(trained memory_ttt ttt)
fi

if [[ $part == objectives || $part == all ]]; then
  names=(lm_trained_demo=lm_trained_demo)
  for trainable in ttt all; do
    for objective in lm memory mixed; do
      name="${objective}_${trainable}"
      if [[ $name != memory_ttt ]]; then
        train "$name" "$objective" "$trainable"
        # shellcheck disable=SC2046
        evaluate "$name" $(trained "$name" "$trainable")
      fi
      names+=("$name=$name")
    done
  done
  summary objectives.md "${names[@]}"
fi

if [[ $part == ablations || $part == all ]]; then
  # ablation NAME [FLAGS...]: the flags apply to training and evaluation alike.
  names=(memory_ttt=memory_ttt)
  ablation() {
    local name="ablation_$1"
    shift
    train "$name" memory ttt "$@"
    # shellcheck disable=SC2046
    evaluate "$name" $(trained "$name" ttt) "$@"
    names+=("${name#ablation_}=$name")
  }
  # The seed's ingestion and probe: the partial chunk never written, the probe updating W live.
  name=ablation_seed_ingestion
  MEMORY_PROTOCOL=seed train "$name" memory ttt
  # shellcheck disable=SC2046
  PROTOCOL=seed evaluate "$name" $(trained "$name" ttt) --trained-ttt-in-a-c --distractor-in-a-c
  names+=("seed_ingestion=$name")
  for chunk in 16 64 128; do ablation "chunk_$chunk" --ttt-chunk "$chunk"; done
  for lr in 0.5 2; do ablation "eta_$lr" --ttt-lr "$lr"; done
  DTYPE=bf16 ablation bf16_upstream
  # Placements on the 4-layer model: the seed's every sixth layer is layer 0, TTT-E2E's last
  # 25% is layer 3. Layers the demo model has no TTT tensors for start as --ttt-init dense
  # with a zero conv, i.e. as the plain MLP; layers 0 and 2 keep their LM-trained tensors.
  ablation layers_every_sixth --ttt-layers 0 --ttt-init dense
  ablation layers_last_quarter --ttt-layers 3 --ttt-init dense
  ablation layers_all --ttt-layers 0,1,2,3 --ttt-init dense
  summary ablations.md "${names[@]}"
fi

if [[ $part == placements || $part == all ]]; then
  # The placements again with every weight trained on LM + memory (`mixed`, as mixed_all), so
  # that the base can adapt to the TTT layers it gained or lost; {0,2} is the control.
  names=()
  for layers in 0,2 0 3 0,1,2,3; do
    name="placement_${layers//,/_}_mixed_all"
    train "$name" mixed all --ttt-layers "$layers" --ttt-init dense
    evaluate "$name" --model "$out/$name/train/model"
    names+=("layers_${layers//,/_}=$name")
  done
  summary placements.md "${names[@]}"
fi

if [[ $part == scroll || $part == all ]]; then
  # scroll next to A, B, C, D of the full-attention run: a probe prompt (at most 55 tokens
  # here) and its answer (at most 32) fit in every window, so B and C equal those of a run with it.
  names=()
  for start in lm_trained_demo memory_ttt; do
    for window in 96 128 256; do
      name="scroll_${window}_$start"
      rm -rf "${out:?}/$name"
      mkdir -p "$out/$name/run"
      cp "$out/$start/run/"condition_{a,b,c,d}.json "$out/$name/run/"
      if [[ $start == memory_ttt ]]; then flags=(--model "$model" --ttt "$out/memory_ttt/train/ttt.safetensors")
      else flags=(--model "$model"); fi
      answer "$name" scroll "${flags[@]}" --attention-window "$window"
      score "$name"
      names+=("${start}_window_$window=$name")
    done
  done
  # The control: eta 0 keeps W = W0, so what scroll still answers beyond C is what reaches the
  # probe through the filler's hidden states (the indirect path the window does not cut).
  for window in 96 128 256; do
    name="scroll_${window}_no_fast_weights"
    rm -rf "${out:?}/$name"
    for condition in c scroll; do
      answer "$name" "$condition" --model "$model" --attention-window "$window" --ttt-lr 0
    done
    score "$name"
    names+=("no_fast_weights_window_$window=$name")
  done
  summary scroll.md --conditions b,c,scroll "${names[@]}"
fi
