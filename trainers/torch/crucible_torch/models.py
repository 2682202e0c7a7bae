"""Loading models for training and evaluation: through transformers (and
peft) when they are importable and know the architecture, else through the
compact modules. Both give a Loaded model with the same few operations, so
the trainer and the evaluator do not care which engine runs."""

import json
import os

import torch

from . import compact, config, lora, st
from .errors import invalid, resources

try:  # optional: any architecture transformers supports
    import transformers  # noqa: F401
    HAS_TRANSFORMERS = True
except Exception:  # pragma: no cover - not installed here
    HAS_TRANSFORMERS = False
try:
    import peft  # noqa: F401
    HAS_PEFT = True
except Exception:  # pragma: no cover
    HAS_PEFT = False

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "chat_template.json", "vocab.json", "merges.txt", "tokenizer.model", "generation_config.json"]


def choose_engine(model_dir, want="auto"):
    """compact or transformers: auto takes transformers when it is importable
    (it knows more architectures), compact otherwise."""
    raw, path = config.read_raw(model_dir)
    if want == "compact":
        return "compact"
    if want == "transformers":
        if not HAS_TRANSFORMERS:
            raise resources("--engine transformers: transformers is not installed", hint="pip install transformers peft")
        return "transformers"
    if HAS_TRANSFORMERS:
        return "transformers"
    arch = (raw.get("architectures") or [""])[0]
    if arch not in config.COMPACT:
        raise invalid("%s: architecture %s needs transformers, which is not installed (the compact modules run %s)"
                      % (path, arch or "(none)", ", ".join(sorted(config.COMPACT))),
                      hint="pip install transformers peft")
    return "compact"


def engine_name(engine):
    if engine == "transformers":
        import transformers
        return "transformers " + transformers.__version__
    return "compact"


class Loaded:
    """A causal LM behind one interface.

    hidden(ids, positions, docs) returns the final hidden states [B,T,C];
    logits(h) applies the LM head to rows of them. docs (packed documents)
    is only supported by the compact engine (packs).
    """

    def __init__(self, model, engine, cfg, model_dir):
        self.model = model
        self.engine = engine
        self.cfg = cfg  # config.ModelConfig for compact, the raw dict for transformers
        self.dir = model_dir
        self.packs = engine == "compact"
        self.softcap = None
        if engine == "transformers":
            c = model.config
            self.softcap = getattr(c, "final_logit_softcapping", None)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def hidden(self, ids, positions=None, docs=None):
        if self.engine == "compact":
            return self.model(ids, positions, docs)
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        body = getattr(base, base.base_model_prefix)
        out = body(input_ids=ids, position_ids=positions, use_cache=False)
        return out[0]

    def head_weight(self):
        if self.engine == "compact":
            return self.model.lm_head_weight()
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return base.get_output_embeddings().weight

    def head_bias(self):
        if self.engine == "compact":
            return None
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return getattr(base.get_output_embeddings(), "bias", None)

    def logits(self, h):
        w = self.head_weight()
        z = torch.nn.functional.linear(h, w.to(h.dtype), None if self.head_bias() is None else self.head_bias().to(h.dtype))
        if self.softcap:
            z = torch.tanh(z / self.softcap) * self.softcap
        return z

    def set_checkpointing(self, on):
        if self.engine == "compact":
            self.model.checkpointing = on
        elif on:
            base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if hasattr(base, "enable_input_require_grads"):
                base.enable_input_require_grads()

    def num_params(self):
        return sum(p.numel() for p in self.model.parameters())

    def max_positions(self):
        if self.engine == "compact":
            return self.cfg.max_positions
        c = self.model.config
        return getattr(c, "max_position_embeddings", None) or getattr(c, "n_positions", None) or 1 << 20

    def vocab(self):
        return self.head_weight().shape[0]

    def weight_names(self):
        """Tensor names in the order the weight-delta fingerprint projects
        them: crucible's parameter layout for the compact families, the
        state dict's order otherwise (each tensor once)."""
        if self.engine == "compact":
            return compact.layout_names(self.cfg)
        seen, names = set(), []
        for name, p in self.model.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            names.append(name)
        return names

    def tensor(self, name):
        if self.engine == "compact":
            return self.model.get_parameter(name)
        return self.model.get_parameter(name)


def load(model_dir, engine="auto", dtype=torch.float32, device="cpu"):
    """Loads a model directory (config.json + safetensors) in dtype on device."""
    engine = choose_engine(model_dir, engine)
    if engine == "transformers":
        return _load_hf(model_dir, dtype, device)
    cfg = config.read(model_dir)
    with _no_init():
        m = compact.CausalLM(cfg)
    compact.load_weights(m, model_dir, dtype)
    m.to(device)
    return Loaded(m, "compact", cfg, model_dir)


def random(cfg_dict, seed=0, dtype=torch.float32, device="cpu", engine="compact"):
    """A randomly initialized model of a config (for benchmarks and tests)."""
    if engine == "transformers":
        import transformers
        c = transformers.AutoConfig.for_model(**cfg_dict)
        torch.manual_seed(seed)
        m = transformers.AutoModelForCausalLM.from_config(c, torch_dtype=dtype)
        return Loaded(m.to(device), "transformers", cfg_dict, "")
    cfg = config.ModelConfig(cfg_dict, "config")
    m = compact.CausalLM(cfg)
    compact.init_weights(m, seed)
    return Loaded(m.to(dtype=dtype).to(device), "compact", cfg, "")


class _no_init:
    """Skips the random initialization of modules whose weights are about to
    be loaded (it costs seconds per billion parameters)."""

    names = ("kaiming_uniform_", "uniform_", "normal_", "zeros_", "ones_")

    def __enter__(self):
        self.saved = {n: getattr(torch.nn.init, n) for n in self.names}
        for n in self.names:
            setattr(torch.nn.init, n, lambda t, *a, **k: t)
        return self

    def __exit__(self, *a):
        for n, f in self.saved.items():
            setattr(torch.nn.init, n, f)
        return False


def _load_hf(model_dir, dtype, device):  # pragma: no cover - transformers is not installed where CI runs
    import transformers
    try:
        m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype, attn_implementation="sdpa")
    except (OSError, ValueError, KeyError) as e:
        raise invalid("%s: transformers cannot load it: %s" % (model_dir, e))
    raw, _ = config.read_raw(model_dir)
    return Loaded(m.to(device), "transformers", raw, model_dir)


# Architecture checks between a base and a submission.

SHAPE_KEYS = ["architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size", "tie_word_embeddings",
              "n_embd", "n_layer", "n_head", "n_inner"]


def architecture_diff(base, sub_dir):
    """Lists the config fields in which the submission differs from the base,
    or returns "" (crucible's rule: same family, sizes and computation)."""
    raw, path = config.read_raw(sub_dir)
    if base.engine == "compact":
        try:
            sc = config.ModelConfig(raw, path)
        except Exception as e:
            arch = (raw.get("architectures") or [""])[0]
            if arch != base.cfg.architecture:
                return "architectures %s, base %s" % (arch, base.cfg.architecture)
            raise
        a, b = base.cfg.shape_key(), sc.shape_key()
        d = ["%s %s, base %s" % (k, b[k], a[k]) for k in a if a[k] != b[k]]
        if not d and base.cfg.computation_key() != sc.computation_key():
            d.append("the computation differs (rotary embeddings, attention windows, norms or biases)")
        return "; ".join(d)
    braw = base.cfg
    d = []
    for k in SHAPE_KEYS:
        if braw.get(k) != raw.get(k):
            d.append("%s %s, base %s" % (k, raw.get(k), braw.get(k)))
    if not d:
        ignore = {"torch_dtype", "dtype", "transformers_version", "_name_or_path", "use_cache"}
        for k in sorted(set(braw) | set(raw)):
            if k not in ignore and braw.get(k) != raw.get(k):
                d.append("%s %s, base %s" % (k, json.dumps(raw.get(k)), json.dumps(braw.get(k))))
    return "; ".join(d)


def copy_tokenizer(src, dst):
    """Copies the tokenizer files (and generation config) of src that exist."""
    for name in TOKENIZER_FILES:
        p = os.path.join(src, name)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                b = f.read()
            with open(os.path.join(dst, name), "wb") as f:
                f.write(b)


def save_full(loaded, out_dir, dtype=None):
    """Writes a full model: model.safetensors (weights in dtype, default
    their own) and config.json, written last so a reader never sees a config
    without its weights."""
    os.makedirs(out_dir, exist_ok=True)
    if loaded.engine == "transformers":  # pragma: no cover
        m = loaded.model.to(dtype) if dtype is not None else loaded.model
        m.save_pretrained(out_dir, safe_serialization=True)
        return
    tensors = {}
    for name in loaded.weight_names():
        t = loaded.tensor(name).detach()
        tensors[name] = t.to(dtype) if dtype is not None else t
    st.write(os.path.join(out_dir, "model.safetensors"), tensors, {"format": "pt"})
    raw = dict(loaded.cfg.raw)
    raw["torch_dtype"] = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(
        dtype or next(iter(tensors.values())).dtype, "float32")
    tmp = os.path.join(out_dir, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(raw, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, "config.json"))


def add_lora(loaded, r, alpha, dropout, targets=None, seed=0):
    if loaded.engine == "compact":
        return lora.add(loaded.model, r, alpha, dropout, targets, seed)
    if not HAS_PEFT:  # pragma: no cover
        raise resources("LoRA with transformers needs peft, which is not installed", hint="pip install peft")
    import peft  # pragma: no cover
    targets = targets or ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    cfgp = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none",
                           task_type="CAUSAL_LM")
    torch.manual_seed(seed)
    loaded.model = peft.get_peft_model(loaded.model, cfgp)
    return targets


def save_lora(loaded, out_dir, base_name=""):
    if loaded.engine == "compact":
        return lora.save(loaded.model, out_dir, base_name)
    loaded.model.save_pretrained(out_dir, safe_serialization=True)  # pragma: no cover
