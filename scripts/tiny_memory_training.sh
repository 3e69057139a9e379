#!/usr/bin/env bash
# Issue 13 on the tiny model: can fast weights be trained to remember, and what does it cost in A?
# Every trained setting starts from the LM-trained demo model and trains 150 optimizer steps on
# seed-1001 conversations of the train split (the demo model's training seed), once per training
# seed (--seeds): train-minimal --shuffle draws the order of the rows and conversations from it
# (and the TTT tensors a placement adds, --ttt-init dense). Every evaluation runs A, B, C and D under --protocol fixed on two benchmarks that no
# design choice looked at (seed 2001, 20 samples per level, independent levels):
#
#   instances   the train split: new conversations of the training templates and pool halves
#   unseen      the test split: unseen templates, question phrasings and pool halves, distractor
#               passages of its own (128 tokens)
#   lengths     the D curve: B and D only (A and C would hold the distractor in their prompts,
#               beyond the model's context at the longest length), on the unseen set's level-3
#               conversations with distractors of every --distractor-tokens length
#   instance_lengths  the same on the instances set's level-3 conversations
#
# Four parts, one table each (scripts/summarize_reports.py: each seed, their mean and range):
#
#   objectives  each objective (lm, memory, mixed) on each trainable set (ttt, all)
#   ablations   the memory objective (trainable ttt) trained and evaluated at each setting: the
#               seed's ingestion (partial chunk dropped, probe-time updates), chunk 16/64/128,
#               eta 0.5/2, bf16, and the TTT layer placements (every sixth, last 25%, all)
#   placements  the layer placements again, every weight trained on LM + memory (mixed, all)
#   scroll      the scroll-out condition at windows 96/128/256 for the LM- and memory-trained TTT,
#               and with eta 0 (no fast-weight memory: what the window lets through)
#
# Design choices (steps, lr, which settings to keep) belong on the dev benchmark (seed 1002,
# train split), which training also reports its memory loss on.
#
# A fifth part, not in `all`, compares the two memory mechanisms (RESULTS.md "In-Place TTT or
# TTT-E2E?"):
#
#   e2e         a base without any memory mechanism (the demo model's recipe without TTT
#               layers: the demo model needs its own, so neither mechanism could be removed from
#               it), then on it In-Place TTT (ttt_proj + ttt_conv of layers 0 and 2, 34,048
#               parameters) and TTT-E2E (a dynamic MLP of width 89 on layer 3, the last quarter,
#               34,176 parameters), each LM-trained and memory-trained per training seed, plus
#               E2E's test-time SGD from its untrained start; the same sets, the D curve, and
#               scroll at windows 96 and 256 for the memory-trained ones.
#
#   scripts/tiny_memory_training.sh [--part objectives|ablations|placements|scroll|all|e2e]
#       [--seeds 42,43,44] [--samples N] [--steps N] [--distractor-tokens 128,512,1536]
#       [--e2e-inner-lr X] [--out DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
part=all
seeds=42,43,44
samples=20
steps=150
distractors=128,512,1536
# E2E's inner learning rate, chosen on the dev set (RESULTS.md "In-Place TTT or TTT-E2E?").
e2e_inner_lr=0.3
out="$root/out/memory"
usage="usage: $0 [--part objectives|ablations|placements|scroll|all|e2e] [--seeds S,S,...] [--samples N] [--steps N] [--distractor-tokens N,N,...] [--e2e-inner-lr X] [--out DIR]"
while (($#)); do
  case "$1" in
    --part) part="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --distractor-tokens) distractors="$2"; shift 2 ;;
    --e2e-inner-lr) e2e_inner_lr="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case "$part" in objectives|ablations|placements|scroll|all|e2e) ;; *) echo "$0: unknown --part '$part'" >&2; exit 2 ;; esac
[[ $seeds =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "$0: --seeds takes integers separated by commas, got '$seeds'" >&2; exit 2; }
IFS=, read -r -a seed_list <<<"$seeds"
tttmem="${TTTMEM_BUILD_DIR:-$root/build}/tttmem"
model="$root/models/tiny-demo"
sets=(instances unseen)
curves=(lengths instance_lengths)
mkdir -p "$out"

bench() {  # SEED SPLIT SAMPLES_PER_LEVEL DISTRACTOR_TOKENS FILE
  [[ -f $5 ]] || "$tttmem" --seed "$1" build-benchmark --format v2 --split "$2" \
    --samples-per-level "$3" --distractor-tokens "$4" --tokenizer "$model" --out "$5" >/dev/null
}
bench 1001 train 500 128 "$out/train_benchmark.json"
bench 1002 train 10 128 "$out/dev_benchmark.json"
bench 2001 train "$samples" 128 "$out/instances_benchmark.json"
bench 2001 test "$samples" 128 "$out/unseen_benchmark.json"
bench 2001 test "$samples" "$distractors" "$out/lengths_benchmark.json"
bench 2001 train "$samples" "$distractors" "$out/instance_lengths_benchmark.json"
# The LM rows: the demo model's own format (a conversation and all its probes per row).
[[ -f $out/corpus.jsonl ]] || python3 "$root/scripts/demo_model/make_corpus.py" \
  "$out/train_benchmark.json" --out "$out" --exclude "$out/instances_benchmark.json" >/dev/null

# DTYPE=fp32 MEMORY_PROTOCOL=fixed train DIR SEED OBJECTIVE TRAINABLE [TRAIN-MINIMAL FLAGS...]
# trains into DIR/train.
train() {
  local dir="$1" seed="$2" objective="$3" trainable="$4"
  shift 4
  local data=()
  [[ $objective != memory ]] && data+=(--data "$out/corpus.jsonl" --eval-data "$out/eval.jsonl")
  [[ $objective != lm ]] && data+=(--memory-data "$out/train_benchmark.json"
                                   --memory-eval-data "$out/dev_benchmark.json"
                                   --memory-protocol "${MEMORY_PROTOCOL:-fixed}")
  rm -rf "${dir:?}/train"
  "$tttmem" --seed "$seed" --dtype "${DTYPE:-fp32}" train-minimal --model "$model" --objective "$objective" \
    --trainable "$trainable" "${data[@]}" --steps "$steps" --batch-size 4 --grad-accum 1 --seq-len 768 \
    --lr 1e-3 --schedule constant --warmup 10 --save-every 0 --eval-every 50 --shuffle \
    --out "$dir/train" "$@"
}
finished() {  # DIR TRAINABLE: whether DIR/train holds the checkpoint of a finished training
  if [[ $2 == ttt ]]; then [[ -f $1/train/ttt.safetensors ]]; else [[ -f $1/train/model/config.json ]]; fi
}
# The trained checkpoint in DIR as `run` reads it: `ttt` leaves a --ttt file; `all` changed the
# base, so its model folder.
trained() {  # DIR TRAINABLE
  if [[ $2 == ttt ]]; then echo "--model $model --ttt $1/train/ttt.safetensors"
  else echo "--model $1/train/model"; fi
}
# DTYPE=fp32 PROTOCOL=fixed answer DIR SET CONDITION [RUN FLAGS...]: one `run` into DIR/SET/run.
answer() {
  local dir="$1" set="$2" condition="$3"
  shift 3
  "$tttmem" --seed 42 --dtype "${DTYPE:-fp32}" run --tokenizer "$model" \
    --benchmark "$out/${set}_benchmark.json" --condition "$condition" --protocol "${PROTOCOL:-fixed}" \
    --batch-size 32 --out "$dir/$set/run" "$@"
}
score() {  # DIR SET: evaluate DIR/SET/run into DIR/SET/eval
  "$tttmem" evaluate --results "$1/$2/run" --benchmark "$out/${2}_benchmark.json" --out "$1/$2/eval" >/dev/null
}
# DTYPE=fp32 PROTOCOL=fixed evaluate DIR [RUN FLAGS...]: A, B, C, D on each set, B and D on
# each curve (B on the level-3 conversations of its first length: every length has the same
# ones), each scored; a set or curve already scored is kept.
evaluate() {
  local dir="$1" set
  shift
  for set in "${sets[@]}" "${curves[@]}"; do
    [[ -f $dir/$set/eval/report.json ]] && continue
    rm -rf "${dir:?}/$set"
    if [[ " ${curves[*]} " == *" $set "* ]]; then
      answer "$dir" "$set" b --samples "$(python3 -c 'import json, sys
samples = json.load(open(sys.argv[1]))["samples"]
first = min(s["distractor_target"] for s in samples if s["level"] == 3)
print(",".join(s["sample_id"] for s in samples if s.get("distractor_target") == first))' \
        "$out/${set}_benchmark.json")" "$@"
      answer "$dir" "$set" d "$@"
    else
      answer "$dir" "$set" all "$@"
    fi
    score "$dir" "$set"
  done
}
# setting NAME OBJECTIVE TRAINABLE [FLAGS...]: trained and evaluated once per seed, into
# NAME/seed_S; the flags apply to training and evaluation alike. A finished training is kept.
setting() {
  local name="$1" objective="$2" trainable="$3" seed dir
  shift 3
  for seed in "${seed_list[@]}"; do
    dir="$out/$name/seed_$seed"
    finished "$dir" "$trainable" || train "$dir" "$seed" "$objective" "$trainable" "$@"
    # shellcheck disable=SC2046  # trained() prints flags
    evaluate "$dir" $(trained "$dir" "$trainable") "$@"
  done
}
# rows LABEL=NAME...: the summary's arguments, LABEL/SEED=EVAL_DIR for every seed of a trained
# NAME, LABEL=EVAL_DIR for an untrained one (@SET@ stands for the evaluation set).
rows() {
  local entry seed
  for entry in "$@"; do
    if [[ ! -d $out/${entry#*=}/seed_${seed_list[0]} ]]; then echo "${entry%%=*}=$out/${entry#*=}/@SET@/eval"; continue; fi
    for seed in "${seed_list[@]}"; do echo "${entry%%=*}/$seed=$out/${entry#*=}/seed_$seed/@SET@/eval"; done
  done
}
# summary FILE [SUMMARY OPTIONS...] -- LABEL=NAME...: one table per evaluation set (the D curve
# for the lengths set, with the --compare options only).
summary() {
  local file="$1" options=() compares=() set
  shift
  while [[ $1 != -- ]]; do
    options+=("$1" "$2")
    [[ $1 == --compare ]] && compares+=("$1" "$2")
    shift 2
  done
  shift
  mapfile -t entries < <(rows "$@")
  {
    for set in "${sets[@]}"; do
      echo "## $set"
      python3 "$root/scripts/summarize_reports.py" "${options[@]}" "${entries[@]//@SET@/$set}"
    done
    if [[ -z ${no_curve:-} ]]; then
      for set in "${curves[@]}"; do
        echo "## $set"
        python3 "$root/scripts/summarize_reports.py" --distractor-lengths "${compares[@]}" \
          "${entries[@]//@SET@/$set}"
      done
    fi
  } | tee "$out/$file"
}

# The two starting points every part on the demo model compares against.
if [[ $part != e2e ]]; then
  evaluate "$out/lm_trained_demo" --model "$model"
  setting memory_ttt memory ttt
fi

if [[ $part == objectives || $part == all ]]; then
  names=(lm_trained_demo=lm_trained_demo)
  for trainable in ttt all; do
    for objective in lm memory mixed; do
      setting "${objective}_$trainable" "$objective" "$trainable"
      names+=("${objective}_$trainable=${objective}_$trainable")
    done
  done
  summary objectives.md --compare memory_ttt:lm_ttt --compare mixed_ttt:memory_ttt \
    --compare mixed_all:mixed_ttt -- "${names[@]}"
fi

if [[ $part == ablations || $part == all ]]; then
  names=(memory_ttt=memory_ttt)
  # The seed's ingestion and probe: the partial chunk never written, the probe updating W live.
  for seed in "${seed_list[@]}"; do
    dir="$out/ablation_seed_ingestion/seed_$seed"
    finished "$dir" ttt || MEMORY_PROTOCOL=seed train "$dir" "$seed" memory ttt
    # shellcheck disable=SC2046
    PROTOCOL=seed evaluate "$dir" $(trained "$dir" ttt) --trained-ttt-in-a-c --distractor-in-a-c
  done
  names+=(seed_ingestion=ablation_seed_ingestion)
  for chunk in 16 64 128; do
    setting "ablation_chunk_$chunk" memory ttt --ttt-chunk "$chunk"
    names+=("chunk_$chunk=ablation_chunk_$chunk")
  done
  for lr in 0.5 2; do
    setting "ablation_eta_$lr" memory ttt --ttt-lr "$lr"
    names+=("eta_$lr=ablation_eta_$lr")
  done
  DTYPE=bf16 setting ablation_bf16_upstream memory ttt
  names+=(bf16_upstream=ablation_bf16_upstream)
  # Placements on the 4-layer model: the seed's every sixth layer is layer 0, TTT-E2E's last
  # 25% is layer 3. Layers the demo model has no TTT tensors for start as --ttt-init dense
  # with a zero conv, i.e. as the plain MLP; layers 0 and 2 keep their LM-trained tensors.
  for placement in every_sixth:0 last_quarter:3 all:0,1,2,3; do
    setting "ablation_layers_${placement%%:*}" memory ttt --ttt-layers "${placement#*:}" --ttt-init dense
    names+=("layers_${placement%%:*}=ablation_layers_${placement%%:*}")
  done
  summary ablations.md --compare chunk_64:memory_ttt -- "${names[@]}"
fi

if [[ $part == placements || $part == all ]]; then
  # The placements again with every weight trained on LM + memory (`mixed`, as mixed_all), so
  # that the base can adapt to the TTT layers it gained or lost; {0,2} is the control.
  names=()
  for layers in 0,2 0 3 0,1,2,3; do
    name="placement_${layers//,/_}_mixed_all"
    setting "$name" mixed all --ttt-layers "$layers" --ttt-init dense
    names+=("layers_${layers//,/_}=$name")
  done
  summary placements.md --compare layers_3:layers_0 -- "${names[@]}"
fi

if [[ $part == scroll || $part == all ]]; then
  # scroll next to B and C of the full-attention run: a probe prompt (at most 55 tokens here)
  # and its answer (at most 32) fit in every window, so B and C equal those of a run with it.
  names=()
  scrolled() {  # DIR START_DIR WINDOW [RUN FLAGS...]: scroll on both sets beside START's B, C
    local dir="$1" start="$2" window="$3" set
    shift 3
    for set in "${sets[@]}"; do
      rm -rf "${dir:?}/$set"
      mkdir -p "$dir/$set/run"
      cp "$start/$set/run/"condition_{b,c}.json "$dir/$set/run/"
      answer "$dir" "$set" scroll "$@" --attention-window "$window"
      score "$dir" "$set"
    done
  }
  for window in 96 128 256; do
    [[ -f $out/scroll_${window}_lm_trained_demo/unseen/eval/report.json ]] ||
      scrolled "$out/scroll_${window}_lm_trained_demo" "$out/lm_trained_demo" "$window" --model "$model"
    names+=("lm_trained_demo_window_$window=scroll_${window}_lm_trained_demo")
    for seed in "${seed_list[@]}"; do
      dir="$out/scroll_${window}_memory_ttt/seed_$seed"
      [[ -f $dir/unseen/eval/report.json ]] ||
        scrolled "$dir" "$out/memory_ttt/seed_$seed" "$window" --model "$model" \
          --ttt "$out/memory_ttt/seed_$seed/train/ttt.safetensors"
    done
    names+=("memory_ttt_window_$window=scroll_${window}_memory_ttt")
  done
  # The control: eta 0 keeps W = W0, so what scroll still answers beyond C is what reaches the
  # probe through the filler's hidden states (the indirect path the window does not cut).
  for window in 96 128 256; do
    dir="$out/scroll_${window}_no_fast_weights"
    for set in "${sets[@]}"; do
      [[ -f $dir/$set/eval/report.json ]] && continue
      rm -rf "${dir:?}/$set"
      for condition in c scroll; do
        answer "$dir" "$set" "$condition" --model "$model" --attention-window "$window" --ttt-lr 0
      done
      score "$dir" "$set"
    done
    names+=("no_fast_weights_window_$window=scroll_${window}_no_fast_weights")
  done
  no_curve=1 summary scroll.md --conditions b,c,scroll -- "${names[@]}"
fi

if [[ $part == e2e ]]; then
  # The base: the demo model's recipe (800 steps of 8 rows, every weight, cosine 2e-3) from the
  # same initialisation seed, without TTT layers; its tokenizer is the demo model's.
  base="$out/e2e_base"
  if [[ ! -f $base/train/model/config.json ]]; then
    python3 - "$root/configs/models/tiny-demo.json" "$base/config.json" <<'PY'
import json, os, sys
config = json.load(open(sys.argv[1]))
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
json.dump({k: v for k, v in config.items() if not k.startswith("ttt_")}, open(sys.argv[2], "w"), indent=2)
PY
    bench 1001 train 3000 128 "$base/train_benchmark.json"
    bench 7 train 300 128 "$base/heldout_benchmark.json"
    python3 "$root/scripts/demo_model/make_corpus.py" "$base/train_benchmark.json" --out "$base" \
      --exclude "$base/heldout_benchmark.json" >/dev/null
    rm -rf "$base/init" "$base/train"
    "$tttmem" --seed 42 init-model --config "$base/config.json" --out "$base/init"
    cp "$model/tokenizer.model" "$base/init/"
    "$tttmem" --seed 42 --dtype fp32 train-minimal --model "$base/init" --data "$base/corpus.jsonl" \
      --eval-data "$base/eval.jsonl" --eval-every 100 --out "$base/train" --trainable all \
      --steps 800 --batch-size 8 --grad-accum 1 --seq-len 768 --lr 2e-3 --schedule cosine \
      --warmup 50 --save-every 0
    cp "$model/tokenizer.model" "$base/train/model/"
  fi
  model="$base/train/model"
  inplace=(--ttt-layers 0,2 --ttt-chunk 32 --ttt-lr 1 --ttt-init dense)
  e2e=(--memory e2e --e2e-layers 3 --e2e-intermediate 89 --e2e-mini-batch 32 --e2e-inner-lr "$e2e_inner_lr")
  names=()
  for objective in lm memory; do
    setting "inplace_$objective" "$objective" ttt "${inplace[@]}"
    names+=("inplace_$objective=inplace_$objective")
    # E2E trains from --e2e-init and answers from the e2e.safetensors it wrote (which records
    # its settings), so training and evaluation take different flags than setting() passes.
    for seed in "${seed_list[@]}"; do
      dir="$out/e2e_$objective/seed_$seed"
      [[ -f $dir/train/e2e.safetensors ]] || train "$dir" "$seed" "$objective" ttt "${e2e[@]}" --e2e-init
      evaluate "$dir" --model "$model" --memory e2e --e2e "$dir/train/e2e.safetensors"
    done
    names+=("e2e_$objective=e2e_$objective")
  done
  # Test-time SGD alone: E2E from its untrained start (down zero: the base until the first step).
  evaluate "$out/e2e_sgd_only" --model "$model" "${e2e[@]}" --e2e-init
  names+=("e2e_sgd_only=e2e_sgd_only")
  summary e2e.md --compare e2e_memory:inplace_memory --compare e2e_lm:inplace_lm -- "${names[@]}"

  # scroll at two windows for the memory-trained ones, beside their B and C.
  names=()
  for window in 96 256; do
    for mechanism in inplace e2e; do
      for seed in "${seed_list[@]}"; do
        dir="$out/scroll_${window}_${mechanism}_memory/seed_$seed"
        trained_dir="$out/${mechanism}_memory/seed_$seed"
        if [[ $mechanism == e2e ]]; then flags=(--memory e2e --e2e "$trained_dir/train/e2e.safetensors")
        else flags=(--ttt "$trained_dir/train/ttt.safetensors"); fi
        for set in "${sets[@]}"; do
          [[ -f $dir/$set/eval/report.json ]] && continue
          rm -rf "${dir:?}/$set"
          mkdir -p "$dir/$set/run"
          cp "$trained_dir/$set/run/"condition_{b,c}.json "$dir/$set/run/"
          answer "$dir" "$set" scroll --model "$model" "${flags[@]}" --attention-window "$window"
          score "$dir" "$set"
        done
      done
      names+=("${mechanism}_memory_window_$window=scroll_${window}_${mechanism}_memory")
    done
  done
  no_curve=1 summary e2e_scroll.md --conditions b,c,scroll -- "${names[@]}"
fi
