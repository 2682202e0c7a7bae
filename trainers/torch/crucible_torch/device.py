"""Devices, precisions and what a machine offers."""

import os
import platform

import torch

from . import VERSION

# Dense bf16 peak (TFLOP/s, without sparsity) of common cards, by a substring
# of torch.cuda.get_device_name, for MFU. Figures from the vendors' data sheets.
PEAK_BF16_TFLOPS = [
    ("H200", 989.0), ("H100 SXM", 989.0), ("H100 80GB HBM3", 989.0), ("H100 NVL", 835.0), ("H100 PCIe", 756.0),
    ("H100", 756.0), ("GH200", 989.0), ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0),
    ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.2), ("RTX 6000 Ada", 364.0),
    ("A6000", 154.8), ("RTX 3090", 71.0), ("V100", 0.0), ("T4", 0.0),
]


def use_cores(threads=0):
    """Sets PyTorch's CPU threads: threads when given, else every core this
    process may run on (some builds start with one), unless OMP_NUM_THREADS
    says otherwise or several ranks share the machine."""
    if threads > 0:
        torch.set_num_threads(threads)
        return
    if os.environ.get("OMP_NUM_THREADS") or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    if torch.get_num_threads() < n:
        torch.set_num_threads(n)


def pick(want="auto"):
    """The device to run on: cuda when one is present (or asked for), else cpu."""
    if want == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(want)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from .errors import resources
        raise resources("--device %s: CUDA is not available (torch %s, built for CUDA %s)" % (want, torch.__version__, torch.version.cuda))
    return dev


def deterministic():
    """Settings for reproducible float32 evaluation: no TF32, deterministic
    kernels where PyTorch has them."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
    except TypeError:  # older PyTorch
        pass


def bf16_ok(dev):
    return dev.type == "cuda" and torch.cuda.is_bf16_supported()


def name(dev):
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return platform.processor() or platform.machine() or "cpu"


def peak_tflops(dev):
    """The card's dense bf16 peak, or None when unknown (and on CPUs)."""
    if dev.type != "cuda":
        return None
    n = torch.cuda.get_device_name(dev)
    for key, v in PEAK_BF16_TFLOPS:
        if key in n:
            return v or None
    return None


def info():
    """What this Python offers crucible: versions, GPUs, optional packages."""
    from . import models
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    out = {
        "crucible_torch": VERSION,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpus": gpus,
        "gpu_names": [torch.cuda.get_device_name(i) for i in range(gpus)],
        "gpu_memory": [torch.cuda.get_device_properties(i).total_memory for i in range(gpus)],
        "bf16": gpus > 0 and torch.cuda.is_bf16_supported(),
        "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"),
        "threads": torch.get_num_threads(),
        "transformers": None,
        "peft": None,
    }
    if models.HAS_TRANSFORMERS:
        import transformers
        out["transformers"] = transformers.__version__
    if models.HAS_PEFT:
        import peft
        out["peft"] = peft.__version__
    return out


def identity(dev, engine):
    """Which evaluator produced a loss: recorded beside it in the results log."""
    from . import models
    return {"kind": "torch", "crucible_torch": VERSION, "torch": torch.__version__, "cuda": torch.version.cuda,
            "device": name(dev) if dev.type == "cuda" else "cpu", "engine": models.engine_name(engine)}
