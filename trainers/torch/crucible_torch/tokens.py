"""Reading crucible token files (format version 1, docs/tokens.md).

A token file is a safetensors file with three tensors: ``input_ids`` (U16 or
U32), ``loss_mask`` (one bit per token, least significant bit first) and
``offsets`` (I64, one more than the sequences). The header's metadata holds a
JSON description under the key ``crucible``. Everything is memory-mapped:
reading a sequence touches only its bytes.
"""

import hashlib
import json
import os
import struct

import numpy as np

from .errors import invalid

FORMAT = "crucible-tokens"
VERSION = "1"
KIND_SEQUENCES = "sequences"
KIND_PAIRS = "pairs"

_DTYPES = {"U16": "<u2", "U32": "<u4", "U8": "u1", "I64": "<i8"}


class TokenFile:
    """A token file, memory-mapped.

    ``seq(i)`` returns sequence i's ids (int64) and mask (bool) as numpy
    arrays; ``counted(i)`` the number of its tokens that count in the loss
    (the first token never does: nothing precedes it).
    """

    def __init__(self, path, verify=True):
        self.path = path
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                raw = f.read(8)
                if len(raw) != 8:
                    raise invalid("token file %s: shorter than its header" % path)
                (n,) = struct.unpack("<Q", raw)
                if n <= 0 or n > 100 << 20 or 8 + n > size:
                    raise invalid("token file %s: header length %d is out of range" % (path, n))
                header = json.loads(f.read(n))
        except OSError as e:
            raise invalid("token file %s: %s" % (path, e.strerror or e))
        except ValueError as e:
            raise invalid("token file %s: the header is not JSON: %s" % (path, e))
        meta = header.get("__metadata__") or {}
        if meta.get("format") != FORMAT:
            raise invalid("%s is not a crucible token file (metadata format %r)" % (path, meta.get("format")))
        if meta.get("version") != VERSION:
            raise invalid("token file %s: format version %r, this reader knows version %s" % (path, meta.get("version"), VERSION),
                          hint="update crucible_torch")
        try:
            info = json.loads(meta["crucible"])
        except (KeyError, ValueError) as e:
            raise invalid("token file %s: metadata 'crucible' is missing or not JSON (%s)" % (path, e))
        self.info = info
        self.kind = info.get("kind")
        if self.kind not in (KIND_SEQUENCES, KIND_PAIRS):
            raise invalid("token file %s: unknown kind %r" % (path, self.kind))
        self.vocab_size = int(info.get("vocab_size", 0))
        start = 8 + n
        self._data_start = start
        self._size = size

        def tensor(name, want):
            t = header.get(name)
            if not isinstance(t, dict):
                raise invalid("token file %s: no tensor %s" % (path, name))
            if t.get("dtype") not in want:
                raise invalid("token file %s: tensor %s is %s, want %s" % (path, name, t.get("dtype"), " or ".join(want)))
            lo, hi = t["data_offsets"]
            dt = np.dtype(_DTYPES[t["dtype"]])
            if lo < 0 or hi < lo or start + hi > size or (hi - lo) % dt.itemsize:
                raise invalid("token file %s: tensor %s lies outside the file" % (path, name))
            count = (hi - lo) // dt.itemsize
            if count == 0:
                return np.zeros(0, dtype=dt)
            return np.memmap(path, dtype=dt, mode="r", offset=start + lo, shape=(count,))

        self.ids = tensor("input_ids", ("U16", "U32"))
        self.mask_bytes = tensor("loss_mask", ("U8",))
        self.offsets = tensor("offsets", ("I64",))
        T, S = len(self.ids), len(self.offsets) - 1
        if S < 0 or self.offsets[0] != 0 or self.offsets[-1] != T or np.any(np.diff(self.offsets) < 0):
            raise invalid("token file %s: offsets are not a partition of the %d tokens" % (path, T))
        if len(self.mask_bytes) * 8 < T:
            raise invalid("token file %s: the loss mask covers %d of %d tokens" % (path, len(self.mask_bytes) * 8, T))
        if self.kind == KIND_PAIRS and S % 2:
            raise invalid("token file %s: a pairs file holds an odd number of sequences (%d)" % (path, S))
        if info.get("sequences") not in (None, S) or info.get("tokens") not in (None, T):
            raise invalid("token file %s: metadata says %s sequences and %s tokens, the tensors hold %d and %d"
                          % (path, info.get("sequences"), info.get("tokens"), S, T))
        if verify:
            self.verify()
        self.lengths = np.diff(self.offsets).astype(np.int64)

    def verify(self):
        """Checks the data buffer's SHA-256 against the metadata and every id
        against the vocabulary size."""
        want = self.info.get("sha256", "")
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            f.seek(self._data_start)
            while True:
                b = f.read(8 << 20)
                if not b:
                    break
                h.update(b)
        if h.hexdigest() != want:
            raise invalid("token file %s: the data does not match its sha256 (corrupt or truncated)" % self.path)
        if len(self.ids) and self.vocab_size and int(self.ids.max()) >= self.vocab_size:
            raise invalid("token file %s: an id is not below the vocabulary size %d" % (self.path, self.vocab_size))

    def __len__(self):
        return len(self.offsets) - 1

    def seq(self, i):
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        ids = np.asarray(self.ids[lo:hi], dtype=np.int64)
        return ids, self.mask(lo, hi)

    def mask(self, lo, hi):
        if hi <= lo:
            return np.zeros(0, dtype=bool)
        b0, b1 = lo // 8, (hi + 7) // 8
        bits = np.unpackbits(np.asarray(self.mask_bytes[b0:b1]), bitorder="little")
        return bits[lo - 8 * b0: hi - 8 * b0].astype(bool)

    def counted(self, i):
        _, m = self.seq(i)
        return int(m[1:].sum())

    @property
    def pairs(self):
        return len(self) // 2 if self.kind == KIND_PAIRS else 0

    @property
    def longest(self):
        return int(self.lengths.max()) if len(self.lengths) else 0

    @property
    def task_type(self):
        src = self.info.get("source") or {}
        return src.get("task_type", "")
