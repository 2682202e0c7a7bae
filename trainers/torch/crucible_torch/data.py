"""Training batches from a token file: packed rows (several sequences per
row, kept apart by document numbers so attention and positions restart at
each), length-grouped padded rows, and preference pairs."""

import numpy as np
import torch

from .lossfn import IGNORE


def split_holdout(n, seed, share=0.05, least=100, most=256):
    """Splits sequence indices (or pair indices) into train and a small
    validation holdout: share of them, at most most, none below least."""
    rng = np.random.default_rng(seed + 7)
    order = rng.permutation(n)
    k = 0 if n < least else min(most, max(1, int(n * share)))
    return np.sort(order[k:]), np.sort(order[:k])


def pack(lengths, order, seq_len):
    """Greedily packs sequences (in the given order) into rows of seq_len
    tokens; a sequence longer than a row is cut to it. Returns rows as lists
    of sequence indices."""
    rows, cur, used = [], [], 0
    for i in order:
        n = min(int(lengths[i]), seq_len)
        if cur and used + n > seq_len:
            rows.append(cur)
            cur, used = [], 0
        cur.append(int(i))
        used += n
    if cur:
        rows.append(cur)
    return rows


def group(lengths, order, seq_len, rows_per_batch):
    """Unpacked rows: one sequence per row, each batch's rows of similar
    length (sorted within windows of 64 batches), so padding stays small."""
    order = list(order)
    win = rows_per_batch * 64
    out = []
    for lo in range(0, len(order), win):
        part = sorted(order[lo:lo + win], key=lambda i: lengths[i])
        out += [[i] for i in part]
    return out


def row_arrays(tf, rows, seq_len, packed):
    """The inputs, labels, positions and document numbers of rows (lists of
    sequence indices), as [B,T] arrays. Labels are the next token where it
    belongs to the same sequence and counts, IGNORE elsewhere."""
    if packed:
        T = seq_len
    else:
        T = max(1, max(min(int(tf.lengths[r[0]]), seq_len + 1) - 1 for r in rows))
    B = len(rows)
    x = np.zeros((B, T), dtype=np.int64)
    y = np.full((B, T), IGNORE, dtype=np.int64)
    pos = np.zeros((B, T), dtype=np.int64)
    docs = np.full((B, T), -1, dtype=np.int64)
    for b, row in enumerate(rows):
        at = 0
        for d, s in enumerate(row):
            ids, mask = tf.seq(s)
            if packed:
                n = min(len(ids), seq_len, T - at)
                x[b, at:at + n] = ids[:n]
                lab = np.where(mask[1:n], ids[1:n], IGNORE)
                y[b, at:at + n - 1] = lab
                pos[b, at:at + n] = np.arange(n)
                docs[b, at:at + n] = d
                at += n
            else:
                n = min(len(ids), T + 1)
                x[b, :n - 1] = ids[:n - 1]
                y[b, :n - 1] = np.where(mask[1:n], ids[1:n], IGNORE)
                pos[b, :] = np.arange(T)
                docs[b, :] = 0
        if packed and at < T:
            pos[b, at:] = np.arange(T - at)
            docs[b, at:] = len(row)  # padding: its own document
    return x, y, pos, docs


def to_device(arrays, device, packed):
    x, y, pos, docs = (torch.from_numpy(a).to(device, non_blocking=True) for a in arrays)
    if not packed:
        return x, y, None, None
    return x, y, pos, docs


def pair_rows(tf, pair_idx, seq_len):
    """Rows 2k (chosen) and 2k+1 (rejected) of pairs, right-padded, cut to
    seq_len + 1 tokens."""
    rows = []
    for p in pair_idx:
        rows.append([2 * int(p)])
        rows.append([2 * int(p) + 1])
    return row_arrays(tf, rows, seq_len, packed=False)
