#!/usr/bin/python3
"""Golden values for the model families of crucible's ml/model beyond Llama
and GPT-2: Qwen3, Qwen3-MoE, Mixtral, Mistral (sliding window), Gemma 2,
Gemma 3, Phi-3 / Phi-4-mini and SmolLM3.

An independent reference written from each family's published architecture
(the transformers modeling files were read for the math, nothing is imported
from them): plain PyTorch in float64, driven by the same config.json the Go
code reads, so that the key handling (layer types, window patterns, rope
parameters, dense layers of a mixture) is re-derived here too. For each case
it writes a tiny random model in Hugging Face layout, a batch with its
logits, loss and gradients, and a greedy continuation computed by full
recomputation at every step (no cache), into ml/model/testdata/families/.

Run from the repository root:  /usr/bin/python3 tools/goldens/model/families.py
Needs python3-torch (Debian). Tests never run this script.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import write_json, write_safetensors, masked_ce

OUT = os.path.join("ml", "model", "testdata", "families")
D = torch.float64
F = torch.nn.functional


# ---------------------------------------------------------------- pieces

def rms(x, w, eps, plus_one):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * (1 + w) if plus_one else y * w


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def f32(x):
    """Round a Python float to float32, as transformers' tables are."""
    return float(torch.tensor(x, dtype=torch.float32))


def inv_freq(theta, dim, scaling, seq_len, max_pos):
    """Inverse frequencies and the cos/sin factor of a rope config (the
    math of transformers' default, linear, llama3, longrope and yarn)."""
    i = torch.arange(0, dim, 2, dtype=torch.float32)
    base = torch.tensor(theta, dtype=torch.float32) ** (i / dim)  # float32, as the reference
    inv = (1.0 / base).to(D)
    if not scaling:
        return inv, 1.0
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return inv / scaling["factor"], 1.0
    if kind == "longrope":
        orig = scaling.get("original_max_position_embeddings")
        factor = scaling.get("factor") or max_pos / orig
        af = scaling.get("attention_factor")
        if af is None:
            af = 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(orig))
        ext = scaling["long_factor"] if seq_len > orig else scaling["short_factor"]
        ext = torch.tensor(ext, dtype=torch.float32).to(D)
        return 1.0 / (ext * base.to(D)), af
    if kind == "yarn":
        factor, orig = scaling["factor"], scaling["original_max_position_embeddings"]
        af = scaling.get("attention_factor") or (0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0)
        fast, slow = scaling.get("beta_fast", 32), scaling.get("beta_slow", 1)
        cdim = lambda rot: dim * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(theta))
        lo, hi = max(math.floor(cdim(fast)), 0), min(math.ceil(cdim(slow)), dim - 1)
        if lo == hi:
            hi += 0.001
        ramp = ((torch.arange(dim // 2, dtype=D) - lo) / (hi - lo)).clamp(0, 1)
        extra = 1 - ramp
        interp = 1.0 / (factor * base.to(D))
        return interp * (1 - extra) + (1.0 / base.to(D)) * extra, af
    if kind == "llama3":
        raise ValueError("llama3 scaling is covered by make_goldens.py")
    raise ValueError(kind)


def rope(x, pos, inv, af, rot):
    """Rotate the first rot dims of each head of x [B, H, T, hd] (rotate-half)."""
    fr = pos[:, None].to(D) * inv[None, :]
    emb = torch.cat([fr, fr], -1)
    cos, sin = emb.cos() * af, emb.sin() * af
    xr, xp = x[..., :rot], x[..., rot:]
    h = rot // 2
    rh = torch.cat([-xr[..., h:], xr[..., :h]], -1)
    return torch.cat([xr * cos + rh * sin, xp], -1)


def attention(q, k, v, scale, window, cap):
    B, H, T, hd = q.shape
    rep = H // k.shape[1]
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    s = q @ k.transpose(-1, -2) * scale
    if cap:
        s = cap * torch.tanh(s / cap)
    qi, ki = torch.arange(T)[:, None], torch.arange(T)[None, :]
    allowed = ki <= qi
    if window:
        allowed = allowed & (ki > qi - window)
    s = s.masked_fill(~allowed, float("-inf"))
    return torch.softmax(s, -1) @ v


# ---------------------------------------------------------------- the model

class Spec:
    """What a config.json says about the computation, read independently."""

    def __init__(self, cfg):
        a = cfg["architectures"][0]
        self.arch = a
        L = cfg["num_hidden_layers"]
        self.C, self.L, self.V = cfg["hidden_size"], L, cfg["vocab_size"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg.get("num_key_value_heads", self.H)
        self.hd = cfg.get("head_dim") or self.C // self.H
        self.I = cfg["intermediate_size"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.gemma = a.startswith("Gemma")
        self.tie = cfg.get("tie_word_embeddings", self.gemma or a == "SmolLM3ForCausalLM")
        self.qk_norm = a in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "Gemma3ForCausalLM")
        self.fused = a == "Phi3ForCausalLM"
        self.bias = cfg.get("attention_bias", False) and not self.fused
        self.qkv_bias = self.bias or a == "Qwen2ForCausalLM"  # Qwen2: q, k and v only
        self.max_pos = cfg["max_position_embeddings"]
        self.theta = cfg.get("rope_theta", 10000.0)
        self.scaling = cfg.get("rope_scaling")
        self.rot = int(self.hd * cfg.get("partial_rotary_factor", 1.0))
        if self.scaling and "original_max_position_embeddings" not in self.scaling and "original_max_position_embeddings" in cfg:
            self.scaling = dict(self.scaling, original_max_position_embeddings=cfg["original_max_position_embeddings"])
        self.scale = self.hd ** -0.5
        self.attn_cap = self.final_cap = None
        # Per-layer: window (None = full), rope (theta, scaling) or None.
        win = [None] * L
        ropes = [(self.theta, self.scaling)] * L
        sw = cfg.get("sliding_window")
        if a in ("MistralForCausalLM", "MixtralForCausalLM", "Phi3ForCausalLM"):
            win = [sw] * L
        elif a in ("Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM"):
            if cfg.get("use_sliding_window") and sw:
                win = [sw if i >= cfg.get("max_window_layers", L) else None for i in range(L)]
        elif self.gemma:
            self.scale = cfg["query_pre_attn_scalar"] ** -0.5
            self.attn_cap = cfg.get("attn_logit_softcapping")
            self.final_cap = cfg.get("final_logit_softcapping")
            if a == "Gemma2ForCausalLM":
                sliding = [i % 2 == 0 for i in range(L)]
            else:
                p = cfg.get("sliding_window_pattern", 6)
                sliding = [(i + 1) % p != 0 for i in range(L)]
                local = (cfg.get("rope_local_base_freq", 10000.0), None)
                ropes = [local if s else ropes[i] for i, s in enumerate(sliding)]
            win = [sw if s else None for s in sliding]
        elif a == "SmolLM3ForCausalLM":
            use = cfg["no_rope_layers"]
            ropes = [ropes[i] if use[i] else None for i in range(L)]
        self.win, self.ropes = win, ropes
        # Mixture of experts: per layer None (dense) or (E, k, width, renormalize).
        self.moe = [None] * L
        self.aux = None
        if a == "MixtralForCausalLM":
            self.moe = [(cfg["num_local_experts"], cfg["num_experts_per_tok"], self.I, True)] * L
            self.names = ("block_sparse_moe.", "gate", "w1", "w3", "w2")
        elif a == "Qwen3MoeForCausalLM":
            dense = set(cfg.get("mlp_only_layers", []))
            step = cfg.get("decoder_sparse_step", 1)
            self.moe = [None if i in dense or (i + 1) % step else
                        (cfg["num_experts"], cfg["num_experts_per_tok"], cfg["moe_intermediate_size"], cfg["norm_topk_prob"])
                        for i in range(L)]
            self.names = ("mlp.", "gate", "gate_proj", "up_proj", "down_proj")
        if cfg.get("output_router_logits"):
            self.aux = cfg["router_aux_loss_coef"]

    def shapes(self):
        C, H, KV, hd, I = self.C, self.H, self.KV, self.hd, self.I
        out = [("model.embed_tokens.weight", (self.V, C))]
        for i in range(self.L):
            p = f"model.layers.{i}."
            out.append((p + "input_layernorm.weight", (C,)))
            if self.fused:
                out.append((p + "self_attn.qkv_proj.weight", ((H + 2 * KV) * hd, C)))
            else:
                for n, o in (("q", H), ("k", KV), ("v", KV)):
                    out.append((p + f"self_attn.{n}_proj.weight", (o * hd, C)))
                    if self.qkv_bias:
                        out.append((p + f"self_attn.{n}_proj.bias", (o * hd,)))
            if self.qk_norm:
                out += [(p + "self_attn.q_norm.weight", (hd,)), (p + "self_attn.k_norm.weight", (hd,))]
            out.append((p + "self_attn.o_proj.weight", (C, H * hd)))
            if self.bias:
                out.append((p + "self_attn.o_proj.bias", (C,)))
            out.append((p + "post_attention_layernorm.weight", (C,)))
            if self.gemma:
                out += [(p + "pre_feedforward_layernorm.weight", (C,)), (p + "post_feedforward_layernorm.weight", (C,))]
            if self.moe[i]:
                E, k, mI, _ = self.moe[i]
                mp, rt, g, u, dn = self.names
                out.append((p + mp + rt + ".weight", (E, C)))
                for e in range(E):
                    ep = p + mp + f"experts.{e}."
                    out += [(ep + g + ".weight", (mI, C)), (ep + u + ".weight", (mI, C)), (ep + dn + ".weight", (C, mI))]
            elif self.fused:
                out += [(p + "mlp.gate_up_proj.weight", (2 * I, C)), (p + "mlp.down_proj.weight", (C, I))]
            else:
                out += [(p + "mlp.gate_proj.weight", (I, C)), (p + "mlp.up_proj.weight", (I, C)), (p + "mlp.down_proj.weight", (C, I))]
        out.append(("model.norm.weight", (C,)))
        if not self.tie:
            out.append(("lm_head.weight", (self.V, C)))
        return out


def lora_delta(x, P, module, lora):
    if lora is None or module not in lora["modules"]:
        return 0
    a = P["base_model.model." + module + ".lora_A.weight"]
    b = P["base_model.model." + module + ".lora_B.weight"]
    return (x @ a.t()) @ b.t() * lora["scale"]


def forward(s, P, tokens, lora=None):
    """Logits [B, T, V] and the router load-balancing loss (or None)."""
    B, T = tokens.shape
    C, H, KV, hd = s.C, s.H, s.KV, s.hd
    pos = torch.arange(T)

    def lin(name, x):
        y = x @ P[name + ".weight"].t()
        if name + ".bias" in P:
            y = y + P[name + ".bias"]
        return y + lora_delta(x, P, name, lora)

    def act(g, u):
        return (gelu_tanh(g) if s.gemma else F.silu(g)) * u

    def norm(name, x):
        return rms(x, P[name + ".weight"], s.eps, s.gemma)

    x = P["model.embed_tokens.weight"][tokens]
    if s.gemma:
        x = x * f32(math.sqrt(C))
    router_probs, router_sel = [], []
    for i in range(s.L):
        p = f"model.layers.{i}."
        h = norm(p + "input_layernorm", x)
        if s.fused:
            qkv = lin(p + "self_attn.qkv_proj", h)
            q, k, v = qkv.split([H * hd, KV * hd, KV * hd], -1)
        else:
            q, k, v = lin(p + "self_attn.q_proj", h), lin(p + "self_attn.k_proj", h), lin(p + "self_attn.v_proj", h)
        q = q.view(B, T, H, hd)
        k = k.view(B, T, KV, hd)
        if s.qk_norm:
            q, k = norm(p + "self_attn.q_norm", q), norm(p + "self_attn.k_norm", k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = v.view(B, T, KV, hd).transpose(1, 2)
        if s.ropes[i] is not None:
            theta, sc = s.ropes[i]
            inv, af = inv_freq(theta, s.rot, sc, T, s.max_pos)
            q, k = rope(q, pos, inv, af, s.rot), rope(k, pos, inv, af, s.rot)
        a = attention(q, k, v, s.scale, s.win[i], s.attn_cap).transpose(1, 2).reshape(B, T, H * hd)
        a = lin(p + "self_attn.o_proj", a)
        if s.gemma:
            x = x + norm(p + "post_attention_layernorm", a)
            h = norm(p + "pre_feedforward_layernorm", x)
        else:
            x = x + a
            h = norm(p + "post_attention_layernorm", x)
        if s.moe[i]:
            E, k_, mI, renorm = s.moe[i]
            mp, rt, g, u, dn = s.names
            hf = h.reshape(B * T, C)
            logits = hf @ P[p + mp + rt + ".weight"].t()
            probs = torch.softmax(logits, -1)
            w, sel = torch.topk(probs, k_, -1)
            if renorm:
                w = w / w.sum(-1, keepdim=True)
            router_probs.append(probs)
            router_sel.append(sel)
            y = torch.zeros_like(hf)
            for e in range(E):
                ep = p + mp + f"experts.{e}."
                tok, slot = torch.where(sel == e)
                if len(tok) == 0:
                    continue
                xe = hf[tok]
                ye = lin(ep + dn, act(lin(ep + g, xe), lin(ep + u, xe)))
                y = y.index_add(0, tok, ye * w[tok, slot][:, None])
            m = y.view(B, T, C)
        elif s.fused:
            gu = lin(p + "mlp.gate_up_proj", h)
            gg, uu = gu.chunk(2, -1)
            m = lin(p + "mlp.down_proj", act(gg, uu))
        else:
            m = lin(p + "mlp.down_proj", act(lin(p + "mlp.gate_proj", h), lin(p + "mlp.up_proj", h)))
        x = x + (norm(p + "post_feedforward_layernorm", m) if s.gemma else m)
    x = norm("model.norm", x)
    head = P["model.embed_tokens.weight"] if s.tie else P["lm_head.weight"]
    logits = x @ head.t()
    if s.final_cap:
        logits = s.final_cap * torch.tanh(logits / s.final_cap)
    aux = None
    if router_probs:
        # load_balancing_loss_func over every sparse layer, no padding.
        probs, sel = torch.cat(router_probs), torch.cat(router_sel)
        E = probs.shape[-1]
        mask = F.one_hot(sel, E).to(D)                    # [rows, k, E]
        tokens_per_expert = mask.mean(0)                   # [k, E]
        prob_per_expert = probs.mean(0)                    # [E]
        aux = (tokens_per_expert * prob_per_expert[None]).sum() * E
    return logits, aux


# ---------------------------------------------------------------- cases

def rand_params(s, gen):
    P = {}
    for name, shape in s.shapes():
        if len(shape) == 1 and "norm" in name:
            P[name] = 0.1 * torch.randn(shape, dtype=D, generator=gen) + (0 if s.gemma else 1)
        elif len(shape) == 1:
            P[name] = 0.1 * torch.randn(shape, dtype=D, generator=gen)
        else:
            P[name] = 0.25 * torch.randn(shape, dtype=D, generator=gen)
    return P


def grad(v):
    """A parameter's gradient (zero for an expert no token was routed to)."""
    g = v.grad if v.grad is not None else torch.zeros_like(v)
    return g.detach().to(torch.float32)


def write_case(name, cfg, gen, B=2, T=12, dtype=torch.float32, lora=None, gen_steps=8):
    s = Spec(cfg)
    P = {k: v.to(dtype).to(D) for k, v in rand_params(s, gen).items()}
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), cfg)
    write_safetensors(os.path.join(d, "model.safetensors"), [(k, v.to(dtype)) for k, v in P.items()], {"format": "pt"})

    tokens = torch.randint(0, s.V, (B, T), generator=gen)
    labels = torch.randint(0, s.V, (B, T), generator=gen)
    labels[0, :2] = -100
    labels[1, -1] = -100
    golden = [("tokens", tokens.to(torch.float32)), ("labels", labels.to(torch.float32))]

    def run(params, lo, tag):
        logits, aux = forward(s, params, tokens, lo)
        loss = masked_ce(logits, labels)
        total = loss + (s.aux * aux if s.aux is not None and aux is not None else 0)
        total.backward()
        out = [(tag + "logits", logits.detach().to(torch.float32).reshape(-1, s.V)),
               (tag + "loss", loss.detach().to(torch.float32).reshape(1))]
        if aux is not None:
            out.append((tag + "aux", aux.detach().to(torch.float32).reshape(1)))
        return out

    for v in P.values():
        v.requires_grad_(True)
    golden += run(P, None, "")
    golden += [("grad." + k, grad(v)) for k, v in P.items()]
    for v in P.values():
        v.requires_grad_(False)

    # Greedy continuation of row 0's first five tokens, recomputing every
    # position at each step (what a KV cache must reproduce).
    seq = tokens[0, :5].tolist()
    with torch.no_grad():
        for _ in range(gen_steps):
            lg, _ = forward(s, P, torch.tensor([seq]))
            seq.append(int(lg[0, -1].argmax()))
    golden.append(("generated", torch.tensor(seq[5:], dtype=torch.float32)))

    if lora:
        r, alpha, targets = lora
        L = {}
        for pname, shape in s.shapes():
            mod = pname[: -len(".weight")]
            if pname.endswith(".weight") and len(shape) == 2 and mod.split(".")[-1] in targets:
                out, inp = shape
                L["base_model.model." + mod + ".lora_A.weight"] = 0.3 * torch.randn(r, inp, dtype=D, generator=gen)
                L["base_model.model." + mod + ".lora_B.weight"] = 0.3 * torch.randn(out, r, dtype=D, generator=gen)
        ad = os.path.join(OUT, name + "_lora")
        os.makedirs(ad, exist_ok=True)
        write_json(os.path.join(ad, "adapter_config.json"), {
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
            "target_modules": targets, "base_model_name_or_path": name, "fan_in_fan_out": False,
            "bias": "none", "inference_mode": True})
        write_safetensors(os.path.join(ad, "adapter_model.safetensors"), [(k, v.to(torch.float32)) for k, v in L.items()], {"format": "pt"})
        L = {k: v.to(torch.float32).to(D).requires_grad_(True) for k, v in L.items()}
        PL = dict(P)
        PL.update(L)
        mods = {k[len("base_model.model."):-len(".lora_A.weight")] for k in L if k.endswith("lora_A.weight")}
        golden += run(PL, {"modules": mods, "scale": alpha / r}, "lora.")
        golden += [("lora.grad." + k, grad(v)) for k, v in L.items()]
    write_safetensors(os.path.join(OUT, name + "_golden.safetensors"), golden)
    print(f"{name}: {sum(v.numel() for v in P.values())} parameters")


def base(arch, mtype, **kw):
    cfg = {"architectures": [arch], "model_type": mtype, "hidden_size": 24, "intermediate_size": 40,
           "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
           "vocab_size": 61, "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
           "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
    cfg.update(kw)
    return cfg


def main():
    gen = torch.Generator().manual_seed(20261207)
    write_case("qwen3", base("Qwen3ForCausalLM", "qwen3", tie_word_embeddings=True, attention_bias=False, max_position_embeddings=32,
                             use_sliding_window=True, sliding_window=5, max_window_layers=1,
                             rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8}),
               gen, lora=(4, 8.0, ["q_proj", "v_proj", "o_proj", "down_proj"]))
    write_case("mistral", base("MistralForCausalLM", "mistral", sliding_window=4, tie_word_embeddings=False), gen)
    write_case("gemma2", base("Gemma2ForCausalLM", "gemma2", hidden_act="gelu_pytorch_tanh",
                              hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=12,
                              attn_logit_softcapping=3.0, final_logit_softcapping=5.0, sliding_window=4,
                              tie_word_embeddings=True), gen, dtype=torch.bfloat16)
    write_case("gemma3", base("Gemma3ForCausalLM", "gemma3_text", hidden_activation="gelu_pytorch_tanh",
                              query_pre_attn_scalar=6, sliding_window=3, sliding_window_pattern=2,
                              rope_theta=100000.0, rope_local_base_freq=100.0, attn_logit_softcapping=None,
                              final_logit_softcapping=None, rope_scaling={"rope_type": "linear", "factor": 2.0},
                              tie_word_embeddings=True), gen, lora=(3, 6.0, ["q_proj", "k_proj", "gate_proj", "up_proj"]))
    longrope = {"type": "longrope", "short_factor": [1.0, 1.5, 2.0], "long_factor": [1.2, 3.0, 7.5]}
    write_case("phi3", base("Phi3ForCausalLM", "phi3", max_position_embeddings=32, original_max_position_embeddings=8,
                            partial_rotary_factor=0.75, rope_scaling=longrope, sliding_window=6,
                            tie_word_embeddings=False, resid_pdrop=0.0, embd_pdrop=0.0, attention_dropout=0.0),
               gen, lora=(4, 4.0, ["qkv_proj", "gate_up_proj", "down_proj"]))
    # The same model within the pretraining context uses the short factors.
    write_case("phi3_short", base("Phi3ForCausalLM", "phi3", max_position_embeddings=32, original_max_position_embeddings=8,
                                  partial_rotary_factor=0.75, rope_scaling=longrope, tie_word_embeddings=True),
               gen, T=7, gen_steps=3)
    write_case("smollm3", base("SmolLM3ForCausalLM", "smollm3", no_rope_layers=[1, 0, 1], tie_word_embeddings=True,
                               attention_bias=False, mlp_bias=False, use_sliding_window=False, rope_theta=50000.0), gen)
    write_case("qwen3moe", base("Qwen3MoeForCausalLM", "qwen3_moe", num_experts=4, num_experts_per_tok=2,
                                moe_intermediate_size=12, norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[1],
                                output_router_logits=True, router_aux_loss_coef=0.25, tie_word_embeddings=False),
               gen, lora=(3, 6.0, ["q_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    write_case("mixtral", base("MixtralForCausalLM", "mixtral", num_local_experts=3, num_experts_per_tok=2,
                               intermediate_size=16, output_router_logits=False, router_aux_loss_coef=0.02,
                               sliding_window=None, tie_word_embeddings=False), gen)
    write_case("qwen2", base("Qwen2ForCausalLM", "qwen2", use_sliding_window=True, sliding_window=4, max_window_layers=2,
                             tie_word_embeddings=True, rope_theta=1000000.0), gen, lora=(2, 4.0, ["k_proj", "v_proj", "up_proj"]))
    print("wrote goldens to", OUT)


if __name__ == "__main__":
    main()
