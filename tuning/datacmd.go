package tuning

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/ml/tokens"
	"github.com/crucible-net/crucible/reward"
)

// The settings and work of the data commands (crucible data check, split,
// tokenize, pull). Names of the Hugging Face cache resolve here.

// DataCheckConfig configures "crucible data check" (the column mapping and
// rewards come beside it). Each field's doc comment is its documentation
// and states its default (package config).
type DataCheckConfig struct {
	// Type is the task type: instruct, chat, dpo, text or grpo; empty
	// detects it (grpo with --reward).
	Type string `flag:"type"`
	// Tokenizer is a tokenizer directory (tokenizer.json) or cached model
	// org/name, for token lengths.
	Tokenizer string `flag:"tokenizer"`
	// MaxLength counts the rows longer than this many tokens (needs
	// --tokenizer).
	MaxLength int `flag:"max-length"`
	// TrainOnInputs counts prompt tokens in the loss (affects nothing but
	// lengths here).
	TrainOnInputs bool `flag:"train-on-inputs"`
	// JSON prints the report as JSON.
	JSON bool `flag:"json"`
	// MaxErrors lists at most this many errors; the rest are counted.
	// Defaults to `100`.
	MaxErrors int `flag:"max-errors"`
	// MinRows warns when the dataset has fewer rows than a task needs.
	// Defaults to `2000`.
	MinRows int `flag:"min-rows"`
	// MaxTestRows caps the rows the split holds out for testing. Defaults
	// to `1000`.
	MaxTestRows int `flag:"max-test-rows"`
}

// CheckData checks the dataset src (a path or a cached dataset) with the
// settings, the column mapping (zero: detected) and, for grpo, the
// rewards in set (nil: none).
func CheckData(cfg *DataCheckConfig, src string, mapping crucible.ColumnMapping, set *reward.Set) (*data.Report, error) {
	opt := data.CheckOptions{Mapping: mapping, MaxLength: cfg.MaxLength, MaxErrors: cfg.MaxErrors, TrainOnInputs: cfg.TrainOnInputs,
		Split: data.SplitOptions{MinRows: cfg.MinRows, MaxTestRows: cfg.MaxTestRows}}
	typ := cfg.Type
	if set != nil {
		opt.CheckExample = RewardCheck(set)
		if typ == "" {
			typ = string(crucible.TaskGRPO)
		}
		if typ != string(crucible.TaskGRPO) {
			return nil, crucible.Errorf(crucible.EINVALID, "--reward and --reward-file are for grpo datasets, not --type %s", typ)
		}
	}
	var err error
	if opt.Type, err = TaskTypeOf(typ, mapping); err != nil {
		return nil, err
	}
	if cfg.MaxLength > 0 && cfg.Tokenizer == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "--max-length needs --tokenizer to count tokens")
	}
	if cfg.Tokenizer != "" {
		dir, err := hub.ResolveModel(cfg.Tokenizer)
		if err != nil {
			return nil, err
		}
		tok, err := tokenizer.Load(dir)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "load tokenizer from %s", dir)
		}
		opt.Tokenizer = tok
		opt.ChatTemplate = data.TemplateOf(tok)
	}
	path, err := hub.ResolveDataset(src)
	if err != nil {
		return nil, err
	}
	return data.Check(path, opt)
}

// DataSplitConfig configures "crucible data split".
type DataSplitConfig struct {
	// Type is the task type: instruct, chat, dpo or text; empty detects it.
	Type string `flag:"type"`
	// Out is the directory to write train.jsonl and test.jsonl into.
	// Defaults to `.`.
	Out string `flag:"out"`
	// Seed is the split seed. Defaults to `42`.
	Seed uint64 `flag:"seed"`
	// MinRows refuses datasets with fewer rows (-1: no minimum). Defaults
	// to `2000`.
	MinRows int `flag:"min-rows"`
	// MaxTestRows caps the rows held out for testing. Defaults to `1000`.
	MaxTestRows int `flag:"max-test-rows"`
	// TestFraction is the share of rows held out for testing. Defaults to
	// `0.1`.
	TestFraction float64 `flag:"test-fraction"`
	// MaxBadRows is the unreadable rows to drop before giving up.
	MaxBadRows int `flag:"max-bad-rows"`
}

// SplitData splits the dataset src the way a validator does into
// cfg.Out/train.jsonl and cfg.Out/test.jsonl.
func SplitData(cfg *DataSplitConfig, src string, mapping crucible.ColumnMapping) (*data.Prepared, error) {
	opt := data.PrepareOptions{Mapping: mapping, MaxBadRows: cfg.MaxBadRows,
		Split: data.SplitOptions{Seed: cfg.Seed, MinRows: cfg.MinRows, MaxTestRows: cfg.MaxTestRows, TestFraction: cfg.TestFraction}}
	if cfg.Type != "" {
		t, err := crucible.ParseTaskType(cfg.Type)
		if err != nil {
			return nil, err
		}
		opt.Type = t
	}
	path, err := hub.ResolveDataset(src)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	train, err := os.Create(filepath.Join(cfg.Out, "train.jsonl"))
	if err != nil {
		return nil, err
	}
	defer train.Close()
	test, err := os.Create(filepath.Join(cfg.Out, "test.jsonl"))
	if err != nil {
		return nil, err
	}
	defer test.Close()
	p, err := data.Prepare(path, opt, train, test)
	if err != nil {
		return nil, err
	}
	if err := train.Close(); err != nil {
		return nil, err
	}
	return p, test.Close()
}

// TokenizeConfig configures "crucible data tokenize".
type TokenizeConfig struct {
	// Model is the model directory (its tokenizer and context) or a cached
	// org/name.
	Model string `flag:"model"`
	// Data is the dataset file or directory, or a cached dataset org/name.
	Data string `flag:"data"`
	// Out is the token file to write (replaced when it exists).
	Out string `flag:"out"`
	// Type is the task type: instruct, chat, dpo or text; empty detects it.
	Type string `flag:"type"`
	// MaxLength is the tokens per sequence; 0 means the model's context, at
	// most 1024, as train uses.
	MaxLength int `flag:"max-length"`
	// JSON prints the result as JSON.
	JSON bool `flag:"json"`
}

// TokenizeData tokenizes the dataset into a token file as cfg says, with
// the column mapping (zero: detected), reporting progress, and returns
// what it wrote.
func TokenizeData(ctx context.Context, cfg *TokenizeConfig, mapping crucible.ColumnMapping, progress func(data.TokenProgress)) (*TokenizeReport, error) {
	spec := TokenizeSpec{OutPath: cfg.Out, MaxLength: cfg.MaxLength, Progress: progress}
	var err error
	if spec.TaskType, err = TaskTypeOf(cfg.Type, mapping); err != nil {
		return nil, err
	}
	if mapping != (crucible.ColumnMapping{}) {
		spec.Mapping = &mapping
	}
	if spec.ModelDir, err = hub.ResolveModel(cfg.Model); err != nil {
		return nil, err
	}
	if spec.DataPath, err = hub.ResolveDataset(cfg.Data); err != nil {
		return nil, err
	}
	if st, err := os.Stat(spec.OutPath); err == nil && st.IsDir() {
		return nil, crucible.Errorf(crucible.EINVALID, "--out %s is a directory", spec.OutPath).WithHint("name the token file to write, e.g. data.tokens.safetensors")
	}
	t0 := time.Now()
	src, meta, err := Tokenize(ctx, spec)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(spec.OutPath)
	if err != nil {
		return nil, err
	}
	report := &TokenizeReport{Path: spec.OutPath, Bytes: st.Size(), Meta: meta, Source: src, Seconds: time.Since(t0).Seconds()}
	report.Meta.Source = nil
	return report, nil
}

// TokenizeReport is what data tokenize prints.
type TokenizeReport struct {
	Path    string            `json:"path"`
	Bytes   int64             `json:"bytes"`
	Meta    tokens.Meta       `json:"meta"`
	Source  *data.TokenSource `json:"source"`
	Seconds float64           `json:"seconds"`
}

// WriteText writes the report as data tokenize prints it.
func (r TokenizeReport) WriteText(w io.Writer) {
	m, s := r.Meta, r.Source
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-10s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("wrote", "%s (%.1f MB, %s ids, sha256 %s)", r.Path, float64(r.Bytes)/1e6, m.IDType, m.SHA256[:16])
	line("task", "%s", s.TaskType)
	if s.Reason != "" {
		line("", "%s", s.Reason)
	}
	line("rows", "%d read, %d with nothing to learn from", s.Rows, s.Empty)
	kind := "sequences"
	n := m.Sequences
	if m.Kind == tokens.KindPairs {
		kind, n = "pairs", m.Pairs()
	}
	line(kind, "%d (%d truncated to %d tokens, %d dropped with no response left)", n, s.Stats.Truncated, s.MaxLength, s.Stats.Dropped)
	line("tokens", "%d, of which %d count in the loss; longest sequence %d", m.Tokens, m.Counted, m.Longest)
	line("time", "%.1f s", r.Seconds)
}

// DescribeModel tells whether crucible can load a downloaded model:
// its architecture and size, the notes on its config, or why not.
func DescribeModel(dir string, w io.Writer) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return // not pulled (--include left it out)
	}
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		fmt.Fprintf(w, "warning: crucible cannot train or evaluate this model: %v\n", err)
		return
	}
	fmt.Fprintf(w, "model: %s (%s family), %.0fM parameters: crucible can train and evaluate it\n",
		cfg.Architecture, cfg.ModelType, float64(model.ParamCount(cfg))/1e6)
	for _, n := range cfg.Notes() {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
