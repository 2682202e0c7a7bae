"""Test helpers: token files and tiny models written the way crucible
writes them."""

import hashlib
import json
import os
import struct
import tempfile

import numpy as np
import torch

from crucible_torch import models, st

TINY_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 48,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 61,
              "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "tie_word_embeddings": False}
TINY_GPT2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4,
             "vocab_size": 61, "n_positions": 128}
TINY_QWEN2 = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32, "intermediate_size": 48,
              "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 61,
              "max_position_embeddings": 128, "tie_word_embeddings": True, "use_sliding_window": True,
              "sliding_window": 5, "max_window_layers": 1}


def write_tokens(path, seqs, vocab, kind="sequences"):
    """Writes (ids, mask) pairs as a token file, format version 1."""
    ids = np.concatenate([np.asarray(s, dtype=np.uint16) for s, _ in seqs]) if seqs else np.zeros(0, np.uint16)
    mask = np.concatenate([np.asarray(m, dtype=bool) for _, m in seqs]) if seqs else np.zeros(0, bool)
    T = len(ids)
    mbytes = np.packbits(mask, bitorder="little").tobytes()
    end = 2 * T + len(mbytes)
    mbytes += b"\0" * ((8 - end % 8) % 8)
    offsets = np.zeros(len(seqs) + 1, dtype="<i8")
    offsets[1:] = np.cumsum([len(s) for s, _ in seqs])
    data = ids.astype("<u2").tobytes() + mbytes + offsets.tobytes()
    a, b = 2 * T, 2 * T + len(mbytes)
    info = {"version": 1, "kind": kind, "sequences": len(seqs), "tokens": T, "counted": int(sum(np.sum(m[1:]) for _, m in seqs)),
            "longest": max((len(s) for s, _ in seqs), default=0), "vocab_size": vocab, "ids_dtype": "U16",
            "sha256": hashlib.sha256(data).hexdigest()}
    header = {"__metadata__": {"format": "crucible-tokens", "version": "1", "crucible": json.dumps(info)},
              "input_ids": {"dtype": "U16", "shape": [T], "data_offsets": [0, a]},
              "loss_mask": {"dtype": "U8", "shape": [b - a], "data_offsets": [a, b]},
              "offsets": {"dtype": "I64", "shape": [len(seqs) + 1], "data_offsets": [b, len(data)]}}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def random_seqs(n, vocab, seed, lo=4, hi=20, prompt=2):
    """n random sequences whose tokens after the first `prompt` count."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        L = int(rng.integers(lo, hi))
        ids = rng.integers(0, vocab, L)
        mask = np.arange(L) >= prompt
        out.append((ids, mask))
    return out


def learnable_seqs(n, vocab, seed, L=12):
    """Sequences a model can learn: each an arithmetic progression mod vocab."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a, d = int(rng.integers(0, vocab)), int(rng.integers(1, 4))
        ids = (a + d * np.arange(L)) % vocab
        out.append((ids, np.arange(L) >= 1))
    return out


def save_model(dir, cfg, seed=0):
    """A random model of cfg saved in Hugging Face layout."""
    os.makedirs(dir, exist_ok=True)
    loaded = models.random(cfg, seed=seed)
    with open(os.path.join(dir, "config.json"), "w") as f:
        json.dump(cfg, f)
    st.write(os.path.join(dir, "model.safetensors"), {n: loaded.tensor(n).detach() for n in loaded.weight_names()})
    return loaded


class TempDir:
    def __enter__(self):
        self.t = tempfile.TemporaryDirectory()
        return self.t.name

    def __exit__(self, *a):
        self.t.cleanup()
        return False


def torch_seed(s=0):
    torch.manual_seed(s)
