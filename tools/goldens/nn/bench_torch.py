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


def timed(fn, reps=20, setup=None):
    """Median wall and CPU (process) milliseconds per call of fn."""
    if setup:
        setup()
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        if setup:
            setup()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    wall.sort()
    cpu.sort()
    return wall[len(wall) // 2] * 1e3, cpu[len(cpu) // 2] * 1e3


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

    logits = torch.randn(B * T, V, requires_grad=True)
    targets = torch.randint(0, V, (B * T,))

    def ce():
        loss = F.cross_entropy(logits, targets)
        loss.backward()

    print(f"threads={torch.get_num_threads()}  (median wall ms, median CPU ms per call)")
    for name, fn, setup in [("attention forward", attn_fwd, None),
                            ("attention backward", attn_bwd, attn_fwd_saved),
                            ("cross-entropy fwd+bwd", ce, None)]:
        w, c = timed(fn, setup=setup)
        print(f"{name:24s} wall {w:8.2f}  cpu {c:8.2f}")


if __name__ == "__main__":
    main()
