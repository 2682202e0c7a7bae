#!/usr/bin/env python3
"""PyTorch timings for the shapes of ml/nn's Go benchmarks, for side-by-side
comparison on the same machine (development time only):

    /usr/bin/python3 tools/goldens/nn/bench_torch.py [threads]

Attention is the eager causal formulation (scores, mask, softmax, PV) that
transformers uses; cross-entropy is F.cross_entropy with its backward.
"""
import math
import sys
import time

import torch
import torch.nn.functional as F

B, T, C, H, V = 4, 256, 384, 6, 8192


def median_ms(fn, reps=20):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2] * 1e3, ts[0] * 1e3


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    D = C // H
    q, k, v = (torch.randn(B, H, T, D, requires_grad=True) for _ in range(3))
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    dout = torch.randn(B, H, T, D)

    def attn():
        s = (q @ k.transpose(2, 3)) / math.sqrt(D)
        s = s.masked_fill(mask, float("-inf"))
        return torch.softmax(s, dim=-1) @ v

    def attn_fwd():
        with torch.no_grad():
            attn()

    out = [None]

    def attn_fwd_saved():
        out[0] = attn()

    def attn_bwd():
        out[0].backward(dout)

    fwd = median_ms(attn_fwd)
    # Backward alone: rebuild the graph outside the timed region.
    ts = []
    for _ in range(20):
        attn_fwd_saved()
        t0 = time.perf_counter()
        attn_bwd()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    logits = torch.randn(B * T, V, requires_grad=True)
    targets = torch.randint(0, V, (B * T,))

    def ce():
        loss = F.cross_entropy(logits, targets)
        loss.backward()

    cef = median_ms(ce)
    print(f"threads={torch.get_num_threads()}")
    print(f"attention forward  median {fwd[0]:.2f} ms  min {fwd[1]:.2f} ms")
    print(f"attention backward median {ts[len(ts)//2]*1e3:.2f} ms  min {ts[0]*1e3:.2f} ms")
    print(f"cross-entropy fwd+bwd median {cef[0]:.2f} ms  min {cef[1]:.2f} ms")


if __name__ == "__main__":
    main()
