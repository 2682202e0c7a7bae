package validator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// DataPreparer is the production Preparer: it resolves the dataset (a local
// file or directory, or a Hugging Face dataset in the local cache), settles
// the task type and column mapping (detecting what the customer left out),
// and writes a deterministic train/test split in the standard columns.
type DataPreparer struct {
	Datasets interface {
		Resolve(ref string) (string, error)
	}
	Models Models
	Split  data.SplitOptions
	// MaxBadRows is how many unreadable rows are dropped before preparation
	// fails.
	MaxBadRows int
}

// Prepare implements Preparer.
func (p *DataPreparer) Prepare(ctx context.Context, t *crucible.Task, dir string) (*Prepared, error) {
	path, err := p.Datasets.Resolve(t.Dataset)
	if err != nil {
		return nil, err
	}
	var given crucible.ColumnMapping
	if t.Mapping != nil {
		given = *t.Mapping
	}
	typ, source, why, err := data.Settle(path, t.Type, given)
	if err != nil {
		return nil, err
	}
	if typ != t.Type {
		return nil, crucible.Errorf(crucible.EINVALID, "dataset %s looks like a %s dataset, but the task is %s", t.Dataset, typ, t.Type)
	}
	train, err := os.Create(filepath.Join(dir, "train.jsonl"))
	if err != nil {
		return nil, err
	}
	defer train.Close()
	test, err := os.Create(filepath.Join(dir, "test.jsonl"))
	if err != nil {
		return nil, err
	}
	defer test.Close()
	split := p.Split
	res, err := data.Prepare(path, data.PrepareOptions{Type: t.Type, Mapping: source, Split: split, MaxBadRows: p.MaxBadRows}, train, test)
	if err != nil {
		return nil, err
	}
	if err := train.Sync(); err != nil {
		return nil, err
	}
	modelDir, err := p.Models.ResolveModel(ctx, t.Model)
	if err != nil {
		return nil, err
	}
	params, err := CountParams(modelDir)
	if err != nil {
		return nil, err
	}
	tokens, err := countTokens(modelDir, t.Type, res.Mapping, train.Name())
	if err != nil {
		return nil, err
	}
	reason := why
	if res.Empty > 0 || res.BadRows > 0 {
		reason += fmt.Sprintf(" (dropped %d empty and %d unreadable rows)", res.Empty, res.BadRows)
	}
	return &Prepared{
		TrainPath: train.Name(), TestPath: test.Name(),
		TrainRows: res.TrainRows, TestRows: res.TestRows,
		Mapping: res.Mapping, SourceMapping: source, Reason: reason,
		ModelParams: params, TrainTokens: tokens, Hours: HoursFor(res.TrainRows),
	}, nil
}

// HoursFor is the time budget of a task that names none: three minutes up
// to 1500 training rows, one more minute per 500 rows beyond, at most two
// hours. crucible's CPU trainers make good use of short budgets on small
// models; customers wanting more say so.
func HoursFor(rows int) float64 {
	minutes := math.Min(math.Max(3, float64(rows)/500), 120)
	return minutes / 60
}

// CountParams counts the parameters of a model directory from its
// safetensors headers (no weights are read).
func CountParams(dir string) (int64, error) {
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return 0, crucible.Wrap(err, crucible.EINVALID, "model %s", dir)
	}
	defer set.Close()
	var n int64
	for _, name := range set.Names() {
		info, _ := set.Info(name)
		n += int64(info.Numel())
	}
	return n, nil
}

// countTokens counts the tokens of a prepared split (standard columns, JSONL)
// with the base model's tokenizer, one row at a time. A model without a
// tokenizer gives 0: the count is for reporting, not for correctness.
func countTokens(modelDir string, t crucible.TaskType, m crucible.ColumnMapping, path string) (int64, error) {
	tok, err := tokenizer.Load(modelDir)
	if err != nil {
		return 0, nil
	}
	f, err := data.NewFormatter(t, m)
	if err != nil {
		return 0, err
	}
	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	var n int64
	for sc.Scan() {
		var values map[string]any
		if err := json.Unmarshal(sc.Bytes(), &values); err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		ex, err := f.Example(data.Row{Values: values})
		if err != nil {
			return 0, err
		}
		if t == crucible.TaskDPO {
			p, err := data.TokenizePair(tok, ex, data.TokenizeOptions{})
			if err != nil {
				continue
			}
			n += int64(len(p.Chosen.IDs) + len(p.Rejected.IDs) - p.PromptLen)
			continue
		}
		seq, err := data.Tokenize(tok, ex, data.TokenizeOptions{})
		if err != nil {
			continue
		}
		n += int64(len(seq.IDs))
	}
	return n, sc.Err()
}
