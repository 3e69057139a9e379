#!/usr/bin/env python3
"""Qwen3 decoder speed of tttmem against transformers (eager attention) on the same random
checkpoints in the same run: prefill of N tokens (last-token logits, as generation uses) and one
decode step after an N-token prefix, batch 1. Writes benchmark/results/model_<device>.json.

CPU (fp32):  .venv/bin/python scripts/bench_model.py --build-dir build
GPU (bf16):  .venv/bin/python scripts/bench_model.py --device cuda --configs qwen3-8b \
                 --ttt-tokens 32768 --ttt-chunk 4096
             (adds the HBM roofline of a decode step: weight bytes / the bandwidth of a
             device-to-device copy measured in the same run)

--ttt-tokens M adds tttmem's prefill of M tokens with In-Place TTT on every 6th layer (chunk
--ttt-chunk, random non-zero parameters) against the same prefill without TTT in the same run:
the TTT overhead.

Checkpoints come from `tttmem init-model --seed 0` into --work-dir (kept for reuse).
"""
import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import torch
import transformers
from transformers import Qwen3ForCausalLM

from bench_common import ROOT, machine_description, write_result



def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def hf_times(model_dir, device, dtype, tokens, repeats):
    model = Qwen3ForCausalLM.from_pretrained(model_dir, dtype=dtype,
                                             attn_implementation="eager").to(device).eval()
    vocab = model.config.vocab_size
    ids = torch.randint(vocab, (1, tokens + 1), generator=torch.Generator().manual_seed(0)).to(device)
    prefill, decode = [], []
    with torch.inference_mode():
        for i in range(repeats + 1):  # the first run warms up
            start = time.perf_counter()
            out = model(input_ids=ids[:, :tokens], use_cache=True, logits_to_keep=1)
            out.logits.sum().item()
            sync(device)
            if i:
                prefill.append(time.perf_counter() - start)
        cache = out.past_key_values
        for i in range(3 * repeats + 1):
            cache.crop(tokens)
            start = time.perf_counter()
            step = model(input_ids=ids[:, tokens:], past_key_values=cache, use_cache=True,
                         logits_to_keep=1)
            step.logits.sum().item()
            sync(device)
            if i:
                decode.append(time.perf_counter() - start)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    del model
    return statistics.median(prefill), statistics.median(decode), weight_bytes


def copy_bandwidth(device, gib=4, repeats=10):
    """Bytes read plus written per second by a device-to-device copy of `gib` GiB: the decode
    roofline's bandwidth, measured on this GPU rather than taken from a datasheet."""
    src = torch.empty(gib << 30, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        dst.copy_(src)
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1e3 / repeats
    del src, dst
    torch.cuda.empty_cache()
    return 2 * (gib << 30) / seconds


def tttmem_times(build_dir, dirs, device, dtype, tokens, repeats, threads, ttt_tokens, ttt_chunk):
    exe = build_dir / "benchmark" / "bench_model"
    cmd = [str(exe), "--device", device, "--dtype", dtype, "--tokens", str(tokens),
           "--ttt-tokens", str(ttt_tokens), "--ttt-chunk", str(ttt_chunk),
           "--threads", str(threads),
           "--benchmark_format=json", f"--benchmark_repetitions={repeats}",
           "--benchmark_report_aggregates_only=true"]
    for d in dirs:
        cmd += ["--model", str(d)]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = {}
    for b in json.loads(proc.stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            assert b["time_unit"] == "ms"
            out[b["run_name"].removesuffix("/real_time")] = b["real_time"] / 1e3
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--configs", nargs="+", default=["tiny-qwen3", "qwen3-mid"])
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ttt-tokens", type=int, default=0, help="0: no TTT prefill comparison")
    ap.add_argument("--ttt-chunk", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="CPU threads for both sides (torch intra-op)")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/tttmem-bench-model"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)  # other work on the machine skews both sides
    cuda = args.device.startswith("cuda")
    torch.set_num_threads(args.threads)
    dtype_flag, dtype = ("bf16", torch.bfloat16) if cuda else ("fp32", torch.float32)
    out_path = args.out or ROOT / "benchmark" / "results" / f"model_{'gpu' if cuda else 'cpu'}.json"

    dirs = []
    for name in args.configs:
        d = args.work_dir / name
        if not (d / "config.json").exists():
            subprocess.run([str(args.build_dir / "tttmem"), "init-model", "--config",
                            str(ROOT / "configs" / "models" / f"{name}.json"), "--seed", "0",
                            "--out", str(d)], check=True)
        dirs.append(d)

    ours = tttmem_times(args.build_dir, dirs, args.device, dtype_flag, args.tokens, args.repeats,
                        torch.get_num_threads(), args.ttt_tokens, args.ttt_chunk)
    bandwidth = copy_bandwidth(args.device) if cuda else None
    rows = []
    for name, d in zip(args.configs, dirs):
        hf_prefill, hf_decode, weight_bytes = hf_times(d, args.device, dtype, args.tokens,
                                                       args.repeats)
        our_prefill, our_decode = ours[f"prefill/{name}"], ours[f"decode/{name}"]
        row = {
            "config": name,
            "weight_bytes": weight_bytes,
            "prefill_tokens": args.tokens,
            "tttmem_prefill_s": round(our_prefill, 5),
            "transformers_prefill_s": round(hf_prefill, 5),
            "tttmem_prefill_tokens_per_s": round(args.tokens / our_prefill, 1),
            "speedup_prefill_vs_transformers": round(hf_prefill / our_prefill, 3),
            "tttmem_decode_ms": round(our_decode * 1e3, 3),
            "transformers_decode_ms": round(hf_decode * 1e3, 3),
            "speedup_decode_vs_transformers": round(hf_decode / our_decode, 3),
        }
        if args.ttt_tokens:
            plain, ttt = ours[f"prefill_plain/{name}"], ours[f"prefill_ttt/{name}"]
            row.update({"ttt_prefill_tokens": args.ttt_tokens, "ttt_chunk": args.ttt_chunk,
                        "plain_prefill_s": round(plain, 5), "ttt_prefill_s": round(ttt, 5),
                        "ttt_prefill_overhead": round(ttt / plain - 1, 4)})
        if cuda:
            roofline = weight_bytes / bandwidth
            row["decode_roofline_ms"] = round(roofline * 1e3, 3)
            row["decode_fraction_of_roofline"] = round(roofline / our_decode, 3)
        rows.append(row)

    result = {
        "benchmark": f"Qwen3 prefill ({args.tokens} tokens, last-token logits) and one decode step "
                     f"after a {args.tokens}-token prefix, batch 1, {dtype_flag}, random weights; "
                     "median of repeats; reference: transformers eager in the same run",
        "command": "scripts/bench_model.py " + " ".join(
            ["--build-dir", str(args.build_dir), "--device", args.device, "--configs",
             *args.configs, "--tokens", str(args.tokens), "--repeats", str(args.repeats),
             "--ttt-tokens", str(args.ttt_tokens), "--ttt-chunk", str(args.ttt_chunk),
             "--threads", str(args.threads)]),
        "load_average_at_start": load_at_start,
        **machine_description(),
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "copy_bandwidth_gb_per_s": round(bandwidth / 1e9, 1) if cuda else None,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "results": rows,
    }
    write_result(out_path, result)


if __name__ == "__main__":
    main()
