package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/ml/train"
)

// precisionBenchRow is one quality comparison of bf16 against fp32.
type precisionBenchRow struct {
	Config string `json:"config"`
	Steps  int    `json:"steps"`
	train.PrecisionCheck
	FP32Seconds float64 `json:"fp32_seconds"`
	BF16Seconds float64 `json:"bf16_seconds"`
	Pass        bool    `json:"pass"` // RelDiff ≤ 1%
}

// runPrecisionBench runs one config's comparison.
func runPrecisionBench(ctx context.Context, logw io.Writer, name string, steps, batch int) (precisionBenchRow, error) {
	work, err := os.MkdirTemp("", "crucible-precision-")
	if err != nil {
		return precisionBenchRow{}, err
	}
	defer os.RemoveAll(work)
	dir, err := assets.Extract(assets.BaseModel, work)
	if err != nil {
		return precisionBenchRow{}, fmt.Errorf("bench precision: %w", err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return precisionBenchRow{}, fmt.Errorf("bench precision: %w", err)
	}
	var newModel func() (*model.Model, error)
	var seqs []eval.Sequence
	var val int
	switch name {
	case "crucible-tiny":
		if seqs, err = instructSeqs(tok, assets.Facts, 700, false); err != nil {
			return precisionBenchRow{}, err
		}
		val = 100
		newModel = func() (*model.Model, error) {
			m, err := model.Load(dir)
			if err == nil {
				m.SetTrainBase(true)
			}
			return m, err
		}
	case "llama-30m":
		facts, err := instructSeqs(tok, assets.Facts, 2000, true)
		if err != nil {
			return precisionBenchRow{}, err
		}
		defs, err := instructSeqs(tok, assets.Definitions, 2000, true)
		if err != nil {
			return precisionBenchRow{}, err
		}
		for i := range min(len(facts), len(defs)) { // interleaved, so the held-out rows hold both
			seqs = append(seqs, facts[i], defs[i])
		}
		val = 200
		bc, err := findTrainBench("llama-30m")
		if err != nil {
			return precisionBenchRow{}, err
		}
		newModel = func() (*model.Model, error) {
			m, err := model.New(bc.cfg, 1)
			if err == nil {
				m.SetTrainBase(true)
			}
			return m, err
		}
	default:
		return precisionBenchRow{}, fmt.Errorf("bench precision: unknown config %q (have crucible-tiny, llama-30m)", name)
	}
	if len(seqs) <= val {
		return precisionBenchRow{}, fmt.Errorf("bench precision: %s: only %d sequences", name, len(seqs))
	}
	fmt.Fprintf(logw, "%s: %d steps of %d sequences in fp32, then in bf16 (%s)...\n", name, steps, batch, kernel.BF16Variants()[0])
	cfg := train.Config{LR: 3e-4, MaxSteps: steps, Epochs: 1000, BatchSize: batch, Patience: -1, EvalEvery: steps, Seed: 1}
	chk, err := train.ComparePrecisions(ctx, newModel, train.Data{Train: seqs[val:], Val: seqs[:val]}, cfg)
	if err != nil {
		return precisionBenchRow{}, fmt.Errorf("bench precision: %s: %w", name, err)
	}
	return precisionBenchRow{Config: name, Steps: chk.BF16.Steps, PrecisionCheck: *chk, Pass: chk.RelDiff <= 0.01,
		FP32Seconds: chk.FP32.Duration.Seconds(), BF16Seconds: chk.BF16.Duration.Seconds()}, nil
}

// instructSeqs tokenizes up to n rows of an embedded instruct dataset as
// the instruction and a newline followed by the output and EOS; only the
// output and EOS are scored unless all is set.
func instructSeqs(tok *tokenizer.Tokenizer, name string, n int, all bool) ([]eval.Sequence, error) {
	f, err := assets.FS().Open(name)
	if err != nil {
		return nil, fmt.Errorf("bench precision: %w", err)
	}
	defer f.Close()
	var out []eval.Sequence
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan() && len(out) < n; line++ {
		var row struct{ Instruction, Output string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("bench precision: %s:%d: %w", name, line, err)
		}
		var s eval.Sequence
		for _, id := range tok.Encode(row.Instruction + "\n") {
			label := int32(model.IgnoreIndex)
			if all {
				label = int32(id)
			}
			s.IDs, s.Labels = append(s.IDs, int32(id)), append(s.Labels, label)
		}
		for _, id := range append(tok.EncodeOrdinary(row.Output), tok.EOSID()) {
			s.IDs, s.Labels = append(s.IDs, int32(id)), append(s.Labels, int32(id))
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil && err != fs.ErrClosed {
		return nil, fmt.Errorf("bench precision: %s: %w", name, err)
	}
	return out, nil
}

func printPrecisionBench(w io.Writer, rows []precisionBenchRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "config\tsteps\tval loss start\tfp32\tbf16\tbf16 vs fp32\tfp32 time\tbf16 time\tcheck\t")
	for _, r := range rows {
		check := "pass (≤ 1%)"
		if !r.Pass {
			check = "FAIL (> 1%)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%.4f\t%+.2f%%\t%s\t%s\t%s\t\n", r.Config, r.Steps, r.InitialLoss, r.FP32Loss, r.BF16Loss,
			100*(r.BF16Loss-r.FP32Loss)/r.FP32Loss, (time.Duration(r.FP32Seconds * float64(time.Second))).Round(time.Second),
			(time.Duration(r.BF16Seconds * float64(time.Second))).Round(time.Second), check)
	}
	tw.Flush()
	fmt.Fprintln(w, "validation losses of the weights each run returned, evaluated in fp32")
}

// PrecisionConfig configures "crucible bench precision". Each field's doc
// comment is its documentation and states its default (package config).
type PrecisionConfig struct {
	// JSON prints one JSON object per config.
	JSON bool `flag:"json"`
	// Steps is the optimizer steps per run. Defaults to `300`.
	Steps int `flag:"steps"`
	// Batch is the sequences per step. Defaults to `8`.
	Batch int `flag:"batch"`
	// Configs is the configs to check: crucible-tiny, llama-30m. Defaults
	// to `crucible-tiny,llama-30m`.
	Configs []string `flag:"configs"`
}

// Precision trains each config in fp32 and in bf16 and compares their
// validation losses, writing the table (or JSON lines) to out and progress
// to logw; it fails when bf16 loses more than 1%.
func Precision(ctx context.Context, cfg PrecisionConfig, out, logw io.Writer) error {
	if cfg.Steps < 1 || cfg.Batch < 1 {
		return fmt.Errorf("bench precision: --steps and --batch must be ≥ 1")
	}
	var rows []precisionBenchRow
	for _, name := range cfg.Configs {
		row, err := runPrecisionBench(ctx, logw, name, cfg.Steps, cfg.Batch)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		if cfg.JSON {
			if err := json.NewEncoder(out).Encode(row); err != nil {
				return err
			}
		}
	}
	if !cfg.JSON {
		printPrecisionBench(out, rows)
	}
	for _, r := range rows {
		if !r.Pass {
			return fmt.Errorf("bench precision: %s: bf16 validation loss %.4f is %.2f%% from fp32's %.4f (want ≤ 1%%)", r.Config, r.BF16Loss, 100*r.RelDiff, r.FP32Loss)
		}
	}
	return nil
}
