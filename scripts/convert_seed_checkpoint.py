#!/usr/bin/env python3
"""Convert the seed experiment's TTT checkpoint (train_minimal.py's ttt_minimal.pt: a torch.save'd
dict of the ttt_proj / ttt_conv tensors under their state_dict names) to a safetensors file that
`tttmem run|forward|sanity --ttt FILE` loads (SPEC.md `train`: the same Hugging Face key names).

The file is read with torch.load(weights_only=True), so it cannot run code. Keys are kept as
written; a key that is not a TTT tensor, a non-tensor value, or no TTT tensor at all is an error.
Values keep their dtype (the seed saved bf16) unless --dtype says otherwise.

  scripts/convert_seed_checkpoint.py ttt_minimal.pt ttt_minimal.safetensors
"""
import argparse
import os
import re
import sys

import torch
from safetensors.torch import save_file

TTT_KEY = re.compile(r"^model\.layers\.\d+\.mlp\.ttt_(proj|conv)\.weight$")
DTYPES = {"keep": None, "bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}


def convert(source, target, dtype=None):
    state = torch.load(source, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SystemExit(f"{source}: expected a dict of tensors, got {type(state).__name__}")
    tensors = {}
    for key, value in state.items():
        name = key[len("module."):] if key.startswith("module.") else key  # DDP/FSDP prefix
        if not TTT_KEY.match(name):
            raise SystemExit(f"{source}: key {key!r} is not a ttt_proj/ttt_conv weight")
        if not isinstance(value, torch.Tensor):
            raise SystemExit(f"{source}: {key!r} holds a {type(value).__name__}, not a tensor")
        tensors[name] = (value if dtype is None else value.to(dtype)).contiguous()
    if not tensors:
        raise SystemExit(f"{source}: no TTT tensor")
    tmp = target + ".tmp"
    save_file(tensors, tmp, metadata={"source": os.path.basename(source),
                                      "format": "tttmem.ttt_params"})
    os.replace(tmp, target)  # atomic: no half-written file under the target name
    return tensors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="the seed's ttt_minimal.pt")
    parser.add_argument("target", help="output .safetensors")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="keep")
    args = parser.parse_args()
    tensors = convert(args.source, args.target, DTYPES[args.dtype])
    layers = sorted({int(k.split(".")[2]) for k in tensors})
    print(f"{args.target}: {len(tensors)} tensors, layers {layers}", file=sys.stderr)


if __name__ == "__main__":
    main()
