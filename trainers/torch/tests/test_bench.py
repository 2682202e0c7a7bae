import contextlib
import io
import json
import os
import unittest

from crucible_torch.cli import main
from crucible_torch.errors import EXIT_INVALID

from helpers import TINY_LLAMA, TempDir


def bench(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["bench", "--device", "cpu", "--steps", "1", *args])
    return rc, out.getvalue(), err.getvalue()


class BenchTest(unittest.TestCase):
    """The bench command on the CPU at a small size: every row measured,
    beside its baseline, with the ratios the targets are stated in."""

    def test_small_shape_every_row(self):
        with TempDir() as d:
            path = os.path.join(d, "tiny.json")
            with open(path, "w") as f:
                json.dump(dict(TINY_LLAMA, vocab_size=512), f)
            rc, out, err = bench("--models", path, "--seq-len", "32", "--batch", "2", "--json")
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertEqual((r["setup"]["seq_len"], r["setup"]["batch"], r["setup"]["precision"]), (32, 2, "float32"))
        self.assertIn("measured float32 matmul", r["setup"]["mfu_reference"])
        got = {(row["mode"], row["impl"]) for row in r["rows"]}
        self.assertEqual(got, {(m, i) for m in ("full", "lora", "eval") for i in ("ours", "baseline")})
        for row in r["rows"]:
            self.assertEqual(row["model"], "tiny")
            self.assertGreater(row["tokens_per_s"], 0)
            self.assertGreater(row["mfu"], 0)
            self.assertGreater(row["peak_memory"], 0)
        for k in ("full ours/baseline", "lora ours/baseline", "eval ours/baseline", "lora/full tokens/s",
                  "eval/full-training tokens/s"):
            self.assertGreater(r["ratios"]["tiny " + k], 0, k)

    def test_shipped_shape_table(self):
        rc, out, err = bench("--models", "llama-30m", "--modes", "eval", "--seq-len", "16", "--no-baseline")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertIn("crucible_torch bench on cpu", lines[0])
        row = [l for l in lines if l.startswith("llama-30m")]
        self.assertEqual(len(row), 1, out)
        self.assertEqual(row[0].split()[1:3], ["eval", "ours"])

    def test_unknown_shape(self):
        rc, _, err = bench("--models", "gpt-9")
        self.assertEqual(rc, EXIT_INVALID)
        self.assertIn("--models: no shape 'gpt-9'", err)
        self.assertIn("llama-3.2-1b", err)
        rc, _, err = bench("--models", "/nonexistent/shape.json")
        self.assertEqual(rc, EXIT_INVALID)
        self.assertIn("/nonexistent/shape.json", err)


if __name__ == "__main__":
    unittest.main()
