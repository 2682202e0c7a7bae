"""crucible_torch: crucible's PyTorch trainer and evaluator.

It implements crucible's miner contract (``python3 -m crucible_torch train``)
and the validator's metric (``python3 -m crucible_torch eval``) on PyTorch, for
machines with GPUs, and measures itself (``python3 -m crucible_torch bench``).
It reads crucible's token files (docs/tokens.md), so it never tokenizes or
formats prompts itself: a loss means the same on both engines.

With transformers (and peft) importable it runs any architecture they know;
without them it runs its own compact modules for the families crucible's Go
engine computes (GPT-2, Llama, Qwen2, Mistral), so Debian's python3-torch alone
is enough.
"""

# VERSION is the version of this package's contract with crucible: the
# command line, the JSON it prints and the metric's definition. crucible
# checks it before using the package.
VERSION = "1"
