"""The trainer: crucible's miner contract on PyTorch.

Full fine-tuning or LoRA (PEFT layout out), bf16 autocast on GPUs, fused
AdamW, packed rows, a warmup-then-cosine schedule over the run's progress
(steps or time, whichever is further along), gradient checkpointing when the
activations would not fit (or after an out-of-memory), a holdout whose best
state is kept, DPO for preference pairs, DDP or FSDP under torchrun, and a
time budget it always meets: it stops when one more step and the save would
not fit before the limit, and writes the result atomically."""

import json
import math
import os
import signal
import sys
import time
from datetime import datetime

import numpy as np
import torch
import torch.nn as nn

from . import data, device as devmod, dist as distmod, models
from .errors import EXIT_DEADLINE, CrucibleError, invalid, resources
from .lossfn import token_losses
from .progress import Progress
from .tokens import KIND_PAIRS, TokenFile



def started():
    """When this run's clock started: when `python3 -m crucible_torch` began
    (before PyTorch was imported, as the caller's clock), else now."""
    try:
        return float(os.environ.get("_CRUCIBLE_TORCH_STARTED", "0")) or time.time()
    except ValueError:
        return time.time()


class Objective(nn.Module):
    """The training objective as one module (what DDP and FSDP wrap): each
    row's summed token loss and its counted tokens."""

    def __init__(self, loaded, recompute_head):
        super().__init__()
        self.inner = loaded.model
        self._loaded = [loaded]
        self.recompute_head = recompute_head

    def forward(self, x, y, pos=None, docs=None):
        loaded = self._loaded[0]
        h = loaded.hidden(x, pos, docs)
        tl = token_losses(loaded, h, y, recompute=self.recompute_head)
        return tl.sum(dim=1), (y != -100).sum(dim=1)


def budget_seconds(args):
    """The time budget: --time, else the contract's time limit, else until
    the deadline, else 10 minutes."""
    out = []
    if args.time:
        out.append(float(args.time))
    lim = os.environ.get("CRUCIBLE_TIME_LIMIT_SECONDS")
    if lim and not args.time:
        try:
            out.append(float(lim))
        except ValueError:
            raise invalid("CRUCIBLE_TIME_LIMIT_SECONDS=%r is not a number" % lim)
    dl = os.environ.get("CRUCIBLE_DEADLINE")
    if dl:
        try:
            end = datetime.fromisoformat(dl.replace("Z", "+00:00"))
        except ValueError:
            raise invalid("CRUCIBLE_DEADLINE=%r is not an RFC 3339 time" % dl)
        out.append(end.timestamp() - started())
    return min(out) if out else 600.0


def memory_bytes(dev):
    if dev.type == "cuda":
        return torch.cuda.get_device_properties(dev).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 16 << 30


def default_lr(n, lora, dpo):
    """A learning rate by model size: full fine-tuning 2e-5 at 1B parameters,
    scaled by (1B/N)^½ within [1e-5, 1e-3]; LoRA 2e-4 at 1B, scaled by
    (1B/N)^¼ within [1e-4, 2e-3]; a tenth of that for DPO."""
    if lora:
        lr = min(2e-3, max(1e-4, 2e-4 * (1e9 / n) ** 0.25))
    else:
        lr = min(1e-3, max(1e-5, 2e-5 * (1e9 / n) ** 0.5))
    return lr / 10 if dpo else lr


def schedule(p, warm):
    """The learning-rate factor at progress p ∈ [0, 1]: linear warmup over
    the first warm of it, then cosine down to a tenth."""
    if p < warm:
        return max(p / warm, 0.01)
    q = min(1.0, (p - warm) / max(1e-9, 1 - warm))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * q))


def make_optimizer(params, lr, dev, wd):
    kw = {"lr": lr, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": wd}
    if dev.type == "cuda":
        try:
            return torch.optim.AdamW(params, fused=True, **kw), "fused"
        except (TypeError, RuntimeError):
            pass
    try:
        return torch.optim.AdamW(params, foreach=True, **kw), "foreach"
    except TypeError:
        return torch.optim.AdamW(params, **kw), "plain"


class Run:
    """One training run's state. Its clock starts when the process started
    (before PyTorch was imported), as the caller's does."""

    def __init__(self, args):
        self.args = args
        self.start = started()
        self.budget = budget_seconds(args)
        self.end = self.start + self.budget
        self.stop_signal = False
        self.dist = distmod.Dist()
        self.progress = Progress(self.dist.main)
        self.log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if self.dist.main else (lambda *a: None)

    def left(self):
        return self.end - time.time()


def check_inputs(args):
    if not args.model:
        raise invalid("no base model: give --model or set CRUCIBLE_MODEL_DIR")
    if not os.path.isfile(os.path.join(args.model, "config.json")):
        raise invalid("%s has no config.json: not a model directory in Hugging Face layout" % args.model)
    if not args.tokens:
        raise invalid("no token file: give --tokens or set CRUCIBLE_TOKENS",
                      hint="crucible miners pass one; crucible data tokenize --model M --data D --out F writes one")
    if not args.out:
        raise invalid("no output directory: give --out or set CRUCIBLE_OUT_DIR")
    tt = os.environ.get("CRUCIBLE_TASK_TYPE", "")
    if tt == "grpo":
        raise invalid("grpo tasks are not trained by crucible_torch (no reward sampling here)",
                      hint="use crucible's own engine (--strategy auto) for grpo tasks")


def run(args):
    check_inputs(args)
    r = Run(args)
    if r.budget <= 5:
        raise CrucibleError("the time limit (%.0f s) leaves no room to train" % r.budget, EXIT_DEADLINE)
    signal.signal(signal.SIGTERM, lambda *a: setattr(r, "stop_signal", True))
    dev = r.dist.device(devmod.pick(args.device))
    r.dist.init(dev.type)
    try:
        return _train(r, args, dev)
    finally:
        r.dist.close()


def _train(r, args, dev):
    torch.manual_seed(args.seed)
    devmod.use_cores(args.threads)
    tf = TokenFile(args.tokens, verify=r.dist.main)
    dpo = tf.kind == KIND_PAIRS
    engine = models.choose_engine(args.model, args.engine)
    r.progress.report(0.0, 0, None, "loading %s (%s engine)" % (os.path.basename(os.path.normpath(args.model)), engine))
    loaded = models.load(args.model, engine, torch.float32, "cpu")
    if tf.vocab_size > loaded.vocab():
        raise invalid("token file %s: ids up to %d, the model's vocabulary has %d" % (args.tokens, tf.vocab_size, loaded.vocab()))
    n = loaded.num_params()
    mem = memory_bytes(dev)
    bf16 = devmod.bf16_ok(dev)
    world = r.dist.world

    # Full or LoRA, and FSDP.
    full_state = 16 * n  # float32 weights, gradients and two AdamW moments
    fsdp = r.dist.on and dev.type == "cuda" and (args.fsdp == "on" or (args.fsdp == "auto" and full_state > mem // 2))
    per_device = full_state / world if fsdp else full_state
    if args.mode == "full":
        lora_on, why = False, "as requested"
    elif args.mode == "lora":
        lora_on, why = True, "as requested"
    elif n > 3e9:
        lora_on, why = True, "%.1fB parameters: above 3B, LoRA trains far more steps in the time" % (n / 1e9)
    elif per_device > mem // 2:
        lora_on, why = True, "full fine-tuning needs %.1f GiB of state per device, over half of its %.1f GiB" % (per_device / 2**30, mem / 2**30)
    else:
        lora_on, why = False, "%.0fM parameters: full fine-tuning fits (%.1f GiB of state)" % (n / 1e6, per_device / 2**30)
    r.log("mode: %s (%s)" % ("lora" if lora_on else "full", why))
    if lora_on:
        drop = 0.0 if dpo else args.lora_dropout
        models.add_lora(loaded, args.lora_rank, args.lora_alpha, drop, None, args.seed)
        r.log("lora: r=%d alpha=%g dropout=%g" % (args.lora_rank, args.lora_alpha, drop))
    loaded.model.to(dev)

    # Data.
    seq_len = args.seq_len or min(max(tf.longest - 1, 8), 2048)
    seq_len = max(2, min(seq_len, loaded.max_positions()))
    packed = (not dpo) and loaded.packs and args.packing != "off"
    units = tf.pairs if dpo else len(tf)
    train_idx, hold_idx = data.split_holdout(units, args.seed)
    rng = np.random.default_rng(args.seed)
    lengths = tf.lengths
    if dpo:
        pair_len = np.maximum(lengths[0::2], lengths[1::2])
        row_tokens = float(np.mean(np.minimum(pair_len[train_idx], seq_len + 1))) * 2
    elif packed:
        row_tokens = seq_len
    else:
        row_tokens = float(np.mean(np.minimum(lengths[train_idx], seq_len + 1)))
    per_row_act = activation_bytes(loaded, bf16) * max(row_tokens, 1)
    static = (16 * n / (world if fsdp else 1)) if not lora_on else (4 * n + 16 * trainable(loaded))
    room = max(mem * 0.8 - static, 0)
    ckpt = args.checkpointing == "on"
    micro_rows = max(1, int(room // max(per_row_act, 1)))
    if args.checkpointing == "auto" and micro_rows < (2 if dpo else 1) and dev.type == "cuda":
        ckpt = True
    if ckpt:
        micro_rows = max(1, int(room // max(per_row_act / max(loaded_layers(loaded), 1) * 3, 1)))
    if args.micro_tokens:
        micro_rows = max(1, int(args.micro_tokens // max(row_tokens, 1)))
    if dev.type == "cpu":
        micro_rows = min(micro_rows, max(1, int(4096 // max(row_tokens, 1))))
    micro_rows = min(micro_rows, 64)
    if dpo:
        micro_rows = max(2, micro_rows - micro_rows % 2)
    loaded.set_checkpointing(ckpt)

    def epoch_rows(epoch):
        order = rng.permutation(train_idx)
        if dpo:
            return [[int(p)] for p in order]
        if packed:
            return data.pack(lengths, order, seq_len)
        return data.group(lengths, order, seq_len, micro_rows)

    rows0 = epoch_rows(0)
    units_per_row = 2 if dpo else 1
    if args.batch_tokens:
        step_rows = max(1, int(args.batch_tokens // max(row_tokens, 1)) // units_per_row)
    else:
        step_rows = max(1, min(16 // units_per_row if dpo else 16, len(rows0) // (10 * world)))
    step_rows = max(1, step_rows // world) * world
    per_rank_rows = step_rows // world
    micro_units = max(1, micro_rows // units_per_row)
    accum = max(1, math.ceil(per_rank_rows / micro_units))
    steps_per_epoch = max(1, len(rows0) // step_rows)
    planned = max(1, int(steps_per_epoch * args.epochs))
    if args.max_steps > 0:
        planned = min(planned, args.max_steps)
    warm = min(0.1, max(1.0 / planned, 0.03))
    lr = args.lr or default_lr(n, lora_on, dpo)
    r.log("data: %d %s (%d held out), %s rows of %d tokens, %d rows per step (%d per pass × %d accumulated%s), "
          "%d steps per epoch, lr %.2g" % (units, "pairs" if dpo else "sequences", len(hold_idx),
                                            "packed" if packed else "padded", seq_len, step_rows, min(micro_units, per_rank_rows),
                                            accum, " × %d ranks" % world if world > 1 else "", steps_per_epoch, lr))

    # Reference log-probabilities for DPO: the base, before any update.
    ref = None
    if dpo:
        r.progress.report(0.01, 0, None, "reference log-probabilities of %d pairs" % units)
        ref = reference_logprobs(loaded, tf, seq_len, dev, bf16, micro_units)

    objective = Objective(loaded, recompute_head=loaded.vocab() * seq_len * micro_rows > (1 << 28))
    layer_classes = {type(b) for b in loaded.model.blocks()} if loaded.engine == "compact" else hf_layer_classes(loaded)
    wrapped = distmod.wrap(objective, r.dist, dev, fsdp, bf16, layer_classes)
    params = [p for p in wrapped.parameters() if p.requires_grad]
    opt, opt_kind = make_optimizer(params, lr, dev, 0.0)
    r.log("precision: %s; optimizer AdamW (%s); gradient checkpointing %s; %s" % (
        "bf16 autocast" if bf16 else "float32", opt_kind, "on" if ckpt else "off",
        ("FSDP over %d GPUs" % world if fsdp else "DDP over %d ranks" % world) if r.dist.on else "one device"))

    save_bytes = (4 * trainable(loaded)) if lora_on else n * (4 if save_dtype(args, n) == torch.float32 else 2)
    # Kept free at the end: the save (at 150 MB/s), the process's exit, and
    # a margin for a machine that slows down.
    reserve = 3.0 + save_bytes / 150e6 + (0.05 * r.budget)
    best = Best(loaded, lora_on, n, sharded=fsdp)
    held_at, held = -1, float("inf")  # the step and loss of the last holdout evaluation
    step, epoch, tokens_seen = 0, 0, 0
    step_time = None
    last_loss = None
    train_start = time.time()
    stopped = "planned steps done"
    halt = False
    while step < planned and not halt:
        rows = rows0 if epoch == 0 else epoch_rows(epoch)
        nsteps = len(rows) // step_rows
        for s in range(nsteps):
            if step >= planned:
                break
            need = (step_time or 0) * 2 + reserve
            stop = r.stop_signal or r.left() < need
            if r.dist.any(stop, dev):
                stopped = "stopped for the time limit" if not r.stop_signal else "stopped by SIGTERM"
                halt = True
                break
            t0 = time.time()
            mine = rows[s * step_rows:(s + 1) * step_rows][r.dist.rank::world]
            p = max(step / planned, (time.time() - train_start) / max(r.end - reserve - train_start, 1e-9))
            for g in opt.param_groups:
                g["lr"] = lr * schedule(min(p, 1.0), warm)
            loss, ntok = train_step(wrapped, opt, loaded, tf, mine, micro_units, seq_len, packed, dpo, ref, args.beta,
                                    dev, bf16, r.dist, params)
            step += 1
            tokens_seen += ntok
            dt = time.time() - t0
            step_time = dt if step_time is None else max(dt, 0.8 * step_time + 0.2 * dt)
            if loss is not None and math.isfinite(loss):
                last_loss = loss
            frac = min(0.99, max(step / planned, (time.time() - r.start) / r.budget))
            r.progress.report(frac, step, last_loss, "epoch %d, lr %.2g, %.0f tok/s" % (epoch + 1, opt.param_groups[0]["lr"], ntok / max(dt, 1e-9)))
            if args.verbose:
                r.log("step %d loss %.4f %.2fs" % (step, loss if loss is not None else float("nan"), dt))
        epoch += 1
        if len(hold_idx) and not halt and r.left() > reserve + (step_time or 0) * 3:
            v = holdout_loss(loaded, tf, hold_idx, seq_len, dev, bf16, dpo, ref, args.beta, micro_units)
            v = r.dist.all_sum(v, dev) / world
            r.log("epoch %d: holdout loss %.4f" % (epoch, v))
            best.offer(v)
            held_at, held = step, v
        if nsteps == 0:
            break
    if len(hold_idx) and r.left() > reserve + (step_time or 1) * 3 and not r.stop_signal:
        if held_at != step:
            held = holdout_loss(loaded, tf, hold_idx, seq_len, dev, bf16, dpo, ref, args.beta, micro_units)
            held = r.dist.all_sum(held, dev) / world
        if best.restore_if_better(held):
            r.log("restored the state with the best holdout loss %.4f (last %.4f)" % (best.loss, held))
    r.log("%s after %d steps, %d tokens, %.0f s" % (stopped, step, tokens_seen, time.time() - train_start))
    if step == 0:
        # Nothing learned: saving the base would only be refused as a copy.
        raise CrucibleError("no training step fitted in the time limit (%.0f s; %.0f s went to loading the model and data)"
                            % (r.budget, train_start - r.start), EXIT_DEADLINE,
                            hint="give the task more time, or use --mode lora")
    r.progress.report(0.99, step, last_loss, "saving the result")
    save(loaded, wrapped, args, r, lora_on, n)
    r.progress.report(1.0, step, last_loss, "done")
    write_summary(args, r, lora_on, n, step, tokens_seen, last_loss, best, lr, engine)
    return 0


def activation_bytes(loaded, bf16):
    """A rough count of the activations one token keeps for the backward
    pass (without checkpointing)."""
    if loaded.engine == "compact":
        c = loaded.cfg
        per_layer = 10 * c.hidden + 3 * c.intermediate + 2 * c.heads * c.head_dim
        return (2 if bf16 else 4) * c.layers * per_layer + 4 * 2048
    c = loaded.model.config
    h = getattr(c, "hidden_size", 4096)
    i = getattr(c, "intermediate_size", 4 * h)
    L = getattr(c, "num_hidden_layers", 32)
    return (2 if bf16 else 4) * L * (12 * h + 3 * i) + 4 * 2048


def loaded_layers(loaded):
    if loaded.engine == "compact":
        return loaded.cfg.layers
    return getattr(loaded.model.config, "num_hidden_layers", 32)


def trainable(loaded):
    return sum(p.numel() for p in loaded.model.parameters() if p.requires_grad)


def hf_layer_classes(loaded):  # pragma: no cover - transformers path
    names = getattr(loaded.model, "_no_split_modules", None) or []
    out = set()
    for m in loaded.model.modules():
        if type(m).__name__ in names:
            out.add(type(m))
    return out


def autocast(dev, bf16):
    if bf16:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return _Null()


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def train_step(wrapped, opt, loaded, tf, rows, micro_units, seq_len, packed, dpo, ref, beta, dev, bf16, dist, params):
    """One optimizer step over this rank's rows, accumulated micro-batch by
    micro-batch; the loss is token-weighted over the whole step (SFT) or the
    mean over its pairs (DPO), across ranks. An out-of-memory halves the
    micro-batch and retries the step."""
    wrapped.train()
    while True:
        try:
            return _step(wrapped, opt, loaded, tf, rows, micro_units, seq_len, packed, dpo, ref, beta, dev, bf16, dist, params)
        except RuntimeError as e:
            if "out of memory" not in str(e).lower() or dev.type != "cuda":
                raise
            opt.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            if micro_units > 1:
                micro_units = max(1, micro_units // 2)
            elif not getattr(loaded.model, "checkpointing", True):
                loaded.set_checkpointing(True)
            else:
                raise resources("out of memory with one row per pass and gradient checkpointing on (%d tokens per row)" % seq_len,
                                hint="lower --seq-len, use --mode lora, or train on a GPU with more memory")
            print("out of memory: retrying with %d rows per pass%s" % (micro_units, ", checkpointing" if loaded.model.checkpointing else ""),
                  file=sys.stderr, flush=True)


def _step(wrapped, opt, loaded, tf, rows, micro_units, seq_len, packed, dpo, ref, beta, dev, bf16, dist, params):
    opt.zero_grad(set_to_none=True)
    chunks = [rows[i:i + micro_units] for i in range(0, len(rows), micro_units)] or [[]]
    if dpo:
        units = dist.all_sum(len(rows), dev)
    else:
        counted = 0
        for row in rows:
            for s in row:
                ids, mask = tf.seq(s)
                counted += int(mask[1:min(len(ids), seq_len + (0 if packed else 1))].sum())
        units = dist.all_sum(counted, dev)
    units = max(units, 1)
    total, ntok = 0.0, 0
    for i, chunk in enumerate(chunks):
        if not chunk:
            continue
        sync = i == len(chunks) - 1
        ctx = wrapped.no_sync() if (dist.on and not sync and hasattr(wrapped, "no_sync")) else _Null()
        with ctx:
            if dpo:
                arrays = data.pair_rows(tf, [c[0] for c in chunk], seq_len)
                x, y, pos, docs = data.to_device(arrays, dev, False)
                with autocast(dev, bf16):
                    sums, _ = wrapped(x, y)
                lp = -sums.float()
                rc = torch.tensor([ref[0][c[0]] for c in chunk], device=dev)
                rr = torch.tensor([ref[1][c[0]] for c in chunk], device=dev)
                margin = beta * ((lp[0::2] - rc) - (lp[1::2] - rr))
                loss = torch.nn.functional.softplus(-margin).sum() * dist.world / units
                total += float(torch.nn.functional.softplus(-margin).sum())
            else:
                arrays = data.row_arrays(tf, chunk, seq_len, packed)
                x, y, pos, docs = data.to_device(arrays, dev, packed)
                with autocast(dev, bf16):
                    sums, _ = wrapped(x, y, pos, docs)
                loss = sums.float().sum() * dist.world / units
                total += float(sums.float().sum())
            ntok += int(x.numel())
            loss.backward()
    if hasattr(wrapped, "clip_grad_norm_"):
        wrapped.clip_grad_norm_(1.0)
    else:
        torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    total = dist.all_sum(total, dev)
    return total / units, ntok


def reference_logprobs(loaded, tf, seq_len, dev, bf16, micro_units):
    """Every pair's log-probabilities of its chosen and rejected answers
    under the base model, in training's precision."""
    n = tf.pairs
    chosen, rejected = np.zeros(n), np.zeros(n)
    loaded.model.eval()
    with torch.no_grad():
        for lo in range(0, n, max(1, micro_units)):
            idx = list(range(lo, min(n, lo + max(1, micro_units))))
            x, y, _, _ = data.to_device(data.pair_rows(tf, idx, seq_len), dev, False)
            with autocast(dev, bf16):
                h = loaded.hidden(x)
                s = token_losses(loaded, h, y).sum(dim=1).float()
            lp = (-s).cpu().numpy()
            chosen[idx], rejected[idx] = lp[0::2], lp[1::2]
    return chosen, rejected


def holdout_loss(loaded, tf, hold_idx, seq_len, dev, bf16, dpo, ref, beta, micro_units):
    """The holdout's token-weighted loss (SFT) or mean DPO loss."""
    loaded.model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for lo in range(0, len(hold_idx), max(1, micro_units)):
            idx = [int(i) for i in hold_idx[lo:lo + max(1, micro_units)]]
            if dpo:
                x, y, _, _ = data.to_device(data.pair_rows(tf, idx, seq_len), dev, False)
            else:
                x, y, _, _ = data.to_device(data.row_arrays(tf, [[i] for i in idx], seq_len, False), dev, False)
            with autocast(dev, bf16):
                s = token_losses(loaded, loaded.hidden(x), y).sum(dim=1).double()
            if dpo:
                lp = (-s).cpu().numpy()
                m = beta * ((lp[0::2] - ref[0][idx]) - (lp[1::2] - ref[1][idx]))
                total += float(np.sum(np.logaddexp(0, -m)))
                count += len(idx)
            else:
                total += float(s.sum())
                count += int((y != -100).sum())
    loaded.model.train()
    return total / max(count, 1)


class Best:
    """The trainable state with the lowest holdout loss, kept on the CPU when
    it fits in a quarter of the host's memory."""

    def __init__(self, loaded, lora_on, n, sharded=False):
        self.loaded = loaded
        self.loss = float("inf")
        self.state = None
        host = memory_bytes(torch.device("cpu"))
        # (FSDP's parameters are shards: the best state is not kept there.)
        self.keep = not sharded and 4 * (trainable(loaded) if lora_on else n) < host // 4

    def _params(self):
        return [(k, p) for k, p in self.loaded.model.named_parameters() if p.requires_grad]

    def offer(self, loss):
        if not math.isfinite(loss) or loss >= self.loss:
            return
        self.loss = loss
        if self.keep:
            self.state = {k: p.detach().to("cpu", copy=True) for k, p in self._params()}

    def restore_if_better(self, last):
        if self.state is None or not (self.loss < last):
            return False
        with torch.no_grad():
            for k, p in self._params():
                p.copy_(self.state[k].to(p.device))
        return True


def save_dtype(args, n):
    if args.save_dtype == "float32":
        return torch.float32
    if args.save_dtype == "bfloat16":
        return torch.bfloat16
    return torch.float32 if n <= 1.5e9 else torch.bfloat16


def save(loaded, wrapped, args, r, lora_on, n):
    """Writes the result (rank 0): the adapter or the full model, then the
    tokenizer files."""
    state = distmod.full_state(wrapped, r.dist)
    if state is not None and r.dist.main:
        with torch.no_grad():
            own = dict(loaded.model.named_parameters())
            for k, v in state.items():
                k = k[len("inner."):] if k.startswith("inner.") else k
                if k in own:
                    own[k].data = v.to(own[k].dtype)
    if r.dist.main:
        os.makedirs(args.out, exist_ok=True)
        base_name = os.environ.get("CRUCIBLE_MODEL", os.path.basename(os.path.normpath(args.model)))
        if lora_on:
            models.save_lora(loaded, args.out, base_name)
        else:
            models.save_full(loaded, args.out, save_dtype(args, n))
        models.copy_tokenizer(args.model, args.out)
    r.dist.barrier()


def write_summary(args, r, lora_on, n, steps, tokens, loss, best, lr, engine):
    if not r.dist.main:
        return
    s = {"trainer": "crucible_torch", "mode": "lora" if lora_on else "full", "params": n, "steps": steps,
         "tokens": tokens, "train_loss": loss, "best_holdout_loss": best.loss if math.isfinite(best.loss) else None,
         "lr": lr, "seconds": round(time.time() - r.start, 1), "budget_seconds": round(r.budget, 1), "engine": models.engine_name(engine),
         "torch": torch.__version__}
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(s, f, indent=2)
