"""The masked cross-entropy both the trainer and the evaluator use: the LM
head applied only to the positions that count, a chunk of rows at a time, so
a large vocabulary's logits never fill memory."""

import torch
from torch.utils.checkpoint import checkpoint

IGNORE = -100


def _chunk_loss(loaded, h, y):
    z = loaded.logits(h).float()
    return torch.logsumexp(z, dim=-1) - z.gather(-1, y[:, None]).squeeze(-1)


def head_chunk(vocab):
    """Rows of logits computed at a time: about 256 MiB of float32."""
    return max(64, min(4096, (1 << 26) // max(vocab, 1)))


def token_losses(loaded, h, labels, chunk=0, recompute=False):
    """The cross-entropy of every counted position of h [B,T,C] against
    labels [B,T] (IGNORE where a position does not count), as a [B,T] tensor
    (zero where it does not count). With recompute, each chunk's logits are
    recomputed in the backward pass instead of kept."""
    chunk = chunk or head_chunk(loaded.vocab())
    sel = labels != IGNORE
    hs = h[sel]
    ys = labels[sel]
    parts = []
    for lo in range(0, hs.shape[0], chunk):
        a, b = hs[lo:lo + chunk], ys[lo:lo + chunk]
        if recompute and torch.is_grad_enabled():
            parts.append(checkpoint(_chunk_loss, loaded, a, b, use_reentrant=False))
        else:
            parts.append(_chunk_loss(loaded, a, b))
    out = torch.zeros(labels.shape, dtype=torch.float32, device=h.device)
    if parts:
        out = out.masked_scatter(sel, torch.cat(parts))
    return out


def sequence_losses(loaded, ids, labels, chunk=0):
    """Each row's summed loss (float64, summed in position order) and its
    number of counted positions, for right-padded rows that are one sequence
    each."""
    h = loaded.hidden(ids)
    tl = token_losses(loaded, h, labels, chunk)
    return tl.double().sum(dim=1), (labels != IGNORE).sum(dim=1)
