"""Writes the safetensors golden files under ml/safetensors/testdata.

Debian ships PyTorch but not the safetensors Python package, so this script
serializes tensors itself, following the format specification and the layout
choices of the reference writer (which differ from crucible's): tensors are
laid out by descending dtype alignment, then name; the header is compact JSON
with "__metadata__" first, padded with spaces to a multiple of 8 bytes.
Expected values come from PyTorch's own dtype conversions, so the Go reader is
checked against an independent implementation.

Run from the repository root: /usr/bin/python3 tools/goldens/safetensors/make_goldens.py
"""
import json
import os
import struct

import torch

OUT = "ml/safetensors/testdata"

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def raw_bytes(t):
    """Little-endian bytes of a contiguous tensor, via a same-width int view."""
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype == torch.bool:
        return t.to(torch.uint8).numpy().tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def serialize(tensors, metadata):
    names = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, off = [], 0
    for n in names:
        b = raw_bytes(tensors[n])
        header[n] = {"dtype": DTYPES[tensors[n].dtype], "shape": list(tensors[n].shape),
                     "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def expected(tensors):
    out = {}
    for n, t in tensors.items():
        vals = t.to(torch.float32) if t.dtype.is_floating_point else t.to(torch.int64)
        out[n] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                  "values": [repr(v) if isinstance(v, float) else v for v in vals.flatten().tolist()]}
    return out


def main():
    g = torch.Generator().manual_seed(56)
    tensors = {
        "model.embed.weight": torch.randn(5, 4, generator=g, dtype=torch.float32),
        "model.norm.weight": (torch.randn(6, generator=g) * 3).to(torch.bfloat16),
        "model.proj.weight": (torch.randn(3, 2, 2, generator=g) * 100).to(torch.float16),
        "half.special": torch.tensor([0.0, -0.0, 65504.0, -65504.0, 6e-8, 1e-5, float("inf"), float("-inf")],
                                     dtype=torch.float16),
        "bf16.special": torch.tensor([1e38, -3e-39, 1.0, float("inf")], dtype=torch.bfloat16),
        "f64.values": torch.tensor([[1.0 / 3, -2.5], [1e-40, 7.0]], dtype=torch.float64),
        "scalar": torch.tensor(2.75, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "ids": torch.tensor([0, -1, 2**40, 7], dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
        "bytes": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "i32": torch.tensor([[-5, 6]], dtype=torch.int32),
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "golden.safetensors"), "wb") as f:
        f.write(serialize(tensors, {"format": "pt", "source": "tools/goldens/safetensors"}))
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(expected(tensors), f, indent=1, sort_keys=True)

    # A sharded model directory as Hugging Face writes it.
    d = os.path.join(OUT, "sharded")
    os.makedirs(d, exist_ok=True)
    shards = [
        {"a.weight": torch.randn(4, 3, generator=g).to(torch.bfloat16), "a.bias": torch.randn(3, generator=g)},
        {"b.weight": torch.randn(2, 2, generator=g).to(torch.float16)},
    ]
    weight_map, total, exp = {}, 0, {}
    for i, s in enumerate(shards):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        with open(os.path.join(d, fname), "wb") as f:
            f.write(serialize(s, {"format": "pt"}))
        for n, t in s.items():
            weight_map[n] = fname
            total += t.numel() * t.element_size()
        exp.update(expected(s))
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    with open(os.path.join(OUT, "sharded.json"), "w") as f:
        json.dump(exp, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
