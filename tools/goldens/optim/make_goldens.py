"""Writes ml/optim/testdata/adamw.json and clip.json with PyTorch.

adamw.json: for each case, the initial params, the gradient and learning rate
of every step, and the params (and optimizer moments) after every step of
torch.optim.AdamW (single-tensor implementation, foreach=False). Params named
with "bias" are in a group with weight_decay=0, like crucible's NoDecay.
clip.json: gradients, max_norm, the norm torch.nn.utils.clip_grad_norm_
returns and the clipped gradients.

Floats are float32 values written as JSON numbers (Python reprs of the exact
double value), so Go reads them back bit for bit.

Run from the repository root: /usr/bin/python3 tools/goldens/optim/make_goldens.py
"""
import json

import torch

OUT = "ml/optim/testdata"


def flat(t):
    return t.detach().flatten().tolist()


def adamw_case(name, betas, eps, wd, lrs, seed):
    g = torch.Generator().manual_seed(seed)
    shapes = {"w": (4, 5), "bias": (5,), "emb": (3, 7)}
    params = {n: torch.nn.Parameter(torch.randn(*s, generator=g)) for n, s in shapes.items()}
    decay = [params["w"], params["emb"]]
    no_decay = [params["bias"]]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lrs[0], betas=betas, eps=eps, weight_decay=wd, foreach=False)
    case = {"name": name, "beta1": betas[0], "beta2": betas[1], "eps": eps, "weight_decay": wd,
            "shapes": {n: list(s) for n, s in shapes.items()},
            "init": {n: flat(p) for n, p in params.items()}, "steps": []}
    for i, lr in enumerate(lrs):
        grads = {}
        for n, p in params.items():
            # Mixed magnitudes, some exact zeros.
            gr = torch.randn(*p.shape, generator=g) * (10.0 ** (i % 4 - 2))
            gr[torch.rand(*p.shape, generator=g) < 0.1] = 0.0
            p.grad = gr
            grads[n] = flat(gr)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        case["steps"].append({
            "lr": lr, "grads": grads,
            "params": {n: flat(p) for n, p in params.items()},
            "exp_avg": {n: flat(opt.state[p]["exp_avg"]) for n, p in params.items()},
            "exp_avg_sq": {n: flat(opt.state[p]["exp_avg_sq"]) for n, p in params.items()},
        })
    return case


def clip_case(name, max_norm, scale, seed, sizes):
    g = torch.Generator().manual_seed(seed)
    ps = [torch.nn.Parameter(torch.zeros(n)) for n in sizes]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g) * scale
    grads = [flat(p.grad) for p in ps]
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    return {"name": name, "max_norm": max_norm, "grads": grads, "norm": float(norm),
            "clipped": [flat(p.grad) for p in ps]}


def main():
    lrs = [1e-3, 2e-3, 5e-3, 1e-2, 1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 1e-4, 3e-2, 1e-3]
    cases = [
        adamw_case("default", (0.9, 0.999), 1e-8, 0.01, lrs, 1),
        adamw_case("fast-decay", (0.8, 0.95), 1e-6, 0.1, lrs[:8], 2),
    ]
    with open(OUT + "/adamw.json", "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
    clips = [clip_case("clipped", 1.0, 1.0, 3, (7, 33, 4200)), clip_case("unclipped", 1000.0, 0.1, 4, (5, 9))]
    with open(OUT + "/clip.json", "w") as f:
        json.dump({"torch": torch.__version__, "cases": clips}, f)


if __name__ == "__main__":
    main()
