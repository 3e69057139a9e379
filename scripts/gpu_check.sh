#!/usr/bin/env bash
# The GPU check: on a CUDA machine, from the repository root, with the bundle that
# scripts/gpu_bundle.sh made on a build machine (binaries, the libraries they need besides
# libtorch, the run reference fixture, the commit):
#
#   scripts/gpu_check.sh [BUNDLE]      (default build/gpu-bundle.tar.xz)
#
# Runs the `gpu` test suite and the GPU benchmarks, each against its reference in the same
# command, and writes benchmark/results/*_gpu.json (GPU name and commit in each) plus
# benchmark/results/gpu_check_gpu.json: every step, its exit status and time. A failing step is
# recorded and the next one runs; the exit status is 1 when any step failed. Uses the machine's
# python3 (it must hold torch of the version tttmem was built against, and transformers).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="${1:-$root/build/gpu-bundle.tar.xz}"
python="${TTTMEM_GPU_PYTHON:-python3}"
results="$root/benchmark/results"
[ -f "$bundle" ] || { echo "gpu_check: no bundle at $bundle (make it with scripts/gpu_bundle.sh)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xJf "$bundle" -C "$work"
torch_lib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$work/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TTTMEM_TEST_BINARY="$work/build/tttmem" TTTMEM_TEST_FIXTURE_DIR="$work/fixtures"
export TTTMEM_TEST_SOURCE_DIR="$root" TTTMEM_COMMIT="$(cat "$work/commit")"
gpu="$("$python" -c 'import torch; print(torch.cuda.get_device_name())')" || {
  echo "gpu_check: torch sees no CUDA device" >&2
  exit 2
}
echo "gpu_check: $gpu, commit $TTTMEM_COMMIT"
mkdir -p "$results"
steps="$work/steps.jsonl"
: >"$steps"
models="${TTTMEM_GPU_MODELS:-$root/build/gpu-models}"  # random checkpoints, kept for a rerun

# step NAME TIMEOUT_S COMMAND...: runs it, records its status and wall time.
step() {
  local name="$1" limit="$2"
  shift 2
  echo "== $name"
  local start end status
  start=$(date +%s.%N)
  timeout "$limit" "$@"
  status=$?
  end=$(date +%s.%N)
  awk -v n="$name" -v c="$status" -v s="$start" -v e="$end" \
    'BEGIN { printf "{\"step\": \"%s\", \"exit_code\": %d, \"seconds\": %.1f}\n", n, c, e - s }' >>"$steps"
}

# TTTMEM_GPU_STEPS picks steps (default: all, in this order of importance), so that the check can
# be split over calls of a limited length (e.g. "tests model", then "run load train");
# gpu_check_gpu.json records the steps of the last call.
wanted=" ${TTTMEM_GPU_STEPS:-tests model run load train dist} "
want() { [[ "$wanted" == *" $1 "* ]]; }
want tests && step gpu_tests 240 "$work/build/tests/test_gpu" \
  --gtest_output="json:$results/gpu_tests_gpu.json"
# Decode at batch 1 against the HBM roofline, prefill against transformers, and the TTT prefill
# overhead at chunk 4096 over 32k tokens, on one random Qwen3-8B-shaped checkpoint.
want model && step model 420 "$python" "$root/scripts/bench_model.py" \
  --build-dir "$work/build" --device cuda --configs qwen3-8b --tokens 512 --repeats 3 \
  --ttt-tokens 32768 --ttt-chunk 4096 --work-dir "$models"
# The full A/B/C/D run over benchmark_v1 (100 samples per level) at 8B shapes against the
# one-probe-at-a-time PyTorch eager pipeline (on the first sample of each level).
mkdir -p "$work/run"
ln -sfn "$models/qwen3-8b" "$work/run/qwen3-8b-model"  # the same checkpoint, written once
want run && step run 420 "$python" "$root/scripts/bench_run.py" \
  --build-dir "$work/build" --device cuda --config qwen3-8b --samples-per-level 100 \
  --batch-sizes 64 --eager-samples-per-level 1 --work-dir "$work/run"
# Qwen3-8B's 16.4 GB of bf16 safetensors from the page cache to the GPU, against read().
want load && step load 240 "$python" "$root/scripts/bench_load.py" \
  --bench "$work/build/benchmark/bench_load" --device cuda --gib 15.27 --repetitions 2
want train && step train 240 "$python" "$root/scripts/bench_train.py" \
  --build-dir "$work/build" --device cuda --work-dir "$work/train"
# torch.distributed over NCCL: train-minimal on up to 2 GPUs (one rank on a one-GPU machine), and
# with several GPUs the scaling of `run` (one rank per GPU) against one process in the same run.
want dist && step dist_nccl 240 "$python" "$root/tests/python/test_distributed.py" \
  --tttmem "$work/build/tttmem" --case nccl_smoke
gpus="$("$python" -c 'import torch; print(torch.cuda.device_count())')"
want dist && [ "$gpus" -ge 2 ] && step dist 420 "$python" "$root/scripts/bench_dist.py" \
  --build-dir "$work/build" --device cuda --config qwen3-8b --samples-per-level 10 \
  --processes "1,$gpus" --threads "$gpus" --batch-size 64 --work-dir "$work/run"

"$python" - "$steps" "$results/gpu_check_gpu.json" "$gpu" <<'EOF'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["TTTMEM_TEST_SOURCE_DIR"], "scripts"))
from bench_common import machine_description, write_result
steps = [json.loads(line) for line in open(sys.argv[1])]
write_result(sys.argv[2], {"benchmark": "scripts/gpu_check.sh: the gpu tests and GPU benchmarks",
                           **machine_description(), "gpu": sys.argv[3], "steps": steps})
failed = [s["step"] for s in steps if s["exit_code"] != 0]
print("gpu_check:", "failed: " + ", ".join(failed) if failed else "every step passed")
sys.exit(1 if failed else 0)
EOF
