"""Model configurations of the compact families, read from a Hugging Face
config.json with the same rules as crucible's Go engine (ml/model): every
key that changes the computation is honoured or refused by name."""

import json
import math
import os

from .errors import invalid

# Architectures the compact modules compute, by config.json "architectures".
COMPACT = {
    "LlamaForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "MistralForCausalLM": "mistral",
    "GPT2LMHeadModel": "gpt2",
}


class ModelConfig:
    """The sizes and quirks of a compact-family model."""

    def __init__(self, raw, path="config.json"):
        self.raw = raw
        self.path = path
        archs = raw.get("architectures") or []
        if not archs:
            raise invalid("%s: no architectures field (model_type %r)" % (path, raw.get("model_type")))
        self.architecture = archs[0]
        self.model_type = raw.get("model_type", "")
        if self.architecture not in COMPACT:
            raise invalid("%s: architecture %s is not one of the compact modules' (%s)"
                          % (path, self.architecture, ", ".join(sorted(COMPACT))),
                          hint="install transformers (pip install transformers peft) to run any architecture it supports")
        self.kind = COMPACT[self.architecture]
        if raw.get("quantization_config") is not None:
            raise invalid("%s: quantized checkpoints are not supported; load the full-precision weights" % path)
        self.sliding_window = 0
        self.sliding_layers = None
        self.rope_scaling = None
        self.qkv_bias = self.o_bias = self.mlp_bias = False
        if self.kind == "gpt2":
            self._gpt2(raw)
        else:
            self._decoder(raw)
        if self.kv_heads <= 0 or self.heads % self.kv_heads:
            raise invalid("%s: num_key_value_heads %d must divide num_attention_heads %d" % (path, self.kv_heads, self.heads))

    def _int(self, key, default=None):
        v = self.raw.get(key, default)
        if v is None:
            if default is None:
                raise invalid("%s: field %r is required" % (self.path, key))
            v = default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
            raise invalid("%s: field %r must be an integer, got %r" % (self.path, key, v))
        return int(v)

    def _float(self, key, default):
        v = self.raw.get(key)
        if v is None:
            return float(default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise invalid("%s: field %r must be a number, got %r" % (self.path, key, v))
        return float(v)

    def _gpt2(self, r):
        self.hidden = self._int("n_embd")
        self.layers = self._int("n_layer")
        self.heads = self._int("n_head")
        self.kv_heads = self.heads
        self.head_dim = self.hidden // self.heads
        self.intermediate = self._int("n_inner", 4 * self.hidden) if r.get("n_inner") is not None else 4 * self.hidden
        self.vocab = self._int("vocab_size")
        self.max_positions = self._int("n_positions", 1024)
        self.eps = self._float("layer_norm_epsilon", 1e-5)
        self.tie = bool(r.get("tie_word_embeddings", True))
        self.qkv_bias = self.o_bias = self.mlp_bias = True
        act = r.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            raise invalid("%s: activation_function %r is not supported (supported: gelu_new, gelu_pytorch_tanh)" % (self.path, act))
        if not self.tie:
            raise invalid("%s: tie_word_embeddings false is not supported (GPT-2's LM head is the token embedding)" % self.path)
        if r.get("scale_attn_weights", True) is not True:
            raise invalid("%s: scale_attn_weights must be true" % self.path)
        if r.get("scale_attn_by_inverse_layer_idx", False):
            raise invalid("%s: scale_attn_by_inverse_layer_idx is not supported" % self.path)
        self.rope_theta = 0.0

    def _decoder(self, r):
        self.hidden = self._int("hidden_size")
        self.intermediate = self._int("intermediate_size")
        self.layers = self._int("num_hidden_layers")
        self.heads = self._int("num_attention_heads")
        self.kv_heads = self._int("num_key_value_heads", self.heads) if r.get("num_key_value_heads") is not None else self.heads
        self.head_dim = self._int("head_dim") if r.get("head_dim") is not None else self.hidden // self.heads
        self.vocab = self._int("vocab_size")
        max_pos = {"llama": 2048, "qwen2": 32768, "mistral": 4096 * 32}[self.kind]
        self.max_positions = self._int("max_position_embeddings", max_pos) if r.get("max_position_embeddings") is not None else max_pos
        self.eps = self._float("rms_norm_eps", 1e-6)
        self.tie = bool(r.get("tie_word_embeddings", False))
        act = r.get("hidden_act", "silu")
        if act != "silu":
            raise invalid("%s: activation %r is not supported (supported: silu)" % (self.path, act))
        if r.get("rope_interleaved"):
            raise invalid("%s: rope_interleaved is not supported" % self.path)
        self.rope_theta = self._float("rope_theta", 10000)
        self._rope(r)
        if self.kind == "llama":
            self.qkv_bias = self.o_bias = bool(r.get("attention_bias", False))
            self.mlp_bias = bool(r.get("mlp_bias", False))
        elif self.kind == "qwen2":
            self.qkv_bias = True
            self._qwen_window(r)
        elif self.kind == "mistral":
            self.sliding_window = int(r.get("sliding_window") or 0)
            self._layer_types(r)

    def _rope(self, r):
        block = r.get("rope_scaling")
        if r.get("rope_parameters") is not None:
            raise invalid("%s: rope_parameters is not supported by the compact modules" % self.path,
                          hint="install transformers to run this checkpoint")
        if block is None:
            return
        if not isinstance(block, dict):
            raise invalid("%s: rope_scaling must be an object or null" % self.path)
        if block.get("rope_theta") is not None:
            self.rope_theta = float(block["rope_theta"])
        kind = block.get("rope_type", block.get("type", "default"))
        if kind in ("default", "", None):
            return
        if kind == "linear":
            self.rope_scaling = {"type": "linear", "factor": float(block["factor"])}
        elif kind == "llama3":
            self.rope_scaling = {"type": "llama3", "factor": float(block["factor"]),
                                 "low": float(block.get("low_freq_factor", 1)), "high": float(block.get("high_freq_factor", 4)),
                                 "original": int(block.get("original_max_position_embeddings") or 8192)}
        else:
            raise invalid("%s: rope_scaling type %r is not supported by the compact modules (supported: default, linear, llama3)"
                          % (self.path, kind), hint="install transformers to run this checkpoint")

    def _layer_types(self, r):
        types = r.get("layer_types")
        if types is None:
            return False
        if not isinstance(types, list) or len(types) != self.layers:
            raise invalid("%s: layer_types must list one type per layer (%d)" % (self.path, self.layers))
        out = []
        for i, t in enumerate(types):
            if t not in ("full_attention", "sliding_attention"):
                raise invalid("%s: layer_types[%d] %r is not supported" % (self.path, i, t))
            out.append(t == "sliding_attention")
        self.sliding_layers = out
        return True

    def _qwen_window(self, r):
        if not r.get("use_sliding_window", False):
            if self._layer_types(r) and any(self.sliding_layers):
                raise invalid("%s: layer_types has sliding layers but use_sliding_window is false" % self.path)
            self.sliding_layers = None
            return
        self.sliding_window = int(r.get("sliding_window") or 0)
        if self.sliding_window <= 0:
            raise invalid("%s: use_sliding_window is true but sliding_window is not a positive integer" % self.path)
        if self._layer_types(r):
            return
        first = int(r.get("max_window_layers", self.layers))
        self.sliding_layers = [i >= first for i in range(self.layers)]

    def window(self, layer):
        """The sliding window of a layer, or 0 for full attention."""
        if self.sliding_window <= 0:
            return 0
        if self.sliding_layers is None or self.sliding_layers[layer]:
            return self.sliding_window
        return 0

    def inv_freq(self):
        """RoPE's inverse frequencies (float64), with the config's scaling."""
        d = self.head_dim
        inv = [1.0 / (self.rope_theta ** (2 * i / d)) for i in range(d // 2)]
        s = self.rope_scaling
        if s is None:
            return inv
        if s["type"] == "linear":
            return [f / s["factor"] for f in inv]
        # llama3: low frequencies divided by factor, high ones kept, a smooth
        # blend between (Llama 3.1's rule, as transformers computes it).
        low_wl = s["original"] / s["low"]
        high_wl = s["original"] / s["high"]
        out = []
        for f in inv:
            wl = 2 * math.pi / f
            if wl < high_wl:
                out.append(f)
            elif wl > low_wl:
                out.append(f / s["factor"])
            else:
                smooth = (s["original"] / wl - s["low"]) / (s["high"] - s["low"])
                out.append((1 - smooth) * f / s["factor"] + smooth * f)
        return out

    def shape_key(self):
        """What must be equal between a base and a fine-tune of it."""
        return {"architectures": self.architecture, "model_type": self.model_type, "hidden_size": self.hidden,
                "num_hidden_layers": self.layers, "num_attention_heads": self.heads,
                "num_key_value_heads": self.kv_heads, "head_dim": self.head_dim,
                "intermediate_size": self.intermediate, "vocab_size": self.vocab, "tie_word_embeddings": self.tie}

    def computation_key(self):
        return (self.rope_theta, json.dumps(self.rope_scaling, sort_keys=True), self.sliding_window,
                tuple(self.sliding_layers or ()), self.qkv_bias, self.o_bias, self.mlp_bias, self.eps, self.max_positions)

    def num_params(self):
        C, I, L, V = self.hidden, self.intermediate, self.layers, self.vocab
        if self.kind == "gpt2":
            per = 4 * C + 3 * C * C + 3 * C + C * C + C + C * I + I + I * C + C
            return V * C + self.max_positions * C + L * per + 2 * C
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        per = 2 * C + C * (q + 2 * kv) + q * C + 3 * C * I
        if self.qkv_bias:
            per += q + 2 * kv
        if self.o_bias:
            per += C
        if self.mlp_bias:
            per += 2 * I + C
        return V * C + L * per + C + (0 if self.tie else V * C)


def read_raw(model_dir):
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError as e:
        raise invalid("%s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise invalid("%s is not JSON: %s" % (path, e))
    if not isinstance(raw, dict):
        raise invalid("%s is not a JSON object" % path)
    return raw, path


def read(model_dir):
    raw, path = read_raw(model_dir)
    return ModelConfig(raw, path)
