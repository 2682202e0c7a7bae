#!/usr/bin/python3
"""Golden values for crucible's ml/model tests.

An independent reference: the Llama-family and GPT-2 decoders written from
their architecture definitions in plain PyTorch (float64), not Hugging Face
transformers. It writes tiny models in Hugging Face layout (config.json +
model.safetensors), a PEFT LoRA adapter, and the expected logits, losses and
gradients into ml/model/testdata/, which the Go tests load through Load().

Run from the repository root:  /usr/bin/python3 tools/goldens/model/make_goldens.py
Needs python3-torch (Debian). Tests never run this script.
"""
import json
import math
import os
import struct

import torch

OUT = os.path.join("ml", "model", "testdata")
torch.manual_seed(20261125)
D = torch.float64


# ---------------------------------------------------------------- safetensors

DT = {torch.float32: ("F32", "<f4"), torch.float16: ("F16", "<f2"), torch.bfloat16: ("BF16", None)}


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, tensor in its storage dtype)."""
    header, blobs, off = {}, [], 0
    for name, t in sorted(tensors, key=lambda x: x[0]):
        t = t.detach().contiguous().cpu()
        code, _ = DT[t.dtype]
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------- Llama family

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def llama_inv_freq(cfg):
    hd = cfg["head_dim"]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=D) / hd))
    rs = cfg.get("rope_scaling")
    if rs:
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        low_wave, high_wave = old / lo, old / hi
        out = []
        for f in inv.tolist():
            wave = 2 * math.pi / f
            if wave < high_wave:
                out.append(f)
            elif wave > low_wave:
                out.append(f / factor)
            else:
                s = (old / wave - lo) / (hi - lo)
                out.append((1 - s) * f / factor + s * f)
        inv = torch.tensor(out, dtype=D)
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def causal_attention(q, k, v):
    """q [B,H,T,hd], k/v [B,KV,T,hd]: grouped-query causal attention."""
    B, H, T, hd = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    s = s.masked_fill(mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def linear(x, w, b=None):
    y = x @ w.t()
    return y + b if b is not None else y


def lora_delta(x, P, module, lora):
    if lora is None or module not in lora["modules"]:
        return 0
    a = P["base_model.model." + module + ".lora_A.weight"]
    b = P["base_model.model." + module + ".lora_B.weight"]
    return (x @ a.t()) @ b.t() * lora["scale"]


def llama_forward(cfg, P, tokens, lora=None):
    B, T = tokens.shape
    C, H, KV, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    pos = torch.arange(T, dtype=D)
    freqs = pos[:, None] * llama_inv_freq(cfg)[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x = P["model.embed_tokens.weight"][tokens]

    def proj(name, inp):
        y = linear(inp, P[name + ".weight"], P.get(name + ".bias"))
        return y + lora_delta(inp, P, name, lora)

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, P[p + "input_layernorm.weight"], eps)
        q = proj(p + "self_attn.q_proj", h).view(B, T, H, hd).transpose(1, 2)
        k = proj(p + "self_attn.k_proj", h).view(B, T, KV, hd).transpose(1, 2)
        v = proj(p + "self_attn.v_proj", h).view(B, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + proj(p + "self_attn.o_proj", a)
        h = rms_norm(x, P[p + "post_attention_layernorm.weight"], eps)
        g = proj(p + "mlp.gate_proj", h)
        u = proj(p + "mlp.up_proj", h)
        x = x + proj(p + "mlp.down_proj", torch.nn.functional.silu(g) * u)
    x = rms_norm(x, P["model.norm.weight"], eps)
    head = P["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else P["lm_head.weight"]
    return x @ head.t()


# ---------------------------------------------------------------- GPT-2

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def gpt2_forward(cfg, P, tokens):
    B, T = tokens.shape
    C, H = cfg["n_embd"], cfg["n_head"]
    hd, eps = C // H, cfg["layer_norm_epsilon"]
    x = P["transformer.wte.weight"][tokens] + P["transformer.wpe.weight"][:T][None]
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        h = layer_norm(x, P[p + "ln_1.weight"], P[p + "ln_1.bias"], eps)
        qkv = h @ P[p + "attn.c_attn.weight"] + P[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
        q, k, v = qkv.split(C, dim=-1)
        q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, C)
        x = x + a @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"]
        h = layer_norm(x, P[p + "ln_2.weight"], P[p + "ln_2.bias"], eps)
        h = gelu_new(h @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"])
        x = x + h @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"]
    x = layer_norm(x, P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], eps)
    return x @ P["transformer.wte.weight"].t()


# ---------------------------------------------------------------- helpers

def masked_ce(logits, labels):
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100, reduction="mean")


def rand_params(shapes, std=0.2):
    P = {}
    for name, shape in shapes:
        if len(shape) == 1 and ("norm" in name or "ln_" in name) and name.endswith("weight"):
            P[name] = (1 + 0.1 * torch.randn(shape, dtype=D))
        elif len(shape) == 1:
            P[name] = 0.1 * torch.randn(shape, dtype=D)
        else:
            P[name] = std * torch.randn(shape, dtype=D)
    return P


def batch(B, T, V):
    tokens = torch.randint(0, V, (B, T))
    labels = torch.randint(0, V, (B, T))
    labels[0, :2] = -100  # prompt positions are not scored
    labels[1, -1] = -100
    return tokens, labels


def save_golden(path, tokens, labels, logits, loss, grads):
    t = [("tokens", tokens.to(torch.float32)), ("labels", labels.to(torch.float32)),
         ("logits", logits.detach().to(torch.float32).reshape(-1, logits.shape[-1])),
         ("loss", loss.detach().to(torch.float32).reshape(1))]
    for name, g in grads.items():
        t.append(("grad." + name, g.detach().to(torch.float32)))
    write_safetensors(path, t)


# ---------------------------------------------------------------- cases

def llama_case():
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
        "vocab_size": 64, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "attention_bias": True, "mlp_bias": False,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
        "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    C, I, H, KV, hd, V = 32, 48, 4, 2, 8, 64
    shapes = [("model.embed_tokens.weight", (V, C))]
    for i in range(2):
        p = f"model.layers.{i}."
        shapes += [(p + "input_layernorm.weight", (C,)),
                   (p + "self_attn.q_proj.weight", (H * hd, C)), (p + "self_attn.q_proj.bias", (H * hd,)),
                   (p + "self_attn.k_proj.weight", (KV * hd, C)), (p + "self_attn.k_proj.bias", (KV * hd,)),
                   (p + "self_attn.v_proj.weight", (KV * hd, C)), (p + "self_attn.v_proj.bias", (KV * hd,)),
                   (p + "self_attn.o_proj.weight", (C, H * hd)), (p + "self_attn.o_proj.bias", (C,)),
                   (p + "post_attention_layernorm.weight", (C,)),
                   (p + "mlp.gate_proj.weight", (I, C)), (p + "mlp.up_proj.weight", (I, C)),
                   (p + "mlp.down_proj.weight", (C, I))]
    shapes.append(("model.norm.weight", (C,)))
    P = rand_params(shapes)
    # Stored as BF16: the reference computes with exactly the stored values.
    P = {k: v.to(torch.bfloat16).to(D) for k, v in P.items()}
    d = os.path.join(OUT, "llama_tiny")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), cfg)
    write_safetensors(os.path.join(d, "model.safetensors"), [(k, v.to(torch.bfloat16)) for k, v in P.items()], {"format": "pt"})

    tokens, labels = batch(2, 12, V)
    for v in P.values():
        v.requires_grad_(True)
    logits = llama_forward(cfg, P, tokens)
    loss = masked_ce(logits, labels)
    loss.backward()
    save_golden(os.path.join(OUT, "llama_tiny_golden.safetensors"), tokens, labels, logits, loss,
                {k: v.grad for k, v in P.items()})

    # LoRA on the same base: A and B both random so that every gradient is non-trivial.
    for v in P.values():
        v.requires_grad_(False)
    r, alpha = 4, 8.0
    targets = ["q_proj", "k_proj", "o_proj", "gate_proj", "down_proj"]
    L = {}
    for name, shape in shapes:
        mod = name[: -len(".weight")]
        if name.endswith(".weight") and mod.split(".")[-1] in targets:
            out, inp = shape
            L["base_model.model." + mod + ".lora_A.weight"] = 0.3 * torch.randn(r, inp, dtype=D)
            L["base_model.model." + mod + ".lora_B.weight"] = 0.3 * torch.randn(out, r, dtype=D)
    ad = os.path.join(OUT, "llama_tiny_lora")
    os.makedirs(ad, exist_ok=True)
    write_json(os.path.join(ad, "adapter_config.json"), {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
        "target_modules": targets, "base_model_name_or_path": "llama_tiny", "fan_in_fan_out": False,
        "bias": "none", "inference_mode": True})
    write_safetensors(os.path.join(ad, "adapter_model.safetensors"), [(k, v.to(torch.float32)) for k, v in L.items()], {"format": "pt"})
    L = {k: v.to(torch.float32).to(D).requires_grad_(True) for k, v in L.items()}
    PL = dict(P)
    PL.update(L)
    mods = {k[len("base_model.model."):-len(".lora_A.weight")] for k in L if k.endswith("lora_A.weight")}
    logits = llama_forward(cfg, PL, tokens, {"modules": mods, "scale": alpha / r})
    loss = masked_ce(logits, labels)
    loss.backward()
    save_golden(os.path.join(OUT, "llama_tiny_lora_golden.safetensors"), tokens, labels, logits, loss,
                {k: v.grad for k, v in L.items()})


def gpt2_case():
    cfg = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4,
        "n_positions": 16, "n_ctx": 16, "n_inner": None, "vocab_size": 64, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new", "bos_token_id": 63, "eos_token_id": 63, "tie_word_embeddings": True,
    }
    C, V, Pn = 32, 64, 16
    shapes = [("transformer.wte.weight", (V, C)), ("transformer.wpe.weight", (Pn, C))]
    for i in range(2):
        p = f"transformer.h.{i}."
        shapes += [(p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)),
                   (p + "attn.c_attn.weight", (C, 3 * C)), (p + "attn.c_attn.bias", (3 * C,)),
                   (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
                   (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)),
                   (p + "mlp.c_fc.weight", (C, 4 * C)), (p + "mlp.c_fc.bias", (4 * C,)),
                   (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,))]
    shapes += [("transformer.ln_f.weight", (C,)), ("transformer.ln_f.bias", (C,))]
    P = rand_params(shapes)
    # Stored as F16 without the "transformer." prefix and with the causal-mask
    # buffers, like the original OpenAI checkpoints.
    P = {k: v.to(torch.float16).to(D) for k, v in P.items()}
    stored = [(k[len("transformer."):], v.to(torch.float16)) for k, v in P.items()]
    for i in range(2):
        stored.append((f"h.{i}.attn.bias", torch.tril(torch.ones(Pn, Pn, dtype=torch.float16)).view(1, 1, Pn, Pn)))
    d = os.path.join(OUT, "gpt2_tiny")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), cfg)
    write_safetensors(os.path.join(d, "model.safetensors"), stored, {"format": "pt"})

    tokens, labels = batch(2, 11, V)
    for v in P.values():
        v.requires_grad_(True)
    logits = gpt2_forward(cfg, P, tokens)
    loss = masked_ce(logits, labels)
    loss.backward()
    save_golden(os.path.join(OUT, "gpt2_tiny_golden.safetensors"), tokens, labels, logits, loss,
                {k: v.grad for k, v in P.items()})


if __name__ == "__main__":
    llama_case()
    gpt2_case()
    print("wrote goldens to", OUT)
