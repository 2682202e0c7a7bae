"""The weight-delta fingerprint, as crucible computes it (tuning.Fingerprint):
the delta from the base, in crucible's parameter order, sampled at a fixed
stride when it has more than 2^24 elements, projected onto 64 fixed ±1
directions whose signs for element i are the bits of SplitMix64(seed ^ i),
and divided by √(elements projected). Near-duplicate submissions have
fingerprints pointing the same way."""

import math

import torch

DIMS = 64
SEED = 0x6372756369626C65
MAX = 1 << 24
_CHUNK = 1 << 15
_M64 = (1 << 64) - 1


def _signed(c):
    return c - (1 << 64) if c >= 1 << 63 else c


_C1, _C2, _C3 = _signed(0x9E3779B97F4A7C15), _signed(0xBF58476D1CE4E5B9), _signed(0x94D049BB133111EB)


def _srl(x, k):
    """Logical right shift of int64 values."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def mix(x):
    """SplitMix64's finalizer on an int64 tensor (arithmetic modulo 2^64)."""
    x = x + _C1
    x = (x ^ _srl(x, 30)) * _C2
    x = (x ^ _srl(x, 27)) * _C3
    return x ^ _srl(x, 31)


def mix_int(x):
    """mix on a Python integer (the reference the tensor version is tested
    against)."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class Fingerprint:
    """Accumulates the fingerprint of a delta of total elements, given piece
    by piece with each piece's offset in crucible's parameter order."""

    def __init__(self, total, device="cpu"):
        self.total = total
        self.stride = max(1, (total + MAX - 1) // MAX)
        self.n = (total + self.stride - 1) // self.stride
        self.device = device
        self.sums = torch.zeros(DIMS, dtype=torch.float64, device=device)
        self.bits = torch.arange(DIMS, dtype=torch.int64, device=device)
        self.nonzero = False

    def add(self, offset, delta):
        d = delta.detach().reshape(-1)
        if d.numel() == 0:
            return
        if bool(torch.any(d != 0)):
            self.nonzero = True
        first = (-offset) % self.stride
        d = d[first::self.stride].to(self.device, torch.float64)
        base = (offset + first) // self.stride
        for lo in range(0, d.numel(), _CHUNK):
            part = d[lo:lo + _CHUNK]
            if not bool(torch.any(part != 0)):
                continue
            i = torch.arange(base + lo, base + lo + part.numel(), dtype=torch.int64, device=self.device)
            h = mix(i ^ SEED)
            signs = ((h[:, None] >> self.bits) & 1).to(torch.float64) * 2 - 1
            self.sums += part @ signs

    def value(self):
        scale = 1 / math.sqrt(max(self.n, 1))
        return [float(torch.tensor(v * scale, dtype=torch.float32)) for v in self.sums.tolist()]
