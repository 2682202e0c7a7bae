"""LoRA on the compact modules, saved and read in PEFT's layout
(adapter_config.json; adapter_model.safetensors with tensors named
base_model.model.<module>.lora_A.weight [r, in] and lora_B.weight [out, r]),
which crucible's Go engine and PEFT both read."""

import json
import math
import os

import torch
import torch.nn as nn

from . import st
from .compact import Conv1D
from .errors import invalid

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

# MAX_RANK bounds an adapter's rank, as crucible's engine does: an adapter
# comes from a miner, and its rank sizes what is allocated before its
# tensors are read.
MAX_RANK = 1 << 14


def default_targets(cfg):
    """Every attention and MLP projection (what crucible's engine targets)."""
    if cfg.kind == "gpt2":
        return ["c_attn", "c_proj", "c_fc"]
    return ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class LoRALinear(nn.Module):
    """A projection (nn.Linear, or GPT-2's Conv1D) with a low-rank update
    y += scale·B(A(dropout(x))). The base weight keeps its name (weight,
    bias), so checkpoints still load into it."""

    def __init__(self, base, r, alpha, dropout):
        super().__init__()
        self.conv1d = isinstance(base, Conv1D)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.r, self.alpha = r, alpha
        self.scale = alpha / r
        self.lora_A = nn.Linear(self.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, self.out_features, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        if self.conv1d:
            y = torch.matmul(x, self.weight)
            if self.bias is not None:
                y = y + self.bias
        else:
            y = nn.functional.linear(x, self.weight, self.bias)
        return y + self.lora_B(self.lora_A(self.dropout(x))) * self.scale

    def delta(self):
        """The update as the base weight's layout stores it."""
        d = (self.lora_B.weight.float() @ self.lora_A.weight.float()) * self.scale  # [out, in]
        return d.t() if self.conv1d else d

    def plain(self):
        """The base projection with the update merged in."""
        if self.conv1d:
            m = Conv1D(self.in_features, self.out_features, bias=self.bias is not None)
        else:
            m = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            m.weight = nn.Parameter((self.weight.float() + self.delta()).to(self.weight.dtype))
            if self.bias is not None:
                m.bias = self.bias
        return m


def _modules(model):
    return [(name, mod) for name, mod in model.named_modules() if isinstance(mod, (nn.Linear, Conv1D, LoRALinear))]


def _matches(name, targets):
    return any(name == t or name.endswith("." + t) for t in targets)


def _set(model, name, module):
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def add(model, r, alpha, dropout=0.0, targets=None, seed=0):
    """Attaches a new adapter to every targeted projection (A uniform in
    ±1/√in as PEFT's kaiming init draws it, B zero) and freezes everything
    else. Returns the adapted module names."""
    targets = targets or default_targets(model.cfg)
    if r <= 0 or not alpha > 0:
        raise invalid("lora: rank %d and alpha %g must be positive" % (r, alpha))
    used, names = set(), []
    g = torch.Generator().manual_seed(seed)
    for name, mod in _modules(model):
        if name in ("lm_head",) or isinstance(mod, LoRALinear) or not _matches(name, targets):
            continue
        for t in targets:
            if name == t or name.endswith("." + t):
                used.add(t)
        lm = LoRALinear(mod, r, alpha, dropout)
        with torch.no_grad():
            bound = 1 / math.sqrt(lm.in_features)
            lm.lora_A.weight.copy_((torch.rand(lm.lora_A.weight.shape, generator=g) * 2 - 1) * bound)
            lm.lora_B.weight.zero_()
        lm.to(mod.weight.device)
        _set(model, name, lm)
        names.append(name)
    unused = [t for t in targets if t not in used]
    if unused:
        raise invalid("lora: target modules %s match no projection of %s" % (unused, model.cfg.architecture))
    for n, p in model.named_parameters():
        p.requires_grad = ".lora_A." in n or ".lora_B." in n
    model.lora = {"r": r, "alpha": alpha, "dropout": dropout, "targets": list(targets)}
    return names


def adapters(model):
    return [(name, mod) for name, mod in model.named_modules() if isinstance(mod, LoRALinear)]


def peft_name(module, ab):
    return "base_model.model." + module + ".lora_" + ab + ".weight"


def save(model, out_dir, base_name=""):
    """Writes the attached adapter as a PEFT LoRA directory."""
    info = getattr(model, "lora", None)
    mods = adapters(model)
    if not info or not mods:
        raise ValueError("save adapter: no adapter attached")
    os.makedirs(out_dir, exist_ok=True)
    tensors = {}
    for name, m in mods:
        tensors[peft_name(name, "A")] = m.lora_A.weight.detach().float().cpu()
        tensors[peft_name(name, "B")] = m.lora_B.weight.detach().float().cpu()
    st.write(os.path.join(out_dir, ADAPTER_WEIGHTS), tensors, {"format": "pt"})
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": info["r"], "lora_alpha": info["alpha"],
           "lora_dropout": info["dropout"], "target_modules": info["targets"], "base_model_name_or_path": base_name,
           "fan_in_fan_out": model.cfg.kind == "gpt2", "bias": "none", "inference_mode": True,
           "init_lora_weights": True, "use_rslora": False, "use_dora": False, "modules_to_save": None}
    tmp = os.path.join(out_dir, ADAPTER_CONFIG + ".tmp")
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, ADAPTER_CONFIG))


def read_config(adapter_dir):
    """Reads adapter_config.json with crucible's rules: LoRA only, no DoRA,
    rsLoRA, biases, modules_to_save or layers_to_transform; target_modules a
    list of names."""
    path = os.path.join(adapter_dir, ADAPTER_CONFIG)
    try:
        with open(path) as f:
            c = json.load(f)
    except OSError as e:
        raise invalid("read adapter config: %s" % (e.strerror or e))
    except ValueError as e:
        raise invalid("%s: %s" % (path, e))
    if not isinstance(c, dict):
        raise invalid("%s: not a JSON object" % path)
    if c.get("peft_type") != "LORA":
        raise invalid("%s: peft_type %r is not supported (want LORA)" % (path, c.get("peft_type")))
    if c.get("use_dora"):
        raise invalid("%s: use_dora is not supported" % path)
    if c.get("use_rslora"):
        raise invalid("%s: use_rslora is not supported" % path)
    if c.get("bias") not in (None, "", "none"):
        raise invalid("%s: bias %r is not supported (want none)" % (path, c.get("bias")))
    if c.get("modules_to_save"):
        raise invalid("%s: modules_to_save is not supported" % path)
    if c.get("layers_to_transform"):
        raise invalid("%s: layers_to_transform is not supported" % path)
    targets = c.get("target_modules")
    if isinstance(targets, str):
        raise invalid("%s: target_modules %r is a regular expression; only a list of module names is supported" % (path, targets))
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise invalid("%s: target_modules must be a list of module names" % path)
    r = c.get("r")
    alpha = c.get("lora_alpha", 8)
    if not isinstance(r, int) or r <= 0 or not isinstance(alpha, (int, float)) or not alpha > 0 or math.isinf(alpha):
        raise invalid("%s: r %r and lora_alpha %r must be positive" % (path, r, alpha))
    if r > MAX_RANK:
        raise invalid("%s: r %d is above %d" % (path, r, MAX_RANK))
    return {"r": r, "alpha": float(alpha), "dropout": float(c.get("lora_dropout") or 0), "targets": targets,
            "base": c.get("base_model_name_or_path") or ""}


def load(model, adapter_dir):
    """Reads a PEFT LoRA directory and attaches it. The adapter must fit the
    model: every tensor must name a targeted projection with the shapes its
    sizes imply, and none may be missing."""
    c = read_config(adapter_dir)
    path = os.path.join(adapter_dir, ADAPTER_WEIGHTS)
    if not os.path.isfile(path):
        raise invalid("%s is missing" % path)
    f = st.File(path)
    add(model, c["r"], c["alpha"], 0.0, c["targets"])
    model.lora["dropout"] = c["dropout"]
    want = {}
    for name, m in adapters(model):
        want[peft_name(name, "A")] = m.lora_A.weight
        want[peft_name(name, "B")] = m.lora_B.weight
    seen = set()
    for name in f.names():
        p = want.get(name)
        if p is None:
            raise invalid("%s: tensor %r does not belong to a targeted module of this %s base model" % (path, name, model.cfg.architecture))
        if list(f.shape(name)) != list(p.shape):
            raise invalid("%s: tensor %s has shape %s, want %s (is the adapter for another base model?)" % (path, name, f.shape(name), list(p.shape)))
        with torch.no_grad():
            p.copy_(f.get(name).to(p.dtype))
        seen.add(name)
    for name, p in want.items():
        if name not in seen:
            raise invalid("%s: missing tensor %r (shape %s)" % (path, name, list(p.shape)))
    return c


def merge(model):
    """Merges every adapter into its base weight and removes it."""
    for name, m in adapters(model):
        _set(model, name, m.plain())
    model.lora = None
