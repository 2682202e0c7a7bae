import os
import unittest

import torch

from crucible_torch import compact, config, data, evaluate, lora, models, st
from crucible_torch.lossfn import token_losses
from crucible_torch.tokens import TokenFile

from helpers import TINY_GPT2, TINY_LLAMA, TINY_QWEN2, TempDir, random_seqs, save_model, write_tokens


def per_token(loaded, x, y, pos=None, docs=None):
    with torch.no_grad():
        return token_losses(loaded, loaded.hidden(x, pos, docs), y)


class PackingTest(unittest.TestCase):
    """A packed row computes exactly what its sequences compute alone:
    attention and positions restart at each, windows included."""

    def check(self, cfg):
        loaded = models.random(cfg, seed=3)
        seqs = random_seqs(6, cfg["vocab_size"], 5, lo=3, hi=12)
        with TempDir() as d:
            p = os.path.join(d, "t.safetensors")
            write_tokens(p, seqs, cfg["vocab_size"])
            tf = TokenFile(p)
            rows = data.pack(tf.lengths, list(range(len(tf))), 40)
            self.assertGreater(len(rows[0]), 1)
            x, y, pos, docs = (torch.from_numpy(a) for a in data.row_arrays(tf, rows, 40, packed=True))
            packed = per_token(loaded, x, y, pos, docs)
            total_packed = float(packed.double().sum())
            alone = 0.0
            for i in range(len(tf)):
                xi, yi = evaluate.eval_batch(tf, [i], "cpu")
                alone += float(per_token(loaded, xi, yi).double().sum())
            self.assertAlmostEqual(total_packed, alone, delta=1e-4 * abs(alone))

    def test_llama(self):
        self.check(TINY_LLAMA)

    def test_qwen2_sliding_window(self):
        self.check(TINY_QWEN2)

    def test_gpt2(self):
        self.check(TINY_GPT2)


class SlidingWindowTest(unittest.TestCase):
    def test_window_limits_attention(self):
        cfg = config.ModelConfig(TINY_QWEN2)
        self.assertEqual([cfg.window(l) for l in range(3)], [0, 5, 5])
        m = compact.build_masks(cfg, 8, None, "cpu")
        self.assertIsNone(m[0])
        allowed = m[5][0, 0]
        for q in range(8):
            for k in range(8):
                self.assertEqual(bool(allowed[q, k]), k <= q and q - k < 5)


class LoRATest(unittest.TestCase):
    def test_merge_save_load(self):
        for cfg in (TINY_LLAMA, TINY_GPT2):
            loaded = models.random(cfg, seed=1)
            x = torch.randint(0, cfg["vocab_size"], (2, 9))
            models.add_lora(loaded, 4, 8, 0.0, seed=2)
            with torch.no_grad():
                for _, m in lora.adapters(loaded.model):
                    m.lora_B.weight.normal_()
            loaded.model.eval()
            with torch.no_grad():
                want = loaded.hidden(x)
            with TempDir() as d:
                lora.save(loaded.model, d, "tiny")
                fresh = models.random(cfg, seed=1)
                lora.load(fresh.model, d)
                fresh.model.eval()
                with torch.no_grad():
                    self.assertTrue(torch.allclose(fresh.hidden(x), want, atol=1e-5))
                lora.merge(fresh.model)
                with torch.no_grad():
                    self.assertTrue(torch.allclose(fresh.hidden(x), want, atol=1e-4))
                self.assertFalse(lora.adapters(fresh.model))
                other = dict(cfg)
                other["vocab_size"] = 61
                if "hidden_size" in other:
                    other["intermediate_size"] = 40
                else:
                    other["n_inner"] = 40
                wrong = models.random(other, seed=1)
                with self.assertRaisesRegex(Exception, "another base model"):
                    lora.load(wrong.model, d)

    def test_refuses_what_crucible_refuses(self):
        import json
        with TempDir() as d:
            for bad, why in [({"peft_type": "IA3"}, "peft_type"), ({"use_dora": True}, "use_dora"),
                             ({"target_modules": "q_proj|v_proj"}, "regular expression"), ({"r": 0}, "positive"),
                             ({"r": 1 << 30}, "above")]:
                c = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]}
                c.update(bad)
                with open(os.path.join(d, lora.ADAPTER_CONFIG), "w") as f:
                    json.dump(c, f)
                with self.assertRaisesRegex(Exception, why):
                    lora.read_config(d)


class SubmissionChecksTest(unittest.TestCase):
    """The evaluator's checks of a submission, worded as crucible's."""

    def setUp(self):
        self.tmp = TempDir()
        self.d = self.tmp.__enter__()
        self.base = os.path.join(self.d, "base")
        save_model(self.base, TINY_LLAMA, seed=1)
        self.tokens = os.path.join(self.d, "t.safetensors")
        write_tokens(self.tokens, random_seqs(20, 61, 3), 61)

    def tearDown(self):
        self.tmp.__exit__()

    def eval(self, sub):
        return evaluate.evaluate(self.base, self.tokens, sub, device="cpu", engine="compact")

    def test_checks(self):
        base = self.eval("")
        self.assertEqual(base["failure"], "")
        self.assertEqual(base["samples"], 20)
        # Identical weights.
        self.assertEqual(self.eval(self.base)["failure"], evaluate.FAIL_IDENTICAL)
        # Another architecture.
        other = os.path.join(self.d, "other")
        cfg = dict(TINY_LLAMA)
        cfg["num_hidden_layers"] = 3
        save_model(other, cfg)
        self.assertTrue(self.eval(other)["failure"].startswith(evaluate.FAIL_ARCHITECTURE + ": num_hidden_layers 3, base 2"))
        # A real fine-tune: other weights, same architecture.
        tuned = os.path.join(self.d, "tuned")
        save_model(tuned, TINY_LLAMA, seed=9)
        r = self.eval(tuned)
        self.assertEqual(r["failure"], "")
        self.assertNotEqual(r["loss"], base["loss"])
        self.assertEqual(len(r["fingerprint"]), 64)
        # Unreadable weights.
        broken = os.path.join(self.d, "broken")
        os.makedirs(broken)
        with open(os.path.join(broken, "config.json"), "w") as f:
            import json
            json.dump(TINY_LLAMA, f)
        with open(os.path.join(broken, "model.safetensors"), "wb") as f:
            f.write(b"not safetensors at all")
        self.assertTrue(self.eval(broken)["failure"].startswith(evaluate.FAIL_UNREADABLE))
        # NaN weights.
        nan = os.path.join(self.d, "nan")
        loaded = save_model(nan, TINY_LLAMA, seed=1)
        w = {n: loaded.tensor(n).detach().clone() for n in loaded.weight_names()}
        w["model.norm.weight"][0] = float("nan")
        st.write(os.path.join(nan, "model.safetensors"), w)
        self.assertTrue(self.eval(nan)["failure"].startswith(evaluate.FAIL_NAN))
        # An adapter for another base.
        gpt = models.random(TINY_GPT2, seed=1)
        models.add_lora(gpt, 2, 4, 0.0)
        ad = os.path.join(self.d, "adapter")
        lora.save(gpt.model, ad)
        self.assertTrue(self.eval(ad)["failure"].startswith(evaluate.FAIL_ADAPTER))
        # A missing directory.
        self.assertTrue(self.eval(os.path.join(self.d, "nothing"))["failure"].startswith(evaluate.FAIL_UNREADABLE))


if __name__ == "__main__":
    unittest.main()
