import json
import os
import struct
import unittest

import numpy as np
import torch

from crucible_torch import st
from crucible_torch.errors import CrucibleError
from crucible_torch.fingerprint import SEED, Fingerprint, mix, mix_int
from crucible_torch.tokens import TokenFile

from helpers import TempDir, random_seqs, write_tokens


class TokenFileTest(unittest.TestCase):
    def test_round_trip(self):
        seqs = random_seqs(50, 1000, 1)
        with TempDir() as d:
            p = os.path.join(d, "t.safetensors")
            write_tokens(p, seqs, 1000)
            tf = TokenFile(p)
            self.assertEqual(len(tf), 50)
            for i, (ids, mask) in enumerate(seqs):
                got_ids, got_mask = tf.seq(i)
                np.testing.assert_array_equal(got_ids, ids)
                np.testing.assert_array_equal(got_mask, mask)
                self.assertEqual(tf.counted(i), int(mask[1:].sum()))

    def test_refuses_bad_files(self):
        seqs = random_seqs(5, 100, 2)
        with TempDir() as d:
            p = os.path.join(d, "t.safetensors")
            write_tokens(p, seqs, 100)
            with open(p, "rb") as f:
                data = bytearray(f.read())
            (n,) = struct.unpack("<Q", data[:8])
            data[8 + n] ^= 1  # a flipped bit in the first id
            with open(p, "wb") as f:
                f.write(bytes(data))
            with self.assertRaisesRegex(CrucibleError, "sha256"):
                TokenFile(p)
            write_tokens(p, seqs, 100)
            with open(p, "rb") as f:
                raw = f.read()
            (n,) = struct.unpack("<Q", raw[:8])
            header = json.loads(raw[8:8 + n])
            header["__metadata__"]["version"] = "2"
            h = json.dumps(header).encode()
            with open(p, "wb") as f:
                f.write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
            with self.assertRaisesRegex(CrucibleError, "version"):
                TokenFile(p)
            with open(p, "wb") as f:
                f.write(b"\xff" * 16)
            with self.assertRaises(CrucibleError):
                TokenFile(p)
            with self.assertRaisesRegex(CrucibleError, "No such file"):
                TokenFile(os.path.join(d, "missing"))


class SafetensorsTest(unittest.TestCase):
    def test_round_trip(self):
        t = {"a": torch.randn(3, 4), "b": torch.randn(5).to(torch.bfloat16), "c": torch.arange(6).reshape(2, 3),
             "d": torch.randn(2).half()}
        with TempDir() as d:
            p = os.path.join(d, "m.safetensors")
            st.write(p, t, {"format": "pt"})
            f = st.File(p)
            self.assertEqual(f.metadata, {"format": "pt"})
            for k, v in t.items():
                self.assertTrue(torch.equal(f.get(k), v), k)

    def test_refuses_data_outside_the_file(self):
        with TempDir() as d:
            p = os.path.join(d, "m.safetensors")
            h = json.dumps({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}).encode()
            with open(p, "wb") as f:
                f.write(struct.pack("<Q", len(h)) + h + b"\0" * 16)
            with self.assertRaisesRegex(CrucibleError, "outside"):
                st.File(p)


class FingerprintTest(unittest.TestCase):
    def test_mix_is_splitmix64(self):
        xs = [0, 1, 2, 3, 1 << 20, (1 << 31) - 1, (1 << 40) + 12345]
        got = mix(torch.tensor(xs, dtype=torch.int64) ^ SEED).tolist()
        for x, g in zip(xs, got):
            self.assertEqual(g & ((1 << 64) - 1), mix_int(x ^ SEED))

    def test_pieces_equal_whole(self):
        torch.manual_seed(0)
        d = torch.randn(100_000)
        whole = Fingerprint(d.numel())
        whole.add(0, d)
        parts = Fingerprint(d.numel())
        for lo in range(0, d.numel(), 7777):
            parts.add(lo, d[lo:lo + 7777])
        np.testing.assert_allclose(whole.value(), parts.value(), rtol=1e-6)
        self.assertTrue(whole.nonzero)
        zero = Fingerprint(10)
        zero.add(0, torch.zeros(10))
        self.assertFalse(zero.nonzero)

    def test_reference_values(self):
        # The projection by its definition, element by element in Python.
        d = [0.5, -1.0, 0.0, 2.0, 0.25]
        fp = Fingerprint(len(d))
        fp.add(0, torch.tensor(d))
        want = []
        for j in range(64):
            s = 0.0
            for i, x in enumerate(d):
                s += x if (mix_int(SEED ^ i) >> j) & 1 else -x
            want.append(s / len(d) ** 0.5)
        np.testing.assert_allclose(fp.value(), want, rtol=1e-6)


if __name__ == "__main__":
    unittest.main()
