#!/usr/bin/env bash
# The recipe of the built-in tiny demo model (models/tiny-demo): generate a training benchmark with
# a seed disjoint from the evaluation seed, turn it into condition-A prompts + gold answers, train a
# small sentencepiece tokenizer on that text, initialise a tiny Qwen3 with In-Place TTT on layers 0
# and 2, and train every weight with `tttmem train-minimal --trainable all`. DECISIONS.md
# `## demo model` says why each choice; RESULTS.md has the curve and the held-out table.
#
#   scripts/train_demo_model.sh [--steps N] [--work DIR] [--dest DIR]
#
# About an hour on 2 shared CPU cores (800 steps of 8 rows). Re-running it reproduces the committed model on the
# same machine and thread count (every seed is fixed; floating-point sums depend on the threads).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
steps=800
work="$root/out/demo-model"
dest="$root/models/tiny-demo"
while (($#)); do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --dest) dest="$2"; shift 2 ;;
    *) echo "usage: $0 [--steps N] [--work DIR] [--dest DIR]" >&2; exit 2 ;;
  esac
done
tttmem="${TTTMEM_BUILD_DIR:-$root/build}/tttmem"
[[ -x "$tttmem" ]] || { echo "$0: build tttmem first (scripts/build.sh)" >&2; exit 1; }
command -v spm_train >/dev/null || { echo "$0: spm_train missing (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$work"

# Training data: seed 1001. Held out: everything the evaluation seed 7 generates (the demo and
# RESULTS.md use seed 7 with at most 300 samples per level), dropped by conversation text.
"$tttmem" --seed 1001 build-benchmark --format v2 --split train --samples-per-level 3000 \
  --distractor-tokens 128 --out "$work/train_benchmark.json"
"$tttmem" --seed 7 build-benchmark --format v2 --split train --samples-per-level 300 \
  --distractor-tokens 128 --out "$work/heldout_benchmark.json"
python3 "$root/scripts/demo_model/make_corpus.py" "$work/train_benchmark.json" --out "$work" \
  --exclude "$work/heldout_benchmark.json"

# A 1,024-piece BPE with byte fallback, text kept as is (no NFKC: the full-width punctuation the
# benchmark uses must survive), digits split so numbers are copied digit by digit.
spm_train --input="$work/tokenizer.txt" --model_prefix="$work/tokenizer" --vocab_size=1024 \
  --model_type=bpe --character_coverage=1.0 --byte_fallback=true \
  --normalization_rule_name=identity --add_dummy_prefix=false --remove_extra_whitespaces=false \
  --split_digits=true --num_threads=1 --minloglevel=2

# From random weights, every probe of a sample in one row, cosine schedule.
rm -rf "$work/init" "$work/train"
"$tttmem" --seed 42 init-model --config "$root/configs/models/tiny-demo.json" --out "$work/init"
"$tttmem" --seed 42 --dtype fp32 train-minimal --model "$work/init" --tokenizer "$work/tokenizer.model" \
  --data "$work/corpus.jsonl" --eval-data "$work/eval.jsonl" --eval-every 100 \
  --out "$work/train" --trainable all --ttt-init dense --steps "$steps" --batch-size 8 \
  --grad-accum 1 --seq-len 768 --lr 2e-3 --schedule cosine --warmup 50 --save-every 100

mkdir -p "$dest"
cp "$work/train/model/config.json" "$work/train/model/model.safetensors" "$work/tokenizer.model" "$dest/"
python3 - "$work/train/metrics.jsonl" > "$dest/training_curve.tsv" <<'PY'
import json, sys
print("step\tloss\teval_loss\tlr\tgrad_norm")
for line in open(sys.argv[1]):
    m = json.loads(line)
    print(f"{m['step']}\t{m['loss']:.4f}\t{m.get('eval_loss', float('nan')):.4f}\t{m['lr']:.6g}\t{m['grad_norm']:.4f}")
PY
cp "$work/train/loss.svg" "$dest/" 2>/dev/null || true
echo "tiny demo model written to $dest"
