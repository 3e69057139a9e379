#!/usr/bin/env python3
"""One training step of `tttmem train-minimal` against the same step in PyTorch eager, in the
same run: a small Qwen3 (hidden 256, 4 layers, vocab 4096) with In-Place TTT on layers 0 and 2
(chunk 64), seq 512, batch 1, fp32 on the CPU, trainable set `ttt`: forward, HF causal-LM loss,
backward, clip, AdamW. The PyTorch side is transformers Qwen3 (sdpa) with the spec's TTT training
form from tests/python/make_train_reference.py. Median step seconds after 2 warm-up steps.
Writes benchmark/results/train_cpu.json.

On a GPU (--device cuda) both sides run in bf16 on a larger model (hidden 1024, F 3072, 8 layers,
seq 2048), where a step is not launch-bound; writes benchmark/results/train_gpu.json.

  .venv/bin/python scripts/bench_train.py --build-dir build [--device cuda]
"""
import argparse
import base64
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import Qwen3ForCausalLM

from bench_common import ROOT, machine_description, write_result

sys.path.insert(0, str(ROOT / "tests" / "python"))
import make_train_reference as ref  # noqa: E402

CONFIG = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 4096,
          "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4,
          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
          "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
          "tie_word_embeddings": False, "torch_dtype": "float32", "hidden_act": "silu",
          "attention_bias": False, "attention_dropout": 0.0, "initializer_range": 0.02,
          "bos_token_id": 256, "eos_token_id": 258, "use_cache": True,
          "use_sliding_window": False, "sliding_window": None, "max_window_layers": 4,
          "rope_scaling": None}
GPU_CONFIG = {**CONFIG, "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 8,
              "num_attention_heads": 16, "num_key_value_heads": 8, "max_window_layers": 8}
LAYERS, CHUNK, TTT_LR, SEQ, GPU_SEQ = [0, 2], 64, 3.0, 512, 2048
WARMUP, MEASURED = 2, 8
OPTIM = {"lr": 1e-5, "betas": (0.9, 0.95), "weight_decay": 0.01}


def prepare(work, tttmem, config, seq):
    (work / "tok").mkdir(parents=True, exist_ok=True)
    (work / "tok" / "bytes.tiktoken").write_text(
        "".join(f"{base64.b64encode(bytes([b])).decode()} {b}\n" for b in range(256)))
    (work / "tok" / "bytes_added_tokens.json").write_text(
        json.dumps({"<|endoftext|>": 256, "<|im_start|>": 257, "<|im_end|>": 258}))
    (work / "config.json").write_text(json.dumps(config))
    subprocess.run([tttmem, "--seed", "0", "init-model", "--config", str(work / "config.json"),
                    "--out", str(work / "model")], check=True, capture_output=True)
    gen = torch.Generator().manual_seed(0)
    lines = []
    for _ in range(WARMUP + MEASURED + 2):  # one seq-token row each, printable bytes
        text = bytes(torch.randint(32, 127, (seq,), generator=gen).tolist()).decode()
        lines.append(json.dumps({"text": text}))
    (work / "corpus.jsonl").write_text("\n".join(lines) + "\n")


def tttmem_step_seconds(tttmem, work, device, seq, extra):
    out = work / ("run" + "".join(extra).replace("-", "_"))
    subprocess.run([tttmem, "--device", device, "--dtype", "bf16" if device == "cuda" else "fp32",
                    "--log-level", "warn", "train-minimal",
                    "--model", str(work / "model"), "--tokenizer", str(work / "tok"),
                    "--data", str(work / "corpus.jsonl"), "--out", str(out),
                    "--ttt-layers", ",".join(map(str, LAYERS)), "--ttt-chunk", str(CHUNK),
                    "--ttt-lr", str(TTT_LR), "--ttt-init", "dense", "--seq-len", str(seq),
                    "--packing", "pack", "--batch-size", "1", "--grad-accum", "1",
                    "--steps", str(WARMUP + MEASURED), "--save-every", "0",
                    "--lr", str(OPTIM["lr"]), *extra], check=True)
    steps = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(s["tokens"] / s["tokens_per_s"] for s in steps[WARMUP:])


def torch_step_seconds(work, device, config, seq):
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = Qwen3ForCausalLM.from_pretrained(work / "model", dtype=torch.float32,
                                             attn_implementation="sdpa")
    d = config["hidden_size"]
    gen = torch.Generator().manual_seed(1)
    for layer in LAYERS:
        mlp = model.model.layers[layer].mlp
        mlp.ttt_proj = torch.nn.Linear(d, d, bias=False)
        mlp.ttt_conv = torch.nn.Conv1d(d, d, 5, padding=2, groups=d, bias=False)
        with torch.no_grad():
            mlp.ttt_proj.weight.copy_(torch.randn(d, d, generator=gen) * 0.02)
            mlp.ttt_conv.weight.zero_()
    model.to(device=device, dtype=dtype)
    ref.graft_ttt(model, LAYERS, CHUNK, TTT_LR)
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_("ttt_" in name)
        if "ttt_" in name:
            params.append(p)
    optim = torch.optim.AdamW(params, **OPTIM)
    ids = torch.randint(32, 127, (1, seq), generator=gen).to(device)
    times = []
    for i in range(WARMUP + MEASURED):
        start = time.perf_counter()
        loss = ref.causal_lm_loss(model(input_ids=ids, use_cache=False).logits.float(), ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        optim.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--work-dir", default=str(ROOT / "out" / "bench_train"))
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    tttmem = str(Path(args.build_dir) / "tttmem")
    work = Path(args.work_dir)
    cuda = args.device == "cuda"
    config, seq = (GPU_CONFIG, GPU_SEQ) if cuda else (CONFIG, SEQ)
    prepare(work, tttmem, config, seq)
    torch.set_num_threads(torch.get_num_threads())

    def ours(*extra):
        return tttmem_step_seconds(tttmem, work, args.device, seq, list(extra))

    results = {
        "pytorch_eager": torch_step_seconds(work, args.device, config, seq),
        "tttmem_auto": ours(),
        "tttmem_parallel": ours("--ttt-form", "parallel"),
        "tttmem_checkpointed": ours("--grad-checkpointing"),
    }
    base = results["pytorch_eager"]
    rows = [{"variant": k, "median_step_s": v, "speedup_vs_pytorch": base / v}
            for k, v in results.items()]
    result = {"benchmark": "train_step", "device": args.device,
              "dtype": "bf16" if cuda else "fp32",
              "gpu": torch.cuda.get_device_name() if cuda else None,
              "config": config, "ttt_layers": LAYERS, "chunk": CHUNK, "seq_len": seq,
              "batch": 1, "trainable": "ttt", "warmup_steps": WARMUP, "measured_steps": MEASURED,
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              **machine_description(), "results": rows}
    write_result(ROOT / "benchmark" / "results" / f"train_{'gpu' if cuda else 'cpu'}.json", result)
    for r in rows:
        print(f"{r['variant']:>22}: {r['median_step_s'] * 1e3:8.1f} ms/step "
              f"({r['speedup_vs_pytorch']:.2f}x PyTorch eager)")


if __name__ == "__main__":
    main()
