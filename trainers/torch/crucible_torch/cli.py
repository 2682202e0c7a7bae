"""The command line: train (the miner contract), eval (the validator's
metric), bench (throughput and MFU) and info (what this Python offers).

Each command prints what crucible reads on stdout (eval and info: one JSON
object; train: CRUCIBLE_PROGRESS lines) and everything for people on stderr.
Exit statuses: 0 done, 2 bad input, 3 out of memory / CUDA / a missing
package, 4 no time left, 1 anything else; the last stderr line says why."""

import argparse
import json
import math
import os
import sys
import time
import traceback

from . import VERSION
from .errors import EXIT_CRASH, classify

EPILOG_TRAIN = """examples:
  # as a miner's trainer, every setting from the contract's environment:
  CRUCIBLE_MODEL_DIR=base CRUCIBLE_TOKENS=train.tokens.safetensors CRUCIBLE_OUT_DIR=out \\
    CRUCIBLE_TIME_LIMIT_SECONDS=600 python3 -m crucible_torch train
  # by hand:
  python3 -m crucible_torch train --model base --tokens train.tokens.safetensors --out out --time 5m --mode lora
  # on 8 GPUs of one machine:
  torchrun --standalone --nproc_per_node 8 -m crucible_torch train --model base --tokens t.safetensors --out out --time 2h
"""

EPILOG_EVAL = """examples:
  python3 -m crucible_torch eval --base base --tokens test.tokens.safetensors
  python3 -m crucible_torch eval --base base --model tuned --tokens test.tokens.safetensors --device cuda
"""

EPILOG_BENCH = """examples:
  python3 -m crucible_torch bench                          # every shipped shape, full and LoRA, on the GPU
  python3 -m crucible_torch bench --models llama-3.2-1b --modes full --steps 20 --seq-len 2048
  python3 -m crucible_torch bench --json
  python3 -m crucible_torch bench --models llama-30m --device cpu --steps 1 --seq-len 64   # a quick look on a CPU
"""


def _duration(s):
    """Seconds from "90", "90s", "5m", "2h"."""
    s = s.strip()
    mult = {"s": 1, "m": 60, "h": 3600}.get(s[-1:], None)
    try:
        return float(s[:-1]) * mult if mult else float(s)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a duration (e.g. 90s, 5m, 2h)" % s)


def _env(name, default=None):
    v = os.environ.get(name)
    return v if v not in (None, "") else default


def _finite(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def parser():
    p = argparse.ArgumentParser(prog="python3 -m crucible_torch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="crucible_torch " + VERSION)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    t = sub.add_parser("train", help="fine-tune a model on a token file (crucible's miner contract)",
                       description="Fine-tunes a model on a crucible token file and writes a Hugging Face directory (a "
                                   "full model or a PEFT adapter) before the time limit. Settings default to the miner "
                                   "contract's environment (CRUCIBLE_MODEL_DIR, CRUCIBLE_TOKENS, CRUCIBLE_OUT_DIR, "
                                   "CRUCIBLE_DEADLINE, CRUCIBLE_TIME_LIMIT_SECONDS).",
                       epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--model", default=_env("CRUCIBLE_MODEL_DIR"), help="base model directory (Hugging Face layout); default $CRUCIBLE_MODEL_DIR")
    t.add_argument("--tokens", default=_env("CRUCIBLE_TOKENS"), help="train split as a token file; default $CRUCIBLE_TOKENS")
    t.add_argument("--out", default=_env("CRUCIBLE_OUT_DIR"), help="output directory; default $CRUCIBLE_OUT_DIR")
    t.add_argument("--time", type=_duration, default=None,
                   help="time budget (90s, 5m, 2h); default $CRUCIBLE_TIME_LIMIT_SECONDS or until $CRUCIBLE_DEADLINE, else 10m")
    t.add_argument("--mode", choices=["auto", "full", "lora"], default="auto",
                   help="full fine-tuning or a LoRA adapter; auto: full when weights, gradients and AdamW state fit in "
                        "half the device's memory and the model has at most 3B parameters (default auto)")
    t.add_argument("--lr", type=float, default=0, help="peak learning rate; 0 chooses from the model size and mode (default 0)")
    t.add_argument("--epochs", type=float, default=3, help="most passes over the data (default 3)")
    t.add_argument("--max-steps", type=int, default=0, help="cap the optimizer steps; 0 sets no cap (default 0)")
    t.add_argument("--threads", type=int, default=0, help="CPU threads (default: PyTorch's)")
    t.add_argument("--seq-len", type=int, default=0, help="tokens per packed row; 0: the longest sequence, at most 2048 (default 0)")
    t.add_argument("--batch-tokens", type=int, default=0, help="tokens per optimizer step; 0: 16 rows' worth (default 0)")
    t.add_argument("--micro-tokens", type=int, default=0, help="tokens per forward pass; 0: chosen from memory (default 0)")
    t.add_argument("--lora-rank", type=int, default=16, help="LoRA rank (default 16)")
    t.add_argument("--lora-alpha", type=float, default=32, help="LoRA alpha (default 32)")
    t.add_argument("--lora-dropout", type=float, default=0.05, help="LoRA dropout (default 0.05; 0 for dpo)")
    t.add_argument("--beta", type=float, default=0.1, help="DPO temperature (default 0.1)")
    t.add_argument("--packing", choices=["auto", "on", "off"], default="auto",
                   help="pack several sequences per row, kept apart by the attention mask (auto: on with the compact engine)")
    t.add_argument("--checkpointing", choices=["auto", "on", "off"], default="auto",
                   help="gradient checkpointing (auto: when the activations would not fit)")
    t.add_argument("--engine", choices=["auto", "compact", "transformers"], default="auto",
                   help="transformers when importable, else the compact modules (default auto)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    t.add_argument("--fsdp", choices=["auto", "on", "off"], default="auto",
                   help="under torchrun: shard the model with FSDP (auto: when it does not fit one GPU with DDP)")
    t.add_argument("--save-dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                   help="dtype of a full model's saved weights (auto: float32 up to 1.5B parameters, else bfloat16)")
    t.add_argument("--seed", type=int, default=int(_env("CRUCIBLE_SEED", "1")), help="seed (default 1)")
    t.add_argument("--verbose", action="store_true", help="log every step on stderr")

    e = sub.add_parser("eval", help="the validator's metric on a token file",
                       description="Prints one JSON object: loss (token-weighted masked cross-entropy, or the DPO loss "
                                   "for pairs), tokens, samples, failure (a submission that is not a valid fine-tune), "
                                   "is_adapter, fingerprint, and the evaluator's identity.",
                       epilog=EPILOG_EVAL, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--base", required=True, help="the base model directory")
    e.add_argument("--model", default="", help="the submission (full model or PEFT adapter); empty evaluates the base")
    e.add_argument("--tokens", required=True, help="the test split as a token file, written for the base's tokenizer")
    e.add_argument("--beta", type=float, default=0.1, help="DPO temperature (default 0.1)")
    e.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    e.add_argument("--engine", choices=["auto", "compact", "transformers"], default="auto",
                   help="transformers when importable, else the compact modules (default auto)")
    e.add_argument("--max-tokens", type=int, default=0, help="tokens per evaluation batch; 0: 4096 on CPU, 32768 on GPU")
    e.add_argument("--threads", type=int, default=0, help="CPU threads (default: PyTorch's)")
    e.add_argument("--no-verify", action="store_true", help="skip the token file's checksum")

    b = sub.add_parser("bench", help="training and evaluation throughput, MFU and memory on random-init models",
                       description="Random-init models of the shipped shapes (configs/*.json), full fine-tuning and "
                                   "LoRA in bf16 on a GPU (float32 on a CPU): tokens/s, MFU against the card's dense "
                                   "bf16 peak, peak memory, and beside each a plain PyTorch loop with the same batch "
                                   "and sequence length.",
                       epilog=EPILOG_BENCH, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--models", default="", help="comma-separated shape names, or paths of config.json files or model "
                                                "directories (default: every shipped shape; on a CPU the ones that fit)")
    b.add_argument("--modes", default="full,lora,eval", help="comma-separated: full, lora, eval (default all three)")
    b.add_argument("--steps", type=int, default=0, help="timed steps per row (default 10 on a GPU, 2 on a CPU)")
    b.add_argument("--seq-len", type=int, default=0, help="sequence length (default 2048 on a GPU, 256 on a CPU)")
    b.add_argument("--batch", type=int, default=0, help="sequences per step (default 8 on a GPU, 1 on a CPU)")
    b.add_argument("--no-baseline", action="store_true", help="skip the plain PyTorch loop")
    b.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")
    b.add_argument("--json", action="store_true", help="print the rows as JSON")

    i = sub.add_parser("info", help="print what this Python offers crucible (JSON)")
    i.add_argument("--require-torch", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if not args.cmd:
        p.print_help()
        return 2
    try:
        if args.cmd == "info":
            from .device import info
            print(json.dumps(info()))
            return 0
        if args.cmd == "eval":
            return _eval(args)
        if args.cmd == "train":
            from .train import run
            return run(args)
        if args.cmd == "bench":
            from .bench import run
            return run(args)
    except KeyboardInterrupt:
        print("crucible_torch: interrupted", file=sys.stderr)
        return 130
    except BaseException as e:  # noqa: B902 - every failure ends with a classified last line
        status, msg = classify(e)
        if status == EXIT_CRASH:
            traceback.print_exc(file=sys.stderr)
        print("crucible_torch %s: %s" % (args.cmd, msg), file=sys.stderr)
        return status
    return 2


def _eval(args):
    import torch
    from . import device, evaluate
    device.deterministic()
    device.use_cores(args.threads)
    dev = device.pick(args.device)
    max_tokens = args.max_tokens or (32768 if dev.type == "cuda" else 4096)
    start = time.time()
    last = [0.0]

    def progress(done, total):
        if time.time() - last[0] > 5:
            last[0] = time.time()
            print("evaluated %d/%d sequences" % (done, total), file=sys.stderr, flush=True)

    from . import models
    engine = models.choose_engine(args.base, args.engine)
    res = evaluate.evaluate(args.base, args.tokens, args.model, args.beta, dev, engine, max_tokens, progress,
                            verify=not args.no_verify)
    res["evaluator"] = device.identity(dev, engine)
    res["seconds"] = round(time.time() - start, 3)
    if dev.type == "cuda":
        res["peak_memory"] = torch.cuda.max_memory_allocated(dev)
    print(json.dumps(_finite(res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
