"""Compact modules: the decoder families crucible's Go engine computes
(Llama, Qwen2, Mistral: RMSNorm, RoPE, SwiGLU, grouped-query attention,
optional biases and sliding windows; GPT-2: LayerNorm, learned positions,
GELU, Conv1D projections), with Hugging Face parameter names, so that a
checkpoint loads as it is and a fine-tune saves as Hugging Face expects.

The forward pass returns the final hidden states; the LM head is applied by
the caller a chunk of positions at a time (``lm_head_weight``), so logits of a
large vocabulary never fill memory at once.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from . import st
from .errors import invalid

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


class Conv1D(nn.Module):
    """GPT-2's projection: y = x·W + b with W stored [in, out]."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.in_features, self.out_features = n_in, n_out
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x):
        y = torch.matmul(x, self.weight)
        return y + self.bias if self.bias is not None else y


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def attention(q, k, v, mask, scale):
    """Scaled dot-product attention over q [B,H,T,D] and k, v [B,KV,T,D]
    (grouped: query head h reads key/value head h // (H/KV)). mask is None
    for plain causal attention, else a boolean [B,1,T,T] of allowed pairs."""
    H, KV = q.shape[1], k.shape[1]
    if KV != H:
        rep = H // KV
        B, _, T, D = k.shape
        k = k[:, :, None].expand(B, KV, rep, T, D).reshape(B, H, T, D)
        v = v[:, :, None].expand(B, KV, rep, T, D).reshape(B, H, T, D)
    if HAS_SDPA and scale == 1.0 / math.sqrt(q.shape[-1]):
        # PyTorch's fused kernels (flash, memory-efficient) scale by 1/√D.
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    T = q.shape[2]
    if mask is None:
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores.float(), dim=-1).to(v.dtype)
    return torch.matmul(probs, v)


class DecoderAttention(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        C, hd = cfg.hidden, cfg.head_dim
        self.heads, self.kv_heads, self.head_dim = cfg.heads, cfg.kv_heads, hd
        self.window = cfg.window(layer)
        self.q_proj = nn.Linear(C, cfg.heads * hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(C, cfg.kv_heads * hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(C, cfg.kv_heads * hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(cfg.heads * hd, C, bias=cfg.o_bias)

    def forward(self, x, cos, sin, masks):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        mask = masks.get(self.window)
        y = attention(q, k.to(q.dtype), v.to(q.dtype), mask, 1.0 / math.sqrt(self.head_dim))
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.heads * self.head_dim))


class DecoderMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, I = cfg.hidden, cfg.intermediate
        self.gate_proj = nn.Linear(C, I, bias=cfg.mlp_bias)
        self.up_proj = nn.Linear(C, I, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(I, C, bias=cfg.mlp_bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden, cfg.eps)
        self.self_attn = DecoderAttention(cfg, layer)
        self.post_attention_layernorm = RMSNorm(cfg.hidden, cfg.eps)
        self.mlp = DecoderMLP(cfg)

    def forward(self, x, cos, sin, masks):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, masks)
        return x + self.mlp(self.post_attention_layernorm(x))


class DecoderBody(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab, cfg.hidden)
        self.layers = nn.ModuleList([DecoderLayer(cfg, i) for i in range(cfg.layers)])
        self.norm = RMSNorm(cfg.hidden, cfg.eps)


class GPT2Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C = cfg.hidden
        self.heads, self.head_dim = cfg.heads, cfg.head_dim
        self.c_attn = Conv1D(C, 3 * C)
        self.c_proj = Conv1D(C, C)

    def forward(self, x, masks):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=-1)
        q, k, v = (t.view(B, T, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        y = attention(q, k, v, masks.get(0), 1.0 / math.sqrt(self.head_dim))
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class GPT2MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = Conv1D(cfg.hidden, cfg.intermediate)
        self.c_proj = Conv1D(cfg.intermediate, cfg.hidden)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPT2Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        self.attn = GPT2Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        self.mlp = GPT2MLP(cfg)

    def forward(self, x, masks):
        x = x + self.attn(self.ln_1(x), masks)
        return x + self.mlp(self.ln_2(x))


class GPT2Body(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab, cfg.hidden)
        self.wpe = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.h = nn.ModuleList([GPT2Block(cfg) for _ in range(cfg.layers)])
        self.ln_f = nn.LayerNorm(cfg.hidden, eps=cfg.eps)


def build_masks(cfg, T, docs, device):
    """The attention masks of a pass: None for plain causal attention (the
    fast path), else a boolean [B,1,T,T] per window size that also keeps
    packed documents apart. docs is None or a [B,T] tensor of document
    numbers."""
    windows = {0} if cfg.kind == "gpt2" else {cfg.window(l) for l in range(cfg.layers)}
    out = {}
    for w in windows:
        if docs is None and (w <= 0 or w >= T):
            out[w] = None
            continue
        i = torch.arange(T, device=device)
        allowed = i[None, :] <= i[:, None]
        if 0 < w < T:
            allowed = allowed & (i[:, None] - i[None, :] < w)
        allowed = allowed[None, None]
        if docs is not None:
            allowed = allowed & (docs[:, None, :, None] == docs[:, None, None, :])
        out[w] = allowed
    return out


class CausalLM(nn.Module):
    """A compact-family causal language model."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        if cfg.kind == "gpt2":
            self.transformer = GPT2Body(cfg)
        else:
            self.model = DecoderBody(cfg)
            if not cfg.tie:
                self.lm_head = nn.Linear(cfg.hidden, cfg.vocab, bias=False)
            freqs = torch.tensor(cfg.inv_freq(), dtype=torch.float64)
            self.register_buffer("inv_freq", freqs, persistent=False)
        self.checkpointing = False

    def lm_head_weight(self):
        if self.cfg.kind == "gpt2":
            return self.transformer.wte.weight
        return self.model.embed_tokens.weight if self.cfg.tie else self.lm_head.weight

    def blocks(self):
        return self.transformer.h if self.cfg.kind == "gpt2" else self.model.layers

    def forward(self, ids, positions=None, docs=None):
        """Returns the final hidden states [B,T,C] of ids [B,T]; positions
        [B,T] (default 0..T-1) and docs [B,T] (packed documents) are
        optional."""
        B, T = ids.shape
        dev = ids.device
        if positions is None:
            positions = torch.arange(T, device=dev)[None].expand(B, T)
        masks = build_masks(self.cfg, T, docs, dev)
        if self.cfg.kind == "gpt2":
            if int(positions.max()) >= self.cfg.max_positions:
                raise invalid("a sequence of %d tokens is longer than the model's %d positions" % (T, self.cfg.max_positions))
            x = self.transformer.wte(ids) + self.transformer.wpe(positions)
            for blk in self.transformer.h:
                x = checkpoint(blk, x, masks, use_reentrant=False) if self.checkpointing and self.training else blk(x, masks)
            return self.transformer.ln_f(x)
        ang = positions.to(torch.float64)[..., None] * self.inv_freq.to(dev)
        emb = torch.cat((ang, ang), dim=-1)
        cos = emb.cos().float()[:, None]
        sin = emb.sin().float()[:, None]
        x = self.model.embed_tokens(ids)
        for blk in self.model.layers:
            if self.checkpointing and self.training:
                x = checkpoint(blk, x, cos, sin, masks, use_reentrant=False)
            else:
                x = blk(x, cos, sin, masks)
        return self.model.norm(x)


def canonical_name(cfg, name):
    """Maps a checkpoint's tensor name to the module's, or None for a tensor
    to ignore (GPT-2's attention bias buffers, a tied head's copy)."""
    if cfg.kind == "gpt2":
        if not name.startswith("transformer."):
            name = "transformer." + name
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias") or name == "transformer.lm_head.weight":
            return None
        return name
    if name == "lm_head.weight" and cfg.tie:
        return None
    if name.startswith("model.layers.") and ".rotary_emb." in name:
        return None
    return name


def load_weights(model, model_dir, dtype=torch.float32):
    """Loads a model directory's safetensors weights into model, converting
    them to dtype. Every parameter must be present with its shape."""
    cfg = model.cfg
    weights = st.Dir(model_dir)
    params = dict(model.named_parameters())
    seen = set()
    for name in weights.names():
        n = canonical_name(cfg, name)
        if n is None:
            continue
        p = params.get(n)
        if p is None:
            raise invalid("%s: tensor %s does not belong to a %s model" % (model_dir, name, cfg.architecture))
        if list(weights.shape(name)) != list(p.shape):
            raise invalid("%s: tensor %s has shape %s, the config implies %s" % (model_dir, name, weights.shape(name), list(p.shape)))
        with torch.no_grad():
            p.data = weights.get(name).to(dtype)
        seen.add(n)
    missing = [n for n in params if n not in seen]
    if missing:
        raise invalid("%s: missing tensors: %s" % (model_dir, ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")))
    return model


def init_weights(model, seed=0, std=0.02):
    """Random initialization (normal(0, std) projections and embeddings,
    ones for norms, zero biases), for benchmarks and tests."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or ".ln_" in name or name.endswith("layernorm.weight"):
                if "bias" in name:
                    p.zero_()
                else:
                    p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def layout_names(cfg):
    """Tensor names in crucible's parameter order (ml/model's layout), which
    the weight-delta fingerprint projects in."""
    names = []
    if cfg.kind == "gpt2":
        names += ["transformer.wte.weight", "transformer.wpe.weight"]
        for i in range(cfg.layers):
            p = "transformer.h.%d." % i
            names += [p + s for s in ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                                       "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                                       "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")]
        return names + ["transformer.ln_f.weight", "transformer.ln_f.bias"]
    names.append("model.embed_tokens.weight")
    for i in range(cfg.layers):
        p = "model.layers.%d." % i
        names += [p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                  p + "self_attn.v_proj.weight"]
        if cfg.qkv_bias:
            names += [p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"]
        names.append(p + "self_attn.o_proj.weight")
        if cfg.o_bias:
            names.append(p + "self_attn.o_proj.bias")
        names += [p + "post_attention_layernorm.weight", p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight",
                  p + "mlp.down_proj.weight"]
        if cfg.mlp_bias:
            names += [p + "mlp.gate_proj.bias", p + "mlp.up_proj.bias", p + "mlp.down_proj.bias"]
    names.append("model.norm.weight")
    if not cfg.tie:
        names.append("lm_head.weight")
    return names
