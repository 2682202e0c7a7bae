import json
import math
import os
import subprocess
import sys
import time
import unittest

import numpy as np

from crucible_torch import evaluate
from crucible_torch.cli import main
from crucible_torch.errors import EXIT_INVALID

from helpers import TINY_GPT2, TINY_LLAMA, TempDir, learnable_seqs, random_seqs, save_model, write_tokens

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, env=None):
    """Runs python3 -m crucible_torch as crucible does; returns the process."""
    e = dict(os.environ)
    e["PYTHONPATH"] = PKG
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "crucible_torch", *args], env=e, capture_output=True, text=True, timeout=300)


class TrainTest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.d = self.tmp.__enter__()
        self.base = os.path.join(self.d, "base")
        save_model(self.base, TINY_LLAMA, seed=1)
        self.tokens = os.path.join(self.d, "train.safetensors")
        write_tokens(self.tokens, learnable_seqs(200, 61, 1), 61)

    def tearDown(self):
        self.tmp.__exit__()

    def loss(self, sub=""):
        return evaluate.evaluate(self.base, self.tokens, sub, device="cpu", engine="compact")

    def test_full_and_lora_learn(self):
        # (A random tiny model with a frozen head and norms cannot become
        # confident with an adapter alone: LoRA need only gain 3%.)
        before = self.loss()["loss"]
        for mode, marker, lr, gain in (("full", "model.safetensors", "3e-3", 0.8), ("lora", "adapter_model.safetensors", "2e-2", 0.97)):
            out = os.path.join(self.d, mode)
            rc = main(["train", "--model", self.base, "--tokens", self.tokens, "--out", out, "--mode", mode,
                       "--max-steps", "60", "--epochs", "5", "--time", "120", "--lr", lr, "--seq-len", "48"])
            self.assertEqual(rc, 0)
            self.assertTrue(os.path.isfile(os.path.join(out, marker)))
            with open(os.path.join(out, "training.json")) as f:
                summary = json.load(f)
            self.assertEqual(summary["mode"], mode)
            after = self.loss(out)
            self.assertEqual(after["failure"], "")
            self.assertLess(after["loss"], before * gain, mode)

    def test_gpt2_packed(self):
        base = os.path.join(self.d, "gpt2")
        save_model(base, TINY_GPT2, seed=1)
        out = os.path.join(self.d, "gpt2-out")
        rc = main(["train", "--model", base, "--tokens", self.tokens, "--out", out, "--mode", "lora",
                   "--max-steps", "5", "--time", "60", "--packing", "on"])
        self.assertEqual(rc, 0)
        with open(os.path.join(out, "adapter_config.json")) as f:
            self.assertTrue(json.load(f)["fan_in_fan_out"])

    def test_dpo(self):
        pairs = []
        good = learnable_seqs(60, 61, 2)
        bad = random_seqs(60, 61, 3, lo=12, hi=13, prompt=1)
        for g, b in zip(good, bad):
            ids = np.concatenate([g[0][:2], b[0][2:]])
            pairs += [(g[0], np.arange(len(g[0])) >= 2), (ids, np.arange(len(ids)) >= 2)]
        tokens = os.path.join(self.d, "pairs.safetensors")
        write_tokens(tokens, pairs, 61, kind="pairs")
        out = os.path.join(self.d, "dpo")
        rc = main(["train", "--model", self.base, "--tokens", tokens, "--out", out, "--mode", "lora",
                   "--max-steps", "25", "--time", "120", "--lr", "5e-3"])
        self.assertEqual(rc, 0)
        r = evaluate.evaluate(self.base, tokens, out, device="cpu", engine="compact")
        self.assertEqual(r["failure"], "")
        self.assertLess(r["loss"], math.log(2))
        self.assertGreater(r["reward_accuracy"], 0.5)

    def test_meets_the_time_limit(self):
        # The contract's environment, a 20 s budget and far more steps than
        # fit: a complete result is written before the limit.
        out = os.path.join(self.d, "timed")
        big = os.path.join(self.d, "big.safetensors")
        write_tokens(big, learnable_seqs(20000, 61, 4), 61)
        t = time.time()
        p = run_cli("train", "--mode", "full", "--threads", "1", env={
            "CRUCIBLE_MODEL_DIR": self.base, "CRUCIBLE_TOKENS": big, "CRUCIBLE_OUT_DIR": out,
            "CRUCIBLE_TIME_LIMIT_SECONDS": "20"})
        took = time.time() - t
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertLess(took, 20, p.stderr)
        self.assertTrue(os.path.isfile(os.path.join(out, "model.safetensors")))
        lines = [l for l in p.stdout.splitlines() if l.startswith("CRUCIBLE_PROGRESS ")]
        self.assertTrue(lines)
        last = json.loads(lines[-1][len("CRUCIBLE_PROGRESS "):])
        self.assertEqual(last["fraction"], 1.0)
        self.assertIn("stopped for the time limit", p.stderr)
        # A limit that leaves no room for one step fails with exit status 4
        # and says why, rather than hand back the base as a result.
        p = run_cli("train", "--mode", "full", env={"CRUCIBLE_MODEL_DIR": self.base, "CRUCIBLE_TOKENS": big,
                                                   "CRUCIBLE_OUT_DIR": os.path.join(self.d, "none"), "CRUCIBLE_TIME_LIMIT_SECONDS": "3"})
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("time limit", p.stderr.strip().splitlines()[-1])

    def test_bad_input(self):
        import contextlib
        import io
        for args, env, want in [
            (["train", "--model", self.base, "--out", os.path.join(self.d, "x")], {"CRUCIBLE_TOKENS": ""}, "no token file"),
            (["train", "--model", os.path.join(self.d, "nope"), "--tokens", self.tokens, "--out", os.path.join(self.d, "x")], {}, "no config.json"),
            (["train", "--model", self.base, "--tokens", self.tokens, "--out", os.path.join(self.d, "x")], {"CRUCIBLE_TASK_TYPE": "grpo"}, "grpo"),
            (["train", "--model", self.base, "--tokens", self.base + "/config.json", "--out", os.path.join(self.d, "x")], {}, "token file"),
            (["eval", "--base", self.base, "--tokens", os.path.join(self.d, "missing")], {}, "No such file"),
        ]:
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err):
                    rc = main(args)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            self.assertEqual(rc, EXIT_INVALID, err.getvalue())
            self.assertIn(want, err.getvalue().strip().splitlines()[-1])
        # The same through a process, as crucible runs it.
        p = run_cli("train", "--model", self.base, "--out", os.path.join(self.d, "x"), env={"CRUCIBLE_TOKENS": ""})
        self.assertEqual(p.returncode, EXIT_INVALID, p.stderr)
        self.assertIn("no token file", p.stderr.strip().splitlines()[-1])


class DDPTest(unittest.TestCase):
    """Two ranks on the CPU (gloo), started with the environment torchrun
    gives its workers (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)."""

    def test_two_processes(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with TempDir() as d:
            base = os.path.join(d, "base")
            save_model(base, TINY_LLAMA, seed=1)
            tokens = os.path.join(d, "t.safetensors")
            write_tokens(tokens, learnable_seqs(200, 61, 1), 61)
            out = os.path.join(d, "out")
            procs = []
            for rank in range(2):
                e = dict(os.environ, PYTHONPATH=PKG, OMP_NUM_THREADS="1", RANK=str(rank), LOCAL_RANK=str(rank),
                         WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
                procs.append(subprocess.Popen([sys.executable, "-m", "crucible_torch", "train", "--model", base, "--tokens", tokens,
                                               "--out", out, "--mode", "full", "--max-steps", "10", "--time", "120", "--lr", "3e-3"],
                                              env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            errs = []
            for p in procs:
                _, err = p.communicate(timeout=300)
                errs.append(err)
                self.assertEqual(p.returncode, 0, err[-3000:])
            self.assertIn("DDP over 2 ranks", errs[0])
            self.assertEqual(errs[1].strip(), "")  # only rank 0 speaks
            r = evaluate.evaluate(base, tokens, out, device="cpu", engine="compact")
            self.assertEqual(r["failure"], "")


if __name__ == "__main__":
    unittest.main()
