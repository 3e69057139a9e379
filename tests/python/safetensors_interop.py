"""Independent check of tttmem's safetensors files against the reference `safetensors` package.

  safetensors_interop.py check FILE WRITER   read FILE (written by tttmem) and verify it
  safetensors_interop.py write FILE          write FILE for tttmem to read

Both sides build the same tensors: byte k of the tensor with salt s is (31 k + 7 s) mod 251.
Called by tests/io/test_interop.cpp, which keeps the same table.
"""
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32,
          "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
          "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
SPEC = [("a.bf16", "BF16", [3, 5]), ("b.f32", "F32", [4]), ("c.i64", "I64", [2, 3]),
        ("d.u8", "U8", [7]), ("e.f16", "F16", [2, 2]), ("f.i32", "I32", [3]),
        ("g.scalar", "F32", []), ("h.empty", "BF16", [0, 3])]


def pattern(n, salt):
    return bytes((31 * k + 7 * salt) % 251 for k in range(n))


def expected(salt, dtype, shape):
    numel = 1
    for d in shape:
        numel *= d
    size = torch.empty((), dtype=DTYPES[dtype]).element_size()
    return pattern(numel * size, salt)


def tensor_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def check(path, writer):
    tensors = load_file(path)
    if sorted(tensors) != sorted(name for name, _, _ in SPEC):
        sys.exit(f"{path}: tensor names {sorted(tensors)}")
    for salt, (name, dtype, shape) in enumerate(SPEC):
        t = tensors[name]
        if t.dtype != DTYPES[dtype] or list(t.shape) != shape:
            sys.exit(f"{path}: {name} is {t.dtype} {list(t.shape)}, expected {dtype} {shape}")
        if tensor_bytes(t) != expected(salt, dtype, shape):
            sys.exit(f"{path}: {name} bytes differ")
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    if meta != {"format": "pt", "writer": writer}:
        sys.exit(f"{path}: metadata {meta}")
    print("OK")


def write(path):
    tensors = {}
    for salt, (name, dtype, shape) in enumerate(SPEC):
        raw = expected(salt, dtype, shape)
        flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        tensors[name] = flat.view(DTYPES[dtype]).reshape(shape)
    save_file(tensors, path, metadata={"format": "pt", "writer": "python"})


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        sys.exit(__doc__)
