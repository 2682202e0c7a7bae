"""python3 -m crucible_torch bench: training and evaluation throughput of
random-init models with the shapes of real ones (configs/*.json; no weights
are needed), full fine-tuning and LoRA, against a plain PyTorch loop with the
same batch and sequence length.

Ours: bf16 autocast on a GPU, PyTorch's fused attention (SDPA) where it
exists, fused AdamW, the LM head only on counted positions a chunk at a time.
The baseline: the same modules run the plain way, full logits through
F.cross_entropy, attention as matmul-softmax-matmul, AdamW's default
implementation, the same autocast. MFU counts 6·N + 12·L·d·T FLOPs a token
for full fine-tuning (N: the parameters of every matrix product, the LM head
included; d: attention width; T: sequence length), 4·N + 8·L·d·T for LoRA
(no weight gradients for frozen weights) and 2·N + 4·L·d·T for evaluation,
against the card's dense bf16 peak (none on a CPU: the figure is then the
rate of a large float32 matrix product measured here)."""

import gc
import glob
import json
import os
import resource
import time

import torch
import torch.nn.functional as F

from . import compact, device as devmod, models
from .lossfn import token_losses

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
ORDER = ["qwen2.5-0.5b", "llama-3.2-1b", "llama-3.2-3b", "llama-30m"]


def shapes():
    out = {}
    for p in sorted(glob.glob(os.path.join(CONFIG_DIR, "*.json"))):
        with open(p) as f:
            out[os.path.splitext(os.path.basename(p))[0]] = json.load(f)
    return out


def own_shape(path):
    """A shape from a config.json (or a model directory's): its name is the
    file's (or the directory's) without .json. Only the config is read."""
    from .errors import invalid
    cfg_path = os.path.join(path, "config.json") if os.path.isdir(path) else path
    try:
        with open(cfg_path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise invalid("--models %s: %s" % (cfg_path, e))
    if not isinstance(raw, dict):
        raise invalid("--models %s: not a JSON object" % cfg_path)
    base = os.path.basename(os.path.normpath(path))
    return (base[:-5] if base.endswith(".json") else base), raw


def available_memory(dev):
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return free
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def matmul_params(cfg):
    """Parameters of every matrix product a token goes through (the LM
    head included, the embedding lookup not)."""
    n = cfg.num_params() - cfg.vocab * cfg.hidden  # drop the embedding lookup
    if cfg.kind == "gpt2":
        n -= cfg.max_positions * cfg.hidden
    return n + cfg.vocab * cfg.hidden  # the head multiplies


def flops_per_token(cfg, mode, T):
    n = matmul_params(cfg)
    attn = cfg.layers * cfg.heads * cfg.head_dim * T
    return {"full": 6 * n + 12 * attn, "lora": 4 * n + 8 * attn, "eval": 2 * n + 4 * attn}[mode]


def needed_bytes(cfg, mode, tokens, bf16):
    n = cfg.num_params()
    act = (2 if bf16 else 4) * cfg.layers * (10 * cfg.hidden + 3 * cfg.intermediate) * tokens
    logits = 4 * 2 * cfg.vocab * tokens  # the baseline's full logits and their gradient
    if mode == "full":
        return 16 * n + act + logits
    if mode == "lora":
        return 4 * n + act + logits
    return 4 * n + 4 * cfg.vocab * min(tokens, 4096)


def cpu_rate():
    """A large float32 matrix product's rate on this CPU (TFLOP/s), the
    reference MFU is reported against on CPUs."""
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    torch.matmul(a, b)
    t = time.time()
    k = 0
    while time.time() - t < 1.0:
        torch.matmul(a, b)
        k += 1
    return 2 * 1024 ** 3 * k / (time.time() - t) / 1e12


class _SDPAOff:
    def __enter__(self):
        self.saved = compact.HAS_SDPA
        compact.HAS_SDPA = False

    def __exit__(self, *a):
        compact.HAS_SDPA = self.saved
        return False


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def run_row(raw, mode, impl, dev, steps, T, B, bf16):
    """Times one configuration; returns tokens/s, step time and peak memory."""
    torch.manual_seed(0)
    loaded = models.random(raw, seed=0, dtype=torch.float32, device=dev, engine="compact")
    cfg = loaded.cfg
    if mode == "lora":
        models.add_lora(loaded, 16, 32, 0.0)
    x = torch.randint(0, cfg.vocab, (B, T), device=dev)
    y = torch.randint(0, cfg.vocab, (B, T), device=dev)
    params = [p for p in loaded.model.parameters() if p.requires_grad]
    opt = None
    if mode != "eval":
        if impl == "ours":
            from .train import make_optimizer
            opt, _ = make_optimizer(params, 1e-5, dev, 0.0)
        else:
            opt = torch.optim.AdamW(params, lr=1e-5, foreach=False)
    ac = (lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)) if bf16 else _NullCtx

    def step():
        if mode == "eval":
            with torch.no_grad(), ac():
                h = loaded.hidden(x)
                if impl == "ours":
                    token_losses(loaded, h, y).sum()
                else:
                    F.cross_entropy(loaded.logits(h).float().view(-1, cfg.vocab), y.view(-1))
            return
        opt.zero_grad(set_to_none=True)
        with ac():
            h = loaded.hidden(x)
            if impl == "ours":
                loss = token_losses(loaded, h, y, recompute=cfg.vocab * B * T > (1 << 28)).sum() / y.numel()
            else:
                loss = F.cross_entropy(loaded.logits(h).float().view(-1, cfg.vocab), y.view(-1))
        loss.backward()
        opt.step()

    ctx = _SDPAOff() if impl == "baseline" else _NullCtx()
    loaded.model.train(mode != "eval")
    with ctx:
        warm = 2 if dev.type == "cuda" else 1
        for _ in range(warm):
            step()
        _sync(dev)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        t = time.time()
        for _ in range(steps):
            step()
        _sync(dev)
        dt = (time.time() - t) / steps
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del loaded, opt, params, x, y
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return {"tokens_per_s": B * T / dt, "step_s": dt, "peak_memory": peak}


class _NullCtx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def run(args):
    devmod.use_cores()
    dev = devmod.pick(args.device)
    gpu = dev.type == "cuda"
    bf16 = devmod.bf16_ok(dev)
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
    steps = args.steps or (10 if gpu else 2)
    T = args.seq_len or (2048 if gpu else 256)
    B = args.batch or (8 if gpu else 1)
    all_shapes = shapes()
    names = [n.strip() for n in args.models.split(",") if n.strip()] or [n for n in ORDER if n in all_shapes]
    for i, n in enumerate(names):
        if n not in all_shapes and (n.endswith(".json") or os.path.isdir(n)):
            name, raw = own_shape(n)
            all_shapes[name] = raw
            names[i] = name
        elif n not in all_shapes:
            from .errors import invalid
            raise invalid("--models: no shape %r (shipped: %s; or name a config.json or a model directory)"
                          % (n, ", ".join(sorted(all_shapes))))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    peak = devmod.peak_tflops(dev)
    ref = "bf16 peak %.0f TFLOP/s" % peak if peak else None
    if not gpu:
        peak = cpu_rate()
        ref = "measured float32 matmul %.3f TFLOP/s" % peak
    head = {"device": devmod.name(dev) if gpu else "cpu (%d threads)" % torch.get_num_threads(), "torch": torch.__version__,
            "precision": "bf16 autocast" if bf16 else "float32", "seq_len": T, "batch": B, "steps": steps,
            "mfu_reference": ref or "unknown card: no MFU", "sdpa": compact.HAS_SDPA}
    if not args.json:
        print("crucible_torch bench on %s, %s, PyTorch %s; batch %d × %d tokens, %d timed steps; MFU against %s"
              % (head["device"], head["precision"], head["torch"], B, T, steps, head["mfu_reference"]), flush=True)
        print("%-14s %-5s %-9s %12s %8s %10s %11s" % ("model", "mode", "impl", "tokens/s", "MFU", "step s", "peak mem"), flush=True)
    rows = []
    for name in names:
        raw = all_shapes[name]
        from .config import ModelConfig
        cfg = ModelConfig(raw, name)
        for mode in modes:
            impls = ["ours"] + ([] if args.no_baseline else ["baseline"])
            need = needed_bytes(cfg, mode, B * T, bf16)
            have = available_memory(dev)
            if need > have * (0.9 if gpu else 0.6):
                row = {"model": name, "mode": mode, "skipped": "needs about %.1f GiB, %.1f GiB available" % (need / 2**30, have / 2**30)}
                rows.append(row)
                if not args.json:
                    print("%-14s %-5s skipped: %s" % (name, mode, row["skipped"]), flush=True)
                continue
            for impl in impls:
                try:
                    r = run_row(raw, mode, impl, dev, steps, T, B, bf16)
                except RuntimeError as e:
                    if "out of memory" not in str(e).lower():
                        raise
                    gc.collect()
                    if gpu:
                        torch.cuda.empty_cache()
                    r = {"error": "out of memory"}
                row = {"model": name, "params": cfg.num_params(), "mode": mode, "impl": impl}
                row.update(r)
                if "tokens_per_s" in r and peak:
                    row["mfu"] = r["tokens_per_s"] * flops_per_token(cfg, mode, T) / (peak * 1e12)
                rows.append(row)
                if not args.json:
                    if "error" in r:
                        print("%-14s %-5s %-9s %s" % (name, mode, impl, r["error"]), flush=True)
                    else:
                        mfu = "%.1f%%" % (100 * row["mfu"]) if "mfu" in row else "-"
                        print("%-14s %-5s %-9s %12.0f %8s %10.3f %8.2f GiB" % (name, mode, impl, r["tokens_per_s"], mfu, r["step_s"], r["peak_memory"] / 2**30), flush=True)
    summary = ratios(rows)
    if args.json:
        print(json.dumps({"setup": head, "rows": rows, "ratios": summary}))
    else:
        for k, v in summary.items():
            print("%s: %.2f×" % (k, v))
    return 0


def ratios(rows):
    """Ours against the baseline, LoRA against full, evaluation against
    full training, per model."""
    out = {}
    by = {(r["model"], r["mode"], r.get("impl")): r for r in rows if "tokens_per_s" in r}
    for (m, mode, impl), r in by.items():
        if impl != "ours":
            continue
        b = by.get((m, mode, "baseline"))
        if b:
            out["%s %s ours/baseline" % (m, mode)] = r["tokens_per_s"] / b["tokens_per_s"]
        f = by.get((m, "full", "ours"))
        if f and mode == "lora":
            out["%s lora/full tokens/s" % m] = r["tokens_per_s"] / f["tokens_per_s"]
        if f and mode == "eval":
            out["%s eval/full-training tokens/s" % m] = r["tokens_per_s"] / f["tokens_per_s"]
    return out
