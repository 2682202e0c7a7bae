"""The validator's metric on PyTorch, defined exactly as crucible's Go
evaluator defines it (tuning.Evaluate, ml/eval): the token-weighted mean
cross-entropy over the response tokens of the token file (each sequence's
first token never counts), or for preference pairs the DPO loss against the
base model; with the same checks of a submission (architecture, adapter fit,
weights that differ from the base, a finite loss) and the same weight-delta
fingerprint. Evaluation is float32 throughout (TF32 off)."""

import math
import os

import numpy as np
import torch

from . import lora, models, st
from .errors import invalid
from .fingerprint import Fingerprint
from .lossfn import IGNORE, sequence_losses
from .tokens import KIND_PAIRS, TokenFile

# Failure reasons, as crucible words them.
FAIL_ARCHITECTURE = "architecture differs from the base model"
FAIL_IDENTICAL = "not a fine-tune: weights equal the base"
FAIL_ADAPTER = "adapter does not fit the base model"
FAIL_NAN = "loss is not a finite number"
FAIL_UNREADABLE = "submission cannot be read"

DEFAULT_BETA = 0.1


def plan(lengths, max_tokens, max_batch):
    """Groups sequence indices into batches: sorted by length (ties by
    index), filled while B·T stays within max_tokens and B within max_batch."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    out, cur = [], []
    for i in order:
        t = lengths[i]
        if cur and ((len(cur) + 1) * t > max_tokens or len(cur) >= max_batch):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def eval_batch(tf, idx, device):
    """The inputs (ids[:-1]) and shifted labels (ids[1:] where the mask
    counts) of sequences idx, right-padded."""
    seqs = [tf.seq(i) for i in idx]
    T = max(1, max(len(ids) - 1 for ids, _ in seqs))
    x = np.zeros((len(idx), T), dtype=np.int64)
    y = np.full((len(idx), T), IGNORE, dtype=np.int64)
    for r, (ids, mask) in enumerate(seqs):
        n = max(len(ids) - 1, 0)
        x[r, :n] = ids[:n]
        y[r, :n] = np.where(mask[1:n + 1], ids[1:n + 1], IGNORE)
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


def seq_losses(loaded, tf, device, max_tokens=8192, max_batch=64, progress=None, chunk=0):
    """Every sequence's summed loss and counted tokens, in file order."""
    n = len(tf)
    lengths = [max(int(l) - 1, 1) for l in tf.lengths]
    sums = np.zeros(n, dtype=np.float64)
    counts = np.zeros(n, dtype=np.int64)
    done = 0
    loaded.model.eval()
    with torch.no_grad():
        for idx in plan(lengths, max_tokens, max_batch):
            x, y = eval_batch(tf, idx, device)
            s, c = sequence_losses(loaded, x, y, chunk)
            sums[idx] = s.cpu().numpy()
            counts[idx] = c.cpu().numpy()
            done += len(idx)
            if progress:
                progress(done, n)
    return sums, counts


def summarize(sums, counts):
    keep = counts > 0
    tokens = int(counts[keep].sum())
    if tokens == 0:
        raise invalid("no scored tokens to evaluate")
    total = float(np.sum(sums[keep]))
    samples = int(keep.sum())
    loss = total / tokens
    sample_mean = float(np.sum(sums[keep] / counts[keep])) / samples
    return {"loss": loss, "tokens": tokens, "samples": samples, "sample_mean": sample_mean,
            "perplexity": math.exp(loss) if loss < 700 else float("inf")}


def softplus(x):
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def dpo(policy, ref, beta):
    """DPO loss, accuracy and mean margin of per-pair log-probabilities
    (chosen, rejected) against the reference's."""
    pc, pr = policy
    rc, rr = ref
    n = len(pc)
    if n == 0:
        raise invalid("dpo: no pairs")
    loss = margin = 0.0
    correct = 0
    for i in range(n):
        m = beta * ((pc[i] - rc[i]) - (pr[i] - rr[i]))
        loss += softplus(-m)
        margin += m
        correct += m > 0
    return {"loss": loss / n, "reward_accuracy": correct / n, "reward_margin": margin / n, "samples": n}


def pair_logprobs(sums):
    return -sums[0::2], -sums[1::2]


def _offsets(loaded):
    """Each tensor's first element in crucible's parameter order."""
    off, total = {}, 0
    for name in loaded.weight_names():
        off[name] = total
        total += loaded.tensor(name).numel()
    return off, total


def apply_full(loaded, sub_dir, fp, offsets):
    """Loads a full fine-tune's weights into the base model in place,
    folding each tensor's delta into fp. Returns a failure or ""."""
    try:
        files = st.Dir(sub_dir)
    except Exception as e:
        return "%s: %s" % (FAIL_UNREADABLE, e)
    canon = {}
    for fname in files.names():
        n = models.compact.canonical_name(loaded.cfg, fname) if loaded.engine == "compact" else fname
        if n is None:
            continue
        if n not in offsets:
            if loaded.engine != "compact":
                continue  # buffers and tied copies transformers saves alongside
            return "%s: tensor %s does not belong to a %s model" % (FAIL_UNREADABLE, fname, loaded.cfg.architecture)
        canon[n] = fname
    missing = [n for n in offsets if n not in canon]
    if missing:
        return "%s: missing tensors %s" % (FAIL_UNREADABLE, ", ".join(missing[:3]))
    for n in offsets:
        p = loaded.tensor(n)
        if list(files.shape(canon[n])) != list(p.shape):
            return "%s: tensor %s has shape %s, want %s" % (FAIL_UNREADABLE, canon[n], files.shape(canon[n]), list(p.shape))
    with torch.no_grad():
        for n, off in offsets.items():
            p = loaded.tensor(n)
            t = files.get(canon[n]).to(p.device, torch.float32)
            fp.add(off, t - p)
            p.copy_(t)
    return ""


def apply_adapter(loaded, sub_dir, fp, offsets):
    """Attaches a PEFT adapter, folds its update into fp and merges it."""
    if loaded.engine == "compact":
        try:
            lora.load(loaded.model, sub_dir)
        except Exception as e:
            return "%s: %s" % (FAIL_ADAPTER, e)
        with torch.no_grad():
            for name, m in lora.adapters(loaded.model):
                fp.add(offsets[name + ".weight"], m.delta())
        lora.merge(loaded.model)
        return ""
    import peft  # pragma: no cover - transformers path
    try:
        pm = peft.PeftModel.from_pretrained(loaded.model, sub_dir)
    except Exception as e:
        return "%s: %s" % (FAIL_ADAPTER, e)
    with torch.no_grad():
        for name, mod in pm.base_model.model.named_modules():
            if hasattr(mod, "get_delta_weight") and hasattr(mod, "base_layer"):
                key = name + ".base_layer.weight"
                off = offsets.get(name + ".weight", offsets.get(key))
                if off is not None:
                    fp.add(off, mod.get_delta_weight("default"))
    loaded.model = pm.merge_and_unload()
    return ""


def load_submission(loaded, sub_dir, device):
    """Replaces the base's weights by a submission's (a full model or a PEFT
    adapter), checking it as crucible does. Returns (failure, is_adapter,
    fingerprint)."""
    if not os.path.isdir(sub_dir):
        return "%s: %s is not a directory" % (FAIL_UNREADABLE, os.path.basename(sub_dir)), False, None
    offsets, total = _offsets(loaded)
    fp = Fingerprint(total, device)
    if os.path.isfile(os.path.join(sub_dir, lora.ADAPTER_CONFIG)):
        failure = apply_adapter(loaded, sub_dir, fp, offsets)
        adapter = True
    else:
        adapter = False
        try:
            diff = models.architecture_diff(loaded, sub_dir)
        except Exception as e:
            return "%s: %s" % (FAIL_UNREADABLE, e), False, None
        if diff:
            return FAIL_ARCHITECTURE + ": " + diff, False, None
        failure = apply_full(loaded, sub_dir, fp, offsets)
    if failure:
        return failure, adapter, None
    if not fp.nonzero:
        return FAIL_IDENTICAL, adapter, None
    return "", adapter, fp.value()


def evaluate(base_dir, tokens_path, model_dir="", beta=DEFAULT_BETA, device="cpu", engine="auto",
             max_tokens=8192, progress=None, verify=True):
    """Evaluates model_dir (or the base itself) on a token file written for
    the base's tokenizer. Problems with the submission give a result with
    failure set; bad input (base, token file) raises."""
    tf = TokenFile(tokens_path, verify=verify)
    loaded = models.load(base_dir, engine, torch.float32, device)
    if tf.vocab_size > loaded.vocab():
        raise invalid("token file %s: ids up to %d, the model's vocabulary has %d" % (tokens_path, tf.vocab_size, loaded.vocab()))
    if tf.longest > loaded.max_positions() + 1:
        raise invalid("token file %s: a sequence of %d tokens, the model takes %d" % (tokens_path, tf.longest, loaded.max_positions()))
    res = {"failure": "", "is_adapter": False}
    pairs = tf.kind == KIND_PAIRS
    ref = None
    if pairs:
        sums, _ = seq_losses(loaded, tf, device, max_tokens, progress=None)
        ref = pair_logprobs(sums)
    if model_dir:
        failure, adapter, fpv = load_submission(loaded, model_dir, device)
        res["is_adapter"] = adapter
        if failure:
            res["failure"] = failure
            return res
        res["fingerprint"] = fpv
    sums, counts = seq_losses(loaded, tf, device, max_tokens, progress=progress)
    if pairs:
        res.update(dpo(pair_logprobs(sums), ref, beta))
        res["tokens"] = int(counts.sum())
    else:
        res.update(summarize(sums, counts))
    if not math.isfinite(res["loss"]):
        res["failure"] = "%s (%s)" % (FAIL_NAN, res["loss"])
    return res
