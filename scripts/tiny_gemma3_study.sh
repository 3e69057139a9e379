#!/usr/bin/env bash
# The Gemma3 adapter study in miniature, from nothing: a tiny Gemma3 (4 layers, hidden 128,
# sliding window 64, layers 1 and 3 global; results/gemma3_study/config.json) with a
# sentencepiece tokenizer of its own learns RULER niah_single retrieval from scratch, then an
# adapter-only In-Place TTT graft on its global layers is trained on the frozen base
# (train-minimal --trainable ttt+down) at longer lengths, and the study's three modes are scored
# on a held-out RULER set:
#
#   1. tokenizer  spm_train (Debian `sentencepiece`), BPE 1024 pieces, pad 0 / eos 1 / bos 2 /
#                 unk 3, byte fallback, digits split, on 2,000 niah_single samples (prompt +
#                 answer) generated at 512 Qwen3 tokens, seed 7
#   2. base       init-model --seed 1, then train-minimal --trainable all --no-ttt on the
#                 study's in_context prompt + " " + answer (results/gemma3_study/make_rows.py),
#                 32 rows a step (16 x grad-accum 2), every row a fresh sample (no sample is
#                 seen twice within a stage, so memorising a key's value cannot pay):
#                 stage 1: 1,000 steps, lr 2e-3 cosine, on 32,000 niah_single samples at 272
#                   spm tokens (seeds 1000-1003, 8,000 each; 272, not 256, because some seeds'
#                   keys were too long for 256 and build-benchmark then stopped; it now
#                   redraws them). It learned the
#                   prompt and to copy the key into the question, not the value: 0/100 on the
#                   dev set at 256 after 200, 400, 600 and 1,000 steps, its answer a constant.
#                 stage 2: 1,000 steps from stage 1, lr 2e-3 cosine, on 32,000 new samples at
#                   272 (seeds 1004-1007) whose 7-digit value is replaced, in the needle and
#                   the answer alike, by 7 distinct digits (make_rows.py --distinct-digits 5):
#                   with no digit repeated inside the needle, copying "the digit that followed
#                   this digit before" is never wrong there. Chosen on the dev set after a
#                   second plain stage (same data with their own digits) still answered
#                   nothing; with distinct digits the value was copied by step 600 (dev 100/100
#                   at 256). The held-out values (and the dev set's) keep their repeated digits.
#                 The dev set (seed 300, 100 samples at 256, 384, 512, 1024) is scored with
#                 in_context on the final base.
#   3. adapter    from the frozen base: --ttt-preset gemma3-global (layers 1, 3; eta 0.3)
#                 --ttt-chunk 32 --ttt-init diagonal --trainable ttt+down, 16 rows a step (4 x
#                 grad-accum 4) on rows at 512 and 768 tokens (600 each, seed 200), once per
#                 --seeds (train-minimal --shuffle --seed S); the control is the same recipe
#                 with --ttt-lr 0 (down_proj trained at the longer lengths, fast weights inert).
#                 Adapter and control train side by side, one process each.
#   4. evaluate   niah_single at every --lengths, --samples per length, seed 1337 (no training
#                 or design choice used it; the dev set is seed 300): in_context on the base,
#                 ttt_paper and ttt_strict on each adapter and control, --max-new-tokens 16,
#                 two runs at a time; ttt_paper decodes with the slow down_proj on a RULER file
#                 (--paper-decode auto), so each adapter's ttt_paper is also run with
#                 --paper-decode live (its fast weights applied while decoding, as it trained;
#                 added after the rest of the held-out table was seen);
#                 tttmem evaluate per model; results/gemma3_study/paired.py writes the table and
#                 the paired differences (bootstrap over samples, 10,000 resamples)
#
# Every step is skipped when its output exists (rerun to resume). Single-threaded torch
# (OMP_NUM_THREADS=1) unless the caller sets it: the VM this ran on had 2 shared cores, and at
# most two tttmem processes run at once.
#
#   scripts/tiny_gemma3_study.sh [--out DIR] [--seeds 1,2,3] [--lengths 256,512,1024,2048]
#       [--samples N] [--base-steps N] [--adapter-steps N]
#
# --base-steps is each base stage's steps (1,000 ran: one pass over a stage's 32,000 rows at 32
# rows a step; more steps would repeat rows, fewer leave some unseen).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/out/g3"
seeds=1,2,3
lengths=256,512,1024,2048
samples=100
base_steps=1000
adapter_steps=60
usage="usage: $0 [--out DIR] [--seeds S,S,...] [--lengths N,N,...] [--samples N] [--base-steps N] [--adapter-steps N]"
while (($#)); do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --lengths) lengths="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --base-steps) base_steps="$2"; shift 2 ;;
    --adapter-steps) adapter_steps="$2"; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
[[ $seeds =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "$0: --seeds takes integers separated by commas, got '$seeds'" >&2; exit 2; }
[[ $lengths =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "$0: --lengths takes integers separated by commas, got '$lengths'" >&2; exit 2; }
IFS=, read -r -a seed_list <<<"$seeds"
IFS=, read -r -a length_list <<<"$lengths"
command -v spm_train >/dev/null || { echo "$0: spm_train not found (Debian package sentencepiece)" >&2; exit 1; }
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
tttmem="${TTTMEM_BUILD_DIR:-$root/build}/tttmem"
study="$root/results/gemma3_study"
python="$root/.venv/bin/python"
[ -x "$python" ] || python=python3
mkdir -p "$out"
cd "$out"
log() { echo "[$(date +%T)] $*" >&2; }

# 1. Tokenizer.
if [ ! -f tokenizer/tokenizer.model ]; then
  log "tokenizer"
  "$tttmem" --seed 7 build-benchmark --format ruler --task niah_single --length 512 \
    --samples 2000 --tokenizer "$root/configs/tokenizers/qwen3" --out spm_source.json
  "$python" "$study/make_rows.py" spm_source.jsonl spm_source.json
  # One line per row, newlines as spaces (sentencepiece reads lines; "\n" gets its byte piece).
  "$python" -c 'import json,sys
for line in open(sys.argv[1]): print(json.loads(line)["text"].replace("\n", " "))' \
    spm_source.jsonl >spm_corpus.txt
  mkdir -p tokenizer
  spm_train --input=spm_corpus.txt --model_prefix=tokenizer/spm --vocab_size=1024 \
    --model_type=bpe --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --byte_fallback=true \
    --split_digits=true --character_coverage=1.0 --num_threads=1 --minloglevel=2
  mv tokenizer/spm.model tokenizer/tokenizer.model
fi

bench() {  # bench SEED LENGTH SAMPLES FILE
  [ -f "$4" ] || "$tttmem" --seed "$1" build-benchmark --format ruler --task niah_single \
    --length "$2" --samples "$3" --tokenizer tokenizer --out "$4"
}

# 2. Base model, two stages of fresh samples (make_rows.py; stage 2 with distinct digits).
stage_rows() {  # stage_rows OUT.jsonl MAKE_ROWS_FLAGS SEED...: 8,000 samples at 272 per seed
  local rows="$1" flags="$2" files=()
  shift 2
  [ -f "$rows" ] && return
  for S in "$@"; do bench "$S" 272 8000 "train/rows_272_s$S.json"; files+=("train/rows_272_s$S.json"); done
  "$python" "$study/make_rows.py" $flags "$rows" "${files[@]}"
}
mkdir -p train
if [ ! -f base/stage1/model/model.safetensors ]; then
  log "base model, stage 1"
  stage_rows train/stage1.jsonl "" 1000 1001 1002 1003
  rm -rf base/init base/stage1
  "$tttmem" init-model --config "$study/config.json" --seed 1 --out base/init
  cp tokenizer/tokenizer.model base/init/
  "$tttmem" train-minimal --model base/init --data train/stage1.jsonl --trainable all --no-ttt \
    --seq-len 192 --batch-size 16 --grad-accum 2 --steps "$base_steps" --lr 2e-3 --schedule cosine \
    --warmup 50 --weight-decay 0.1 --clip 1 --shuffle --seed 1 --save-every 100 --out base/stage1
  cp tokenizer/tokenizer.model base/stage1/model/
fi
if [ ! -f base/train/model/model.safetensors ]; then
  log "base model, stage 2"
  stage_rows train/stage2.jsonl "--distinct-digits 5" 1004 1005 1006 1007
  rm -rf base/train
  "$tttmem" train-minimal --model base/stage1/model --data train/stage2.jsonl --trainable all \
    --no-ttt --seq-len 192 --batch-size 16 --grad-accum 2 --steps "$base_steps" --lr 2e-3 \
    --schedule cosine --warmup 30 --weight-decay 0.1 --clip 1 --shuffle --seed 2 --save-every 100 \
    --out base/train
  cp tokenizer/tokenizer.model base/train/model/
fi
base=base/train/model
for L in 256 384 512 1024; do
  bench 300 "$L" 100 "dev_${L}_benchmark.json"
  [ -f "dev/L$L/base_in_context/run/run.json" ] || "$tttmem" run --model "$base" \
    --benchmark "dev_${L}_benchmark.json" --condition in_context --max-new-tokens 16 \
    --out "dev/L$L/base_in_context/run"
done

# 3. Adapters (TTT live) and controls (eta 0), one per seed, the two arms side by side.
for L in 512 768; do bench 200 "$L" 600 "adapter_rows_$L.json"; done
[ -f adapter_rows.jsonl ] ||
  "$python" "$study/make_rows.py" adapter_rows.jsonl adapter_rows_512.json adapter_rows_768.json
train_arm() {  # train_arm ARM SEED
  local dir="$1_s$2" extra=()
  [ "$1" = control ] && extra=(--ttt-lr 0)
  rm -rf "$dir/train"
  mkdir -p "$dir"
  "$tttmem" train-minimal --model "$base" --data adapter_rows.jsonl --trainable ttt+down \
    --ttt-preset gemma3-global --ttt-chunk 32 --ttt-init diagonal "${extra[@]}" \
    --seq-len 720 --batch-size 4 --grad-accum 4 --steps "$adapter_steps" --lr 2e-3 --schedule cosine \
    --warmup 6 --weight-decay 0.1 --clip 1 --shuffle --seed "$2" --out "$dir/train" \
    >"$dir/train.log" 2>&1
  cp tokenizer/tokenizer.model "$dir/train/model/"
}
for S in "${seed_list[@]}"; do
  pids=()
  for arm in adapter control; do
    [ -f "${arm}_s$S/train/model/model.safetensors" ] && continue
    log "${arm}_s$S (log: $out/${arm}_s$S/train.log)"
    train_arm "$arm" "$S" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
done

# 4. Held-out evaluation (seed 1337), one results folder per model, condition and length.
run() {  # run MODEL CONDITION BENCH OUTDIR [RUN FLAGS], in the background, two at a time
  [ -f "$4/run/run.json" ] && return
  while (($(jobs -rp | wc -l) >= 2)); do wait -n; done
  mkdir -p "$4"
  "$tttmem" run --model "$1" --benchmark "$3" --condition "$2" --max-new-tokens 16 \
    --out "$4/run" "${@:5}" >"$4/run.log" 2>&1 &
}
for L in "${length_list[@]}"; do
  bench 1337 "$L" "$samples" "test_${L}_benchmark.json"
  run "$base" in_context "test_${L}_benchmark.json" "test/L$L/base_in_context"
  for S in "${seed_list[@]}"; do
    for arm in adapter control; do
      for mode in ttt_paper ttt_strict; do
        run "${arm}_s$S/train/model" "$mode" "test_${L}_benchmark.json" "test/L$L/${arm}_s${S}_$mode"
      done
    done
    # On a RULER file ttt_paper decodes the answer with the slow down_proj (--paper-decode auto
    # = base, as the study's generate); the adapter was trained with its fast weights live on
    # the answer too, so it is also scored with them live while decoding.
    run "adapter_s$S/train/model" ttt_paper "test_${L}_benchmark.json" \
      "test/L$L/adapter_s${S}_ttt_paper_live" --paper-decode live
  done
done
wait  # a failed run leaves no run.json: its log is OUTDIR/run.log, and evaluate stops on it
# tttmem evaluate: one report per model and condition over every length (the report keys cells
# by task, length and condition, so two models' ttt_paper go in separate reports).
report() {  # report NAME: test/L*/NAME/run into test/report_NAME
  local dirs=()
  for L in "${length_list[@]}"; do dirs+=("test/L$L/$1/run"); done
  local also=()
  for d in "${dirs[@]:1}"; do also+=(--also "$d"); done
  "$tttmem" evaluate --results "${dirs[0]}" "${also[@]}" --ci-unit sample --out "test/report_$1"
}
report base_in_context
for S in "${seed_list[@]}"; do
  for arm in adapter control; do
    for mode in ttt_paper ttt_strict; do report "${arm}_s${S}_$mode"; done
  done
  report "adapter_s${S}_ttt_paper_live"
done
"$python" "$study/paired.py" --out-dir . --lengths "$lengths" --seeds "$seeds" --live \
  --json paired.json --md paired.md

# Position-wise digit accuracy (chance 0.1): still moves when any-of is at the floor.
"$python" "$study/paired.py" --out-dir . --lengths "$lengths" --seeds "$seeds" --score digits \
  --live --json paired_digits.json --md paired_digits.md
log "done: $out"
