#!/usr/bin/env bash
# CI's pipeline check: train-minimal for a few steps on a tiny random Qwen3, then `sanity` on the
# checkpoint it wrote (SPEC.md "sanity"). Usage: ci_train_sanity.sh TTTMEM_BINARY. Exit status:
# sanity's (0: every required check passed). tests/CMakeLists.txt registers it as the ctest
# `train_then_sanity`.
set -euo pipefail
bin="$1"
# Tiny models run fastest on one intra-op thread (small ops, shared CI cores).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tok="$root/configs/tokenizers/qwen3"
ttt=(--ttt-layers 0,2 --ttt-chunk 8 --ttt-lr 3)

"$bin" --seed 3 init-model --config "$root/configs/models/tiny-qwen3.json" --out "$work/model"
# A small corpus: the sanity texts' kind of sentence, varied so that batches differ.
for i in $(seq 0 15); do
  printf '{"text": "第%d次会议：负责人是张伟，工号%d，办公室在%d号楼%d层。我们讨论一下项目进度。"}\n' \
    "$i" "$((7000 + 37 * i))" "$((1 + i % 5))" "$((2 + i))"
done > "$work/corpus.jsonl"
"$bin" --dtype fp32 train-minimal --model "$work/model" --tokenizer "$tok" \
  --data "$work/corpus.jsonl" --out "$work/train" "${ttt[@]}" --ttt-init dense \
  --steps 4 --batch-size 2 --grad-accum 1 --seq-len 48 --lr 1e-2
# No --ttt-* flag: the checkpoint records the TTT settings it was trained with.
"$bin" --dtype fp32 sanity --model "$work/model" --tokenizer "$tok" \
  --ttt "$work/train/ttt.safetensors" --json "$work/sanity.json"
