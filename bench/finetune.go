package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/ml/train"
)

// finetuneBenchRow is one measurement of the fine-tuning benchmark.
type finetuneBenchRow struct {
	Mode       string  `json:"mode"`
	TokensPerS float64 `json:"tokens_per_s"`
	// TokensPerCPUS divides by the CPU time the process got instead of wall
	// time: comparable across modes on a machine shared with other work.
	TokensPerCPUS float64 `json:"tokens_per_cpu_s"`
	Tokens        int64   `json:"tokens"`
	Seconds       float64 `json:"seconds"`
	Steps         int     `json:"steps,omitempty"`
	Params        int     `json:"params"`
	Batch         int     `json:"batch"`
	Seq           int     `json:"seq"`
	Threads       int     `json:"threads"`
}

// finetuneBenchConfig is the demo-sized Llama the benchmark trains: about
// 7M parameters, a 256-token context and an 8k vocabulary.
func finetuneBenchConfig() model.Config {
	c := model.NewLlamaConfig(256, 768, 6, 4, 2, 8192, 256)
	c.TieEmbeddings = true
	return c
}

// FinetuneConfig configures "crucible bench finetune". Each field's doc
// comment is its documentation and states its default (package config).
type FinetuneConfig struct {
	// JSON prints one JSON object per row.
	JSON bool `flag:"json"`
	// Steps is the optimizer steps per training mode. Defaults to `6`.
	Steps int `flag:"steps"`
	// Batch is the sequences (DPO: pairs) per step. Defaults to `8`.
	Batch int `flag:"batch"`
	// Generations is, for grpo, the completions per prompt (G, the
	// generation batch). Defaults to `8`.
	Generations int `flag:"generations"`
	// GRPOPrompts is, for grpo, the prompts per step. Defaults to `2`.
	GRPOPrompts int `flag:"grpo-prompts"`
	// Completion is, for grpo, the tokens per completion. Defaults to `32`.
	Completion int `flag:"completion"`
	// Precision is the arithmetic of training's matrix products: auto, fp32
	// or bf16. Defaults to `auto`.
	Precision string `flag:"precision"`
	// GRPOOnly measures the GRPO row only.
	GRPOOnly bool `flag:"grpo-only"`
	// WriteBase writes the benchmark's model and a trained tokenizer to this
	// directory instead.
	WriteBase string `flag:"write-base"`
}

// Finetune runs the fine-tuning benchmark as cfg says and writes its table
// (or JSON lines) to out.
func Finetune(ctx context.Context, cfg FinetuneConfig, out io.Writer) error {
	if cfg.WriteBase != "" {
		return writeBenchBase(cfg.WriteBase, out)
	}
	if cfg.Steps < 2 || cfg.Batch < 1 {
		return fmt.Errorf("bench finetune: --steps must be ≥ 2 and --batch ≥ 1")
	}
	p, err := kernel.ParsePrecision(cfg.Precision)
	if err != nil {
		return fmt.Errorf("bench finetune: --precision: %w", err)
	}
	if !cfg.GRPOOnly {
		rows, err := runFinetuneBench(ctx, cfg.Steps, cfg.Batch, p)
		if err != nil {
			return err
		}
		if err := printFinetuneBench(out, rows, cfg.JSON); err != nil {
			return err
		}
	}
	if cfg.Generations < 2 || cfg.GRPOPrompts < 1 || cfg.Completion < 1 {
		return fmt.Errorf("bench finetune: --generations must be ≥ 2, --grpo-prompts and --completion ≥ 1")
	}
	g, err := runGRPOBench(ctx, cfg.Steps, cfg.GRPOPrompts, cfg.Generations, 32, cfg.Completion)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return json.NewEncoder(out).Encode(g)
	}
	printGRPOBench(out, g)
	return nil
}

// benchSeqs makes n random sequences of length T whose second half is scored.
func benchSeqs(n, T, vocab int, seed uint64) []eval.Sequence {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]eval.Sequence, n)
	for i := range out {
		s := eval.Sequence{IDs: make([]int32, T), Labels: make([]int32, T)}
		for j := range s.IDs {
			s.IDs[j] = int32(rng.IntN(vocab))
			s.Labels[j] = model.IgnoreIndex
			if j >= T/2 {
				s.Labels[j] = s.IDs[j]
			}
		}
		out[i] = s
	}
	return out
}

func runFinetuneBench(ctx context.Context, steps, batch int, prec kernel.Precision) ([]finetuneBenchRow, error) {
	cfg := finetuneBenchConfig()
	T := cfg.MaxPositions + 1 // T input positions after the shift
	seqs := benchSeqs(steps*batch, T, cfg.Vocab, 1)
	threads := runtime.GOMAXPROCS(0)
	var rows []finetuneBenchRow
	trainRow := func(mode string, setup func(m *model.Model) error, d train.Data) error {
		m, err := model.New(cfg, 1)
		if err != nil {
			return err
		}
		if err := setup(m); err != nil {
			return err
		}
		c0 := cpuSeconds()
		res, err := train.Run(ctx, m, d, train.Config{LR: 1e-4, Epochs: 1, BatchSize: batch, ValSize: -1, Seed: 1, Precision: prec.String()})
		if err != nil {
			return fmt.Errorf("bench finetune %s: %w", mode, err)
		}
		cpu := cpuSeconds() - c0
		rows = append(rows, finetuneBenchRow{Mode: mode, TokensPerS: res.TokensPerS, TokensPerCPUS: perCPU(res.Tokens, cpu), Tokens: res.Tokens, Steps: res.Steps,
			Seconds: float64(res.Tokens) / res.TokensPerS, Params: m.NumParams(), Batch: batch, Seq: T - 1, Threads: threads})
		return nil
	}
	full := func(m *model.Model) error { m.SetTrainBase(true); return nil }
	lora := func(m *model.Model) error {
		_, err := m.AddLoRA(model.LoRAConfig{Rank: 16, Alpha: 32, TargetModules: train.LoRATargets(cfg), Seed: 1})
		return err
	}
	if err := trainRow("sft-full", full, train.Data{Train: seqs}); err != nil {
		return nil, err
	}
	if err := trainRow("sft-lora", lora, train.Data{Train: seqs}); err != nil {
		return nil, err
	}
	pairs := make([]eval.Pair, 0, steps*batch/2)
	for i := 0; i+1 < len(seqs); i += 2 {
		pairs = append(pairs, eval.Pair{Chosen: seqs[i], Rejected: seqs[i+1]})
	}
	if err := trainRow("dpo-full", full, train.Data{Pairs: pairs}); err != nil {
		return nil, err
	}
	// Evaluation: the validator's forward-only pass (fp32), timed after a
	// warm-up; and the bf16 one a miner may use for its own validation.
	evalPrecs := []kernel.Precision{kernel.FP32}
	if prec == kernel.BF16 {
		evalPrecs = append(evalPrecs, kernel.BF16)
	}
	for _, ep := range evalPrecs {
		row, err := evalBenchRow(ctx, cfg, ep, batch, T, threads)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// evalBenchRow times evaluation of 4·batch sequences in precision p: the
// median of three runs after a warm-up.
func evalBenchRow(ctx context.Context, cfg model.Config, p kernel.Precision, batch, T, threads int) (finetuneBenchRow, error) {
	m, err := model.New(cfg, 1)
	if err != nil {
		return finetuneBenchRow{}, err
	}
	m.SetPrecision(p)
	evalSeqs := benchSeqs(4*batch, T, cfg.Vocab, 2)
	if _, err := eval.Loss(ctx, m, evalSeqs[:batch], eval.Options{}); err != nil {
		return finetuneBenchRow{}, err
	}
	var times, cpus []float64
	for range 3 {
		t0, c0 := time.Now(), cpuSeconds()
		if _, err := eval.Loss(ctx, m, evalSeqs, eval.Options{}); err != nil {
			return finetuneBenchRow{}, err
		}
		times, cpus = append(times, time.Since(t0).Seconds()), append(cpus, cpuSeconds()-c0)
	}
	slices.Sort(times)
	slices.Sort(cpus)
	tokens := int64(len(evalSeqs) * (T - 1))
	mode := "eval"
	if p == kernel.BF16 {
		mode = "eval-bf16"
	}
	return finetuneBenchRow{Mode: mode, TokensPerS: float64(tokens) / times[1], TokensPerCPUS: perCPU(tokens, cpus[1]), Tokens: tokens, Seconds: times[1],
		Params: m.NumParams(), Batch: len(evalSeqs), Seq: T - 1, Threads: threads}, nil
}

// perCPU is tokens per CPU second, 0 when CPU time is unknown.
func perCPU(tokens int64, cpu float64) float64 {
	if cpu <= 0 {
		return 0
	}
	return float64(tokens) / cpu
}

func printFinetuneBench(w io.Writer, rows []finetuneBenchRow, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\ttokens/s\ttokens/cpu-s\ttokens\tseconds\tsteps\tparams\tbatch×seq\t")
	var full, ev, ev16 finetuneBenchRow
	for _, r := range rows {
		switch r.Mode {
		case "sft-full":
			full = r
		case "eval":
			ev = r
		case "eval-bf16":
			ev16 = r
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%d\t%.2f\t%d\t%.1fM\t%d×%d\t\n", r.Mode, r.TokensPerS, r.TokensPerCPUS, r.Tokens, r.Seconds, r.Steps, float64(r.Params)/1e6, r.Batch, r.Seq)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range []finetuneBenchRow{ev, ev16} {
		if e.TokensPerS > 0 && full.TokensPerS > 0 {
			fmt.Fprintf(w, "%s vs full fine-tuning per token: %.1f× (wall time), %.1f× (CPU time), %d threads\n", e.Mode, e.TokensPerS/full.TokensPerS, e.TokensPerCPUS/max(full.TokensPerCPUS, 1e-9), e.Threads)
		}
	}
	return nil
}

// writeBenchBase writes the benchmark's model (random weights) with a
// byte-level BPE tokenizer trained on sample text to dir.
func writeBenchBase(dir string, out io.Writer) error {
	cfg := finetuneBenchConfig()
	tok, err := tokenizer.Train(slices.Values([]string{tokenizer.SampleText(1<<20, 1)}), cfg.Vocab, []string{"<|endoftext|>"})
	if err != nil {
		return err
	}
	cfg.Vocab = tok.VocabSize()
	cfg.BOS, cfg.EOS = tok.BOSID(), []int{tok.EOSID()}
	m, err := model.New(cfg, 1)
	if err != nil {
		return err
	}
	if err := m.Save(dir); err != nil {
		return err
	}
	if err := tok.Save(dir); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: Llama %.1fM parameters, context %d, vocabulary %d (random weights)\n", dir, float64(m.NumParams())/1e6, cfg.MaxPositions, cfg.Vocab)
	return nil
}
