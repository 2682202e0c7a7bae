#!/usr/bin/env python3
"""Side-by-side training speed: crucible against PyTorch on the same CPU.

Runs the configs of `crucible bench train` (same shapes, random tokens,
AdamW, gradient clipping; LoRA rank 16, alpha 32 on the same projections) in
crucible (fp32 and bf16) and in PyTorch (fp32, and bf16 autocast), taking
turns within each round so that outside load hits every contender alike,
and prints the medians over the rounds:

    /usr/bin/python3 tools/torchbench/train.py --crucible ./crucible \\
        --configs gpt2-30m,llama-30m,gpt2-124m --rounds 3 --steps 4

Every run is its own process (so its peak RSS is its own). PyTorch runs in
the environment this CPU likes best: GLIBC_TUNABLES=glibc.malloc.hugetlb=1,
OMP_WAIT_POLICY=PASSIVE, OPENBLAS_CORETYPE unset, one thread per core.
tokens/s is over wall-clock time; "per CPU-s" divides by the CPU time the
process got times the thread count, which stays comparable on a machine
shared with other work. Development-time tool (Debian's python3-torch).
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = {
    # name: (family, hidden, layers, heads, kv heads, intermediate, vocab, B, T)
    "gpt2-5m": ("gpt2", 256, 4, 4, 4, 1024, 8192, 8, 128),
    "gpt2-30m": ("gpt2", 384, 6, 6, 6, 1536, 50257, 4, 256),
    "llama-30m": ("llama", 384, 6, 6, 2, 1536, 49152, 4, 256),
    "gpt2-124m": ("gpt2", 768, 12, 12, 12, 3072, 50257, 4, 64),
    "gpt2-124m-t256": ("gpt2", 768, 12, 12, 12, 3072, 50257, 4, 256),
}

# crucible's best tokens/s over PyTorch's best (fp32 or bf16 autocast) that
# the engine aims at on a CPU with AMX or AVX512_BF16.
GOAL = 1.3

TUNED_ENV = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", "OMP_WAIT_POLICY": "PASSIVE"}


def torch_one(config, mode, precision, steps, threads):
    """Trains config in PyTorch and returns the row (runs in a child)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    fam, C, L, H, KV, I, V, B, T = CONFIGS[config]
    hd = C // H

    class LoRALinear(nn.Module):
        def __init__(self, base, r=16, alpha=32):
            super().__init__()
            self.base = base
            self.a = nn.Parameter(torch.empty(r, base.in_features).uniform_(-1, 1) / math.sqrt(base.in_features))
            self.b = nn.Parameter(torch.zeros(base.out_features, r))
            self.scale = alpha / r

        def forward(self, x):
            return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale

    def attend(q, k, v):
        # q [B, H, T, hd], k, v [B, KV, T, hd]: eager causal attention.
        if k.shape[1] != q.shape[1]:
            rep = q.shape[1] // k.shape[1]
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        s = s.masked_fill(mask, float("-inf"))
        return torch.softmax(s, dim=-1) @ v

    class GPT2Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, I), nn.Linear(I, C)

        def forward(self, x):
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=-1)
            q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
            y = attend(q, k, v).transpose(1, 2).reshape(B, T, C)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(C))

        def forward(self, x):
            x32 = x.float()
            return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * self.w

    inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.outer(torch.arange(T).float(), inv)
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()

    def rope(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    class LlamaBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.n1, self.n2 = RMSNorm(), RMSNorm()
            self.q_proj, self.k_proj = nn.Linear(C, H * hd, bias=False), nn.Linear(C, KV * hd, bias=False)
            self.v_proj, self.o_proj = nn.Linear(C, KV * hd, bias=False), nn.Linear(H * hd, C, bias=False)
            self.gate_proj, self.up_proj = nn.Linear(C, I, bias=False), nn.Linear(C, I, bias=False)
            self.down_proj = nn.Linear(I, C, bias=False)

        def forward(self, x):
            h = self.n1(x)
            q = rope(self.q_proj(h).view(B, T, H, hd).transpose(1, 2))
            k = rope(self.k_proj(h).view(B, T, KV, hd).transpose(1, 2))
            v = self.v_proj(h).view(B, T, KV, hd).transpose(1, 2)
            x = x + self.o_proj(attend(q, k, v).transpose(1, 2).reshape(B, T, H * hd))
            h = self.n2(x)
            return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, C)
            self.wpe = nn.Embedding(1024, C) if fam == "gpt2" else None
            self.blocks = nn.ModuleList([GPT2Block() if fam == "gpt2" else LlamaBlock() for _ in range(L)])
            self.norm = nn.LayerNorm(C) if fam == "gpt2" else RMSNorm()

        def forward(self, tokens, labels):
            x = self.wte(tokens)
            if self.wpe is not None:
                x = x + self.wpe(torch.arange(T))
            for b in self.blocks:
                x = b(x)
            logits = self.norm(x) @ self.wte.weight.t()  # tied head
            return F.cross_entropy(logits.view(-1, V).float(), labels.view(-1))

    m = Model()
    for p in m.parameters():
        if p.dim() > 1:
            nn.init.normal_(p, std=0.02)
    if mode == "lora":
        for p in m.parameters():
            p.requires_grad_(False)
        targets = ["c_attn", "c_proj", "c_fc", "mlp_proj"] if fam == "gpt2" else \
            ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        for b in m.blocks:
            for t in targets:
                setattr(b, t, LoRALinear(getattr(b, t)))
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, V, (B, T), generator=g)
    labels = torch.randint(0, V, (B, T), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = m(tokens, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    step()  # warm-up: allocations, optimizer state
    walls, cpus = [], []
    for _ in range(steps):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {"tokens_per_s": B * T / wall, "tokens_per_cpu_s": B * T / cpu * threads,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def run_child(args, kind, config, mode, precision):
    """One measurement in its own process; returns its row."""
    if kind == "crucible":
        cmd = [args.crucible, "bench", "train", "--json", "--configs", config, "--mode", mode,
               "--steps", str(args.steps), "--precision", precision]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        util = row.get("cpu_util") or 0
        row["tokens_per_cpu_s"] = row["tokens_per_s"] / util if util > 0 else 0
        return row
    env = dict(os.environ, **TUNED_ENV)
    env.pop("OPENBLAS_CORETYPE", None)
    cmd = [sys.executable, os.path.abspath(__file__), "--one", f"{config}:{mode}:{precision}",
           "--steps", str(args.steps), "--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crucible", default="crucible", help="the crucible binary")
    ap.add_argument("--configs", default="gpt2-30m,llama-30m,gpt2-124m")
    ap.add_argument("--modes", default="full,lora")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; figures are medians over them")
    ap.add_argument("--steps", type=int, default=4, help="timed steps per run (after one warm-up step)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", action="store_true", help="print the medians as JSON lines")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        config, mode, precision = args.one.split(":")
        print(json.dumps(torch_one(config, mode, precision, args.steps, args.threads)))
        return
    contenders = [("crucible", "fp32"), ("crucible", "bf16"), ("torch", "fp32"), ("torch", "bf16")]
    results = []
    for config in args.configs.split(","):
        if config not in CONFIGS:
            sys.exit(f"unknown config {config!r}; have {', '.join(CONFIGS)}")
        for mode in args.modes.split(","):
            if config == "gpt2-124m-t256" and mode == "lora":
                continue
            runs = {c: [] for c in contenders}
            for _ in range(args.rounds):
                for c in contenders:
                    runs[c].append(run_child(args, c[0], config, mode, c[1]))
            med = {}
            for c, rows in runs.items():
                med[c] = {k: statistics.median(r[k] for r in rows) for k in ("tokens_per_s", "tokens_per_cpu_s", "peak_rss_bytes")}
            results.append((config, mode, med))
            if args.json:
                print(json.dumps({"config": config, "mode": mode, **{f"{k}_{p}": v for (k, p), v in med.items()}}))
    if args.json:
        return
    print(f"tokens/s, medians of {args.rounds} rounds of {args.steps} steps; per CPU-s in brackets; {args.threads} threads")
    head = ["config", "mode", "crucible fp32", "crucible bf16", "torch fp32", "torch bf16", "crucible ÷ best torch", f"goal ≥ {GOAL}×", "peak RSS crucible bf16 / torch bf16"]
    print(" | ".join(head))
    for config, mode, med in results:
        def cell(c):
            return f"{med[c]['tokens_per_s']:.0f} ({med[c]['tokens_per_cpu_s']:.0f})"
        best = max(med[("torch", "fp32")]["tokens_per_s"], med[("torch", "bf16")]["tokens_per_s"])
        bestc = max(med[("torch", "fp32")]["tokens_per_cpu_s"], med[("torch", "bf16")]["tokens_per_cpu_s"])
        ours = max(med[("crucible", "fp32")]["tokens_per_s"], med[("crucible", "bf16")]["tokens_per_s"])
        oursc = max(med[("crucible", "fp32")]["tokens_per_cpu_s"], med[("crucible", "bf16")]["tokens_per_cpu_s"])
        rss = f"{med[('crucible', 'bf16')]['peak_rss_bytes'] / 2**20:.0f} / {med[('torch', 'bf16')]['peak_rss_bytes'] / 2**20:.0f} MiB"
        verdict = "met" if ours / best >= GOAL else "NOT MET"
        if (ours / best >= GOAL) != (oursc / bestc >= GOAL):
            verdict += " (per CPU-s: " + ("met" if oursc / bestc >= GOAL else "NOT MET") + ")"
        print(" | ".join([config, mode] + [cell(c) for c in contenders] + [f"{ours / best:.2f}× ({oursc / bestc:.2f}×)", verdict, rss]))


if __name__ == "__main__":
    main()
