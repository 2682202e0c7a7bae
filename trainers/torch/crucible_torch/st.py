"""safetensors files without the safetensors package: read (memory-mapped,
one tensor at a time, sharded checkpoints too) and write."""

import json
import os
import struct

import numpy as np
import torch

from .errors import invalid

_NP = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "I16": "<i2",
       "I8": "i1", "U8": "u1", "U16": "<u2", "U32": "<u4", "BOOL": "u1"}
_TORCH_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
               torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
               torch.bool: "BOOL"}


class File:
    """One safetensors file: its tensor names, shapes and dtypes, and
    ``get(name)`` to read one as a torch tensor (a copy, in its stored
    dtype)."""

    def __init__(self, path):
        self.path = path
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                raw = f.read(8)
                if len(raw) != 8:
                    raise invalid("%s: not a safetensors file (too short)" % path)
                (n,) = struct.unpack("<Q", raw)
                if n <= 0 or 8 + n > size or n > 100 << 20:
                    raise invalid("%s: not a safetensors file (header length %d)" % (path, n))
                header = json.loads(f.read(n))
        except OSError as e:
            raise invalid("%s: %s" % (path, e.strerror or e))
        except ValueError as e:
            raise invalid("%s: the safetensors header is not JSON: %s" % (path, e))
        self.metadata = header.pop("__metadata__", None) or {}
        self.start = 8 + n
        self.size = size
        self.entries = {}
        for name, e in header.items():
            if not isinstance(e, dict) or e.get("dtype") not in _NP:
                raise invalid("%s: tensor %s has an unsupported dtype %r" % (path, name, e.get("dtype") if isinstance(e, dict) else e))
            lo, hi = e["data_offsets"]
            shape = [int(d) for d in e["shape"]]
            count = int(np.prod(shape)) if shape else 1
            if lo < 0 or hi < lo or self.start + hi > size or hi - lo != count * np.dtype(_NP[e["dtype"]]).itemsize:
                raise invalid("%s: tensor %s's data lies outside the file or does not match its shape %s" % (path, name, shape))
            self.entries[name] = (e["dtype"], shape, lo, hi)

    def names(self):
        return list(self.entries)

    def shape(self, name):
        return self.entries[name][1]

    def dtype(self, name):
        return self.entries[name][0]

    def get(self, name):
        dt, shape, lo, hi = self.entries[name]
        count = int(np.prod(shape)) if shape else 1
        if count == 0:
            arr = np.zeros(0, dtype=_NP[dt])
        else:
            arr = np.array(np.memmap(self.path, dtype=_NP[dt], mode="r", offset=self.start + lo, shape=(count,)))
        if dt == "BF16":
            t = torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16)
        elif dt == "BOOL":
            t = torch.from_numpy(arr).bool()
        else:
            t = torch.from_numpy(arr)
        return t.reshape(shape)


class Dir:
    """The safetensors weights of a model directory: model.safetensors, or
    the shards a model.safetensors.index.json names (any *.safetensors
    file otherwise)."""

    def __init__(self, path, single="model.safetensors"):
        self.files = {}
        index = os.path.join(path, single + ".index.json")
        one = os.path.join(path, single)
        if os.path.isfile(one):
            paths = [one]
        elif os.path.isfile(index):
            try:
                with open(index) as f:
                    wm = json.load(f)["weight_map"]
            except (OSError, ValueError, KeyError) as e:
                raise invalid("%s: %s" % (index, e))
            paths = []
            for shard in sorted(set(wm.values())):
                if os.path.basename(shard) != shard:
                    raise invalid("%s names a shard outside the directory: %r" % (index, shard))
                paths.append(os.path.join(path, shard))
        else:
            paths = sorted(os.path.join(path, p) for p in os.listdir(path) if p.endswith(".safetensors"))
        if not paths:
            raise invalid("%s holds no safetensors weights (%s)" % (path, single))
        self.where = {}
        for p in paths:
            f = File(p)
            self.files[p] = f
            for name in f.names():
                self.where[name] = f

    def names(self):
        return list(self.where)

    def shape(self, name):
        return self.where[name].shape(name)

    def dtype(self, name):
        return self.where[name].dtype(name)

    def get(self, name):
        return self.where[name].get(name)

    def __contains__(self, name):
        return name in self.where


def write(path, tensors, metadata=None):
    """Writes tensors (a dict name → tensor, written in name order) to a
    safetensors file, atomically: a temporary file renamed into place."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    names = sorted(tensors)
    off = 0
    prepared = []
    for name in names:
        t = tensors[name].detach()
        if t.dtype not in _TORCH_NAME:
            raise ValueError("tensor %s: dtype %s cannot be written" % (name, t.dtype))
        t = t.to("cpu").contiguous()
        nbytes = t.numel() * t.element_size()
        header[name] = {"dtype": _TORCH_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
        prepared.append(t)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for t in prepared:
            if t.numel() == 0:
                continue
            if t.dtype == torch.bfloat16:
                f.write(t.view(torch.int16).numpy().tobytes())
            elif t.dtype == torch.bool:
                f.write(t.to(torch.uint8).numpy().tobytes())
            else:
                f.write(t.numpy().tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
