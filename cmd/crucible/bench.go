package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/bench"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure crucible's speed on this machine (kernels, training, tokenizer)",
		Long: `bench measures the speed of crucible's hot paths on this machine and prints
the figures; --json gives one object per row for scripts.`,
	}
	cmd.AddCommand(newBenchDataCmd(), newBenchFinetuneCmd(), newBenchGemmCmd(), newBenchNetworkCmd(), newBenchPrecisionCmd(), newBenchTokenizeCmd(), newBenchTrainCmd())
	return cmd
}

func newBenchDataCmd() *cobra.Command {
	var cfg bench.DataConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Measure tokenization speed, time to the first training step and peak memory on a dataset of any size",
		Long: `data generates an instruct dataset of about --mb megabytes (JSON Lines of
English-like text, about 560 bytes a row; or takes --data), then runs this
binary on it as child processes and reports for each its wall time and peak
resident memory (RSS):

  check       crucible data check (the row count the store must match)
  split       crucible data split: the validator's preparation (train and
              hidden test split; rows: the train split's), with --pipeline
  tokenize    crucible data tokenize: MB/s of the dataset, the token file's
              size on disk and its row count
  train-cold  crucible train --data with an empty token cache: time from the
              process's start to its first optimizer step, tokenizing included
  train-warm  crucible train --tokens on the token file: the same, without
              tokenizing
  eval        crucible eval of train-warm's result on the hidden test split,
              as the validator evaluates a submission, with --pipeline
  bad-row     with --bad-row N: crucible train --data on a copy of the
              dataset's first rows whose row N is broken JSON; the run must
              fail before its first step naming the file and line N, and
              leave no token file, output or work directory behind

Training uses the shipped model (crucible-tiny) unless --model is given, and
stops after --steps optimizer steps. Generated files go under --dir and are
removed at the end; with --keep the dataset stays in --dir, and a dataset kept
there is reused by later runs. Dataset, token file and cache need about 2.5
times --mb of free disk space; the command checks before writing.`,
		Example: `  crucible bench data --mb 100
  crucible bench data --mb 1000 --steps 3 --json
  crucible bench data --data ./big.jsonl --check=false
  crucible bench data --mb 100 --bad-row 150000`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *bench.DataConfig) error {
		return bench.Data(ctx, *cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}

func newBenchFinetuneCmd() *cobra.Command {
	var cfg bench.FinetuneConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "finetune",
		Short: "Measure fine-tuning and evaluation speed (SFT full, SFT LoRA, DPO, eval, GRPO) on a demo-sized model",
		Long: `finetune runs crucible's training loop (package train: batching, AdamW,
clipping) for a few steps on a demo-sized Llama (about 7M parameters, context
256, vocabulary 8192) with random tokens, half of each sequence scored, and
reports tokens per second for full fine-tuning, LoRA (rank 16 on every
projection) and DPO (full, against the frozen start as reference), and for
evaluation (forward only, the validator's metric, always in fp32). Tokens
count every input position of every sequence (both sides of a DPO pair).
--precision picks the arithmetic of training (auto: bf16 where the CPU has
AMX-BF16 or AVX512_BF16); with bf16 an "eval-bf16" row adds the bf16
evaluation a miner may use for its own validation.

The GRPO row trains the same model by GRPO (full, KL penalty on) on random
32-token prompts, --generations completions of --completion tokens each
(no stop token), and reports prompts per second, tokens generated per
second of sampling, that rate against batched generation of the same
groups outside training (what crucible generate --samples G does), and a
step's time split into sampling, reward and backward (with the reference
pass).

--write-base also writes that model (random weights) with a byte-level BPE
tokenizer trained on sample text to a directory, to try "crucible train",
"eval" and "generate" without a download.`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *bench.FinetuneConfig) error {
		return bench.Finetune(ctx, *cfg, cmd.OutOrStdout())
	})
}

func newBenchGemmCmd() *cobra.Command {
	var cfg bench.GemmConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "gemm",
		Short: "Measure matrix-multiply speed per kernel variant against the CPU's FMA peak",
		Long: `gemm times kernel.Gemm on the shapes training uses (forward A·B, and the
A·Bᵀ and Aᵀ·B forms of the backward pass) for each kernel variant, and
measures the CPU's FP32 FMA peak (AVX2 and AVX-512 assembly loops on all
threads) in the same run. Each figure is the median of --reps measurements;
within a shape the variants and the peak loops take turns, so a burst of
outside load hits them alike. The "cpu" columns divide the work by this
process's CPU time instead of wall-clock time: on a machine shared with
other jobs they show what the cores deliver while they run crucible (spinning
worker threads count against a variant). A summary of the medians over the
large shapes ends the table.

By default every assembly variant runs, the bf16 ones (AMX-BF16,
AVX512_BF16) where the CPU has them, and OpenBLAS when crucible was built
with -tags openblas. bf16 rows ("bf16-amx", ...) are kernel.GemmBF16: both
float32 operands rounded to bf16 while they are packed, float32 sums; they
are measured against the bf16 peak of their instruction set (TDPBF16PS or
VDPBF16PS loops). --variant picks one: a kernel variant ("go" is the
portable kernel), "auto" (Gemm's own choice per shape), "bf16" (every bf16
variant), "bf16-<variant>" (one of them, "bf16-go" the portable emulation),
"bf16b" (GemmBF16B: float32 arithmetic on a B stored as bf16), or "all"
(every kernel variant, "go" included). --bf16 adds the bf16 rows where the
default leaves them out.

OpenBLAS 0.3.21 takes this class of AVX-512 CPU for Haswell; run the bench
again with OPENBLAS_CORETYPE=SkylakeX to compare against its best.`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *bench.GemmConfig) error {
		return bench.Gemm(*cfg, cmd.OutOrStdout())
	})
}

func newBenchPrecisionCmd() *cobra.Command {
	var cfg bench.PrecisionConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "precision",
		Short: "Check that bf16 training loses no quality: validation loss of bf16 against fp32 runs",
		Long: `precision trains the same model on the same data twice, in fp32 and in bf16
arithmetic (bf16 matrix products with float32 sums, AdamW moments in bf16),
and evaluates the weights each run returns on held-out data in fp32. The
check passes when the bf16 validation loss is within 1% of the fp32 one.

Configs:
  crucible-tiny  the shipped model (Llama, 5.5M parameters), full fine-tuning
                 on the facts dataset (answers scored), 600 rows, 100 held out
  llama-30m      bench train's llama-30m (31.9M parameters) from random
                 weights, trained on the facts and definitions datasets with
                 every token scored, 4000 rows, 200 held out

Both use the shipped tokenizer. On a CPU without bf16 instructions the bf16
run uses the Go emulation of the same arithmetic (slow).`,
		Example: `  crucible bench precision --configs crucible-tiny --steps 100
  crucible bench precision --json`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *bench.PrecisionConfig) error {
		return bench.Precision(ctx, *cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}

func newBenchTokenizeCmd() *cobra.Command {
	var cfg bench.TokenizeConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "tokenize",
		Short: "Measure tokenizer speed on English text against tiktoken-go",
		Long: `tokenize encodes and decodes generated English text on one core
(GOMAXPROCS 1) with crucible's tokenizer and, in the same run, with
tiktoken-go, and prints MB/s (1 MB = 10^6 bytes of input text), the median of
--reps runs after a warm-up run; the implementations take turns in each
round, so that changes in the machine's load hit them alike. The text is cut at paragraph ends into
documents of about --doc-kb KiB, encoded one by one as a dataset would be
(0 encodes it as one string).

By default both use GPT-2's tokenizer (r50k_base), built from the ranks
embedded in tiktoken-go; the ids of the two are compared before timing.
--dir times a tokenizer.json directory instead (crucible only).`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *bench.TokenizeConfig) error {
		return bench.Tokenize(*cfg, cmd.OutOrStdout())
	})
}

func newBenchTrainCmd() *cobra.Command {
	var cfg bench.TrainConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Measure training and evaluation speed (tokens/s, MFU) and peak memory per model config",
		Long: `train times full fine-tuning (AdamW over every parameter), LoRA (rank 16
on every attention and MLP projection, base frozen) and evaluation (the
validator's forward pass and masked loss) on GPT-2 and Llama-style configs and
on the real shapes of Qwen2.5-0.5B, Qwen3-0.6B, Gemma-3-1B and SmolLM2-360M,
with random weights and tokens, and reports tokens/s, model FLOPs utilization
and peak resident memory. A step is forward, backward, gradient clipping and the
AdamW update; figures are medians over the timed steps. Each config runs in a fresh child process, so its peak
RSS is its own.

MFU divides the training FLOPs per second by the CPU's FP32 FMA peak,
measured with the kernel's FMA loop on all threads for 200 ms right after each
timed step; the figure is the median over steps, so that a machine shared
with other work lowers a step and its peak alike. Where /proc is available,
cpu_util and mfu_cpu also report the share of the cores the process actually
got and the MFU over that CPU time (the thread pool's workers wait up to
1 ms for the next parallel loop by spinning, which counts as CPU time; a
core left idle does not).

Training FLOPs per token are 6·N (full) or 4·N + 6·N_lora (LoRA: no base
weight gradients), N being the parameters that enter matrix products (every
projection, the experts a token uses, and the LM head), plus
12·layers·heads·head_dim·T for attention (forward and backward, counted in
full as PaLM does); evaluation counts 2·N + 4·layers·heads·head_dim·T.

Examples:
  crucible bench train --configs gpt2-30m,llama-30m --steps 5
  crucible bench train --configs qwen2.5-0.5b --mode lora,eval --steps 3

--precision picks the arithmetic of the matrix products: fp32, bf16 (bf16
operands, float32 sums; weights and gradients stay float32, the AdamW
moments are kept as bf16 with stochastic rounding, as crucible train does)
or auto (bf16 where the CPU has AMX-BF16 or AVX512_BF16). LoRA rows round
the random base to bf16 (as a bf16 checkpoint loads) and hold it in bf16,
as crucible train holds a frozen base. Where the CPU has a
bf16 peak, MFU is also reported against it (mfu_bf16).

Under the table (not with --json) each figure that has a goal is set
against it: LoRA ≥ 1.5× and evaluation ≥ 3× full fine-tuning tokens/s (a
config whose full, lora and eval rows all ran), GPT-2 124M full fine-tuning
in ≤ 1.6 GiB peak RSS, and for Qwen2.5-0.5B LoRA at T=512 in ≤ 3 GiB and
evaluation at ≥ 150 tokens/s. Ratios are also given over the CPU time each
row got, which stays comparable when other work shares the cores.
tools/torchbench/train.py runs the same configs in PyTorch beside crucible.

Configs: ` + strings.Join(bench.TrainNames(), ", ") + `.`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *bench.TrainConfig) error {
		return bench.Train(*cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}
