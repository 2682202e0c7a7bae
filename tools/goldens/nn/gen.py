#!/usr/bin/env python3
"""Golden values for crucible's ml/nn package, from PyTorch.

Run once at development time (tests never run Python):

    /usr/bin/python3 tools/goldens/nn/gen.py ml/nn/testdata

Each case is a JSON file holding float32 inputs (as generated here, from a
fixed seed) and the outputs and gradients PyTorch computes from them. The
RoPE frequencies follow transformers' _compute_default_rope_parameters and
_compute_llama3_parameters (float32, same order of operations); the norms
follow torch.nn.functional.layer_norm and transformers' LlamaRMSNorm;
attention follows transformers' eager attention with repeat_kv.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def save(outdir, name, case):
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(case, f, separators=(",", ":"))
        f.write("\n")


def rand32(*shape, scale=1.0):
    return (torch.rand(*shape, dtype=torch.float32) * 2 - 1) * scale


def llama3_inv_freq(head_dim, theta, factor, low, high, old_ctx):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(dtype=torch.float) / head_dim))
    low_wavelen = old_ctx / low
    high_wavelen = old_ctx / high
    wavelen = 2 * math.pi / inv_freq
    inv_llama = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_llama / factor + smooth * inv_llama
    is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(is_medium, smoothed, inv_llama)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_case(outdir):
    head_dim, theta = 64, 500000.0
    sc = dict(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)
    inv = llama3_inv_freq(head_dim, theta, sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"],
                          sc["original_max_position_embeddings"])
    B, T, nh, nkv = 2, 3, 4, 2
    start = [0, 1000]
    pos = torch.tensor([[s + t for t in range(T)] for s in start], dtype=torch.int64)
    freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)  # [B, T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()  # [B, T, hd]
    q = rand32(B, T, nh, head_dim)
    k = rand32(B, T, nkv, head_dim)
    qe = q * cos[:, :, None, :] + rotate_half(q) * sin[:, :, None, :]
    ke = k * cos[:, :, None, :] + rotate_half(k) * sin[:, :, None, :]
    table_pos = [0, 1, 7, 100, 5000, 20000]
    tp = torch.tensor(table_pos, dtype=torch.float32)
    tf = tp[:, None] * inv[None, :]
    save(outdir, "rope_llama3", {
        "head_dim": head_dim, "theta": theta, "scaling": sc, "B": B, "T": T, "nh": nh, "nkv": nkv, "start": start,
        "inv_freq": flat(inv), "table_pos": table_pos, "cos": flat(tf.cos()), "sin": flat(tf.sin()),
        "q": flat(q), "k": flat(k), "q_out": flat(qe), "k_out": flat(ke),
    })


def attention_case(outdir):
    B, T, nh, nkv, D = 2, 7, 6, 2, 8
    q = rand32(B, T, nh, D, scale=2.0)
    k = rand32(B, T, nkv, D, scale=2.0)
    v = rand32(B, T, nkv, D)
    dout = rand32(B, T, nh * D)
    q64, k64, v64 = (x.double().requires_grad_() for x in (q, k, v))
    qh = q64.transpose(1, 2)  # [B, nh, T, D]
    kh = k64.transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
    vh = v64.transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
    scores = qh @ kh.transpose(2, 3) / math.sqrt(D)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(mask, float("-inf"))
    out = (torch.softmax(scores, dim=-1) @ vh).transpose(1, 2).reshape(B, T, nh * D)
    out.backward(dout.double())
    save(outdir, "attention_gqa", {
        "B": B, "T": T, "nh": nh, "nkv": nkv, "D": D,
        "q": flat(q), "k": flat(k), "v": flat(v), "dout": flat(dout),
        "out": flat(out), "dq": flat(q64.grad), "dk": flat(k64.grad), "dv": flat(v64.grad),
    })


def norm_cases(outdir):
    N, C, eps = 5, 24, 1e-5
    x = rand32(N, C, scale=3.0) + 0.7
    w = rand32(C) + 1.0
    b = rand32(C)
    dout = rand32(N, C)
    x64, w64, b64 = (t.double().requires_grad_() for t in (x, w, b))
    y = F.layer_norm(x64, (C,), w64, b64, eps)
    y.backward(dout.double())
    save(outdir, "layernorm", {
        "N": N, "C": C, "eps": eps, "x": flat(x), "w": flat(w), "b": flat(b), "dout": flat(dout),
        "out": flat(y), "dx": flat(x64.grad), "dw": flat(w64.grad), "db": flat(b64.grad),
    })
    eps = 1e-6
    x64, w64 = (t.double().requires_grad_() for t in (x, w))
    var = x64.pow(2).mean(-1, keepdim=True)
    y = w64 * (x64 * torch.rsqrt(var + eps))
    y.backward(dout.double())
    save(outdir, "rmsnorm", {
        "N": N, "C": C, "eps": eps, "x": flat(x), "w": flat(w), "dout": flat(dout),
        "out": flat(y), "dx": flat(x64.grad), "dw": flat(w64.grad),
    })


def gelu_case(outdir):
    x = rand32(64, scale=5.0)
    dout = rand32(64)
    x64 = x.double().requires_grad_()
    y = F.gelu(x64, approximate="tanh")
    y.backward(dout.double())
    save(outdir, "gelu_tanh", {"x": flat(x), "dout": flat(dout), "out": flat(y), "dx": flat(x64.grad)})


def cross_entropy_case(outdir):
    N, V = 6, 13
    logits = rand32(N, V, scale=4.0)
    targets = torch.tensor([3, -100, 0, 12, -100, 7], dtype=torch.int64)
    l64 = logits.double().requires_grad_()
    per_row = F.cross_entropy(l64, targets, ignore_index=-100, reduction="none")
    mean = F.cross_entropy(l64, targets, ignore_index=-100, reduction="mean")
    mean.backward()
    save(outdir, "cross_entropy", {
        "N": N, "V": V, "logits": flat(logits), "targets": targets.tolist(),
        "row_loss": flat(per_row), "mean": float(mean), "dlogits_mean": flat(l64.grad),
    })


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "ml/nn/testdata"
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(20261125)
    rope_case(outdir)
    attention_case(outdir)
    norm_cases(outdir)
    gelu_case(outdir)
    cross_entropy_case(outdir)


if __name__ == "__main__":
    main()
