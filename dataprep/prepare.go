// Package dataprep prepares a task's data for the validator: it resolves
// the dataset, settles the task type and column mapping (detecting what the
// customer left out), writes a deterministic train/test split in the
// standard columns, plants a synthetic task's honeypots, and counts the
// base model's parameters and the train split's tokens. It is the
// production implementation of the validator's Preparer seam (wired by
// node/validatornode), so that package validator needs neither data nor ml.
package dataprep

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// Models resolves a model name to a directory in Hugging Face layout.
type Models interface {
	ResolveModel(ctx context.Context, name string) (dir string, err error)
}

// Result is what preparation produced.
type Result struct {
	TrainPath, TestPath string
	TrainRows, TestRows int
	Mapping             crucible.ColumnMapping // the mapping of the files at TrainPath and TestPath
	SourceMapping       crucible.ColumnMapping // the mapping used on the customer's dataset
	Reason              string                 // why that mapping, when it was detected
	ModelParams         int64
	TrainTokens         int64 // tokens in the train split with the base model's tokenizer (from its first 200,000 rows when larger); 0 when not counted
}

// Preparer resolves a task's dataset (a local file or directory, an
// upload, or a Hugging Face dataset in the local cache), settles the task
// type and column mapping, and writes a deterministic train/test split in
// the standard columns.
type Preparer struct {
	Datasets interface {
		Resolve(ref string) (string, error)
	}
	Models Models
	Split  data.SplitOptions
	// MaxBadRows is how many unreadable rows are dropped before preparation
	// fails.
	MaxBadRows int
}

// Prepare writes the task's train and test splits into dir (train.jsonl,
// test.jsonl), both with honeypot planted when it is not nil. Returns
// EINVALID for a dataset that does not fit the task (another type, too few
// rows, unreadable rows beyond MaxBadRows), ENOTFOUND for a dataset or
// model that does not exist.
func (p *Preparer) Prepare(ctx context.Context, t *crucible.Task, dir string, honeypot *crucible.Honeypot) (*Result, error) {
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
	if t.TestDataset != "" {
		// The customer's own test set: every row of the dataset trains, and
		// the test set's rows (read with the same mapping) are the test split.
		held := res.TestRows
		if res.TestRows, err = p.customTest(t, source, dir, train, test); err != nil {
			return nil, err
		}
		res.TrainRows += held
	}
	for _, f := range []*os.File{train, test} {
		if err := f.Sync(); err != nil {
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	if honeypot != nil {
		for _, f := range []string{train.Name(), test.Name()} {
			if err := ApplyHoneypot(*honeypot, t.Type, f); err != nil {
				return nil, fmt.Errorf("honeypots: %w", err)
			}
		}
	}
	modelDir, err := p.Models.ResolveModel(ctx, t.Model)
	if err != nil {
		return nil, err
	}
	params, err := CountParams(modelDir)
	if err != nil {
		return nil, err
	}
	tokens, err := countTokens(ctx, modelDir, t.Type, res.Mapping, train.Name(), res.TrainRows)
	if err != nil {
		return nil, err
	}
	reason := why
	if res.Empty > 0 || res.BadRows > 0 {
		reason += fmt.Sprintf(" (dropped %d empty and %d unreadable rows)", res.Empty, res.BadRows)
	}
	return &Result{
		TrainPath: train.Name(), TestPath: test.Name(),
		TrainRows: res.TrainRows, TestRows: res.TestRows,
		Mapping: res.Mapping, SourceMapping: source, Reason: reason,
		ModelParams: params, TrainTokens: tokens,
	}, nil
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

// countSample is how many rows of a train split are tokenized to count its
// tokens; a larger split's count is extrapolated from them by rows.
const countSample = 200_000

// countTokens counts the tokens of a prepared split of rows rows (standard
// columns, JSONL) with the base model's tokenizer, in parallel and in
// bounded memory: exactly up to countSample rows, and for a larger split
// from its first countSample rows, scaled to all of them (the count is for
// reporting: tokenizing a 10 GB split only to count it would cost minutes).
// A model without a tokenizer gives 0.
func countTokens(ctx context.Context, modelDir string, t crucible.TaskType, m crucible.ColumnMapping, path string, rows int) (int64, error) {
	tok, err := tokenizer.Load(modelDir)
	if err != nil {
		return 0, nil
	}
	n, counted, err := data.CountTokens(ctx, path, t, m, tok, data.TokenizeOptions{}, countSample)
	if err != nil || counted == 0 || int64(rows) <= counted {
		return n, err
	}
	return int64(float64(n) * float64(rows) / float64(counted)), nil
}

// customTest moves the held-out rows already written to test into train,
// and writes the customer's test set (t.TestDataset, read with source) as
// the test split instead. It returns the test split's rows. Returns
// EINVALID for a test set of another type or without the dataset's
// columns, ENOTFOUND for one that does not exist.
func (p *Preparer) customTest(t *crucible.Task, source crucible.ColumnMapping, dir string, train, test *os.File) (int, error) {
	path, err := p.Datasets.Resolve(t.TestDataset)
	if err != nil {
		return 0, err
	}
	typ, _, _, err := data.Settle(path, t.Type, source)
	if err != nil {
		return 0, crucible.Wrap(err, crucible.EINVALID, "test set %s", t.TestDataset)
	}
	if typ != t.Type {
		return 0, crucible.Errorf(crucible.EINVALID, "test set %s looks like a %s dataset, but the task is %s", t.TestDataset, typ, t.Type)
	}
	// The dataset's held-out rows go to train.
	if _, err := test.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if _, err := io.Copy(train, test); err != nil {
		return 0, err
	}
	if err := test.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := test.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	// Every row of the test set is a test row: the part a split would
	// hold out and the rest.
	rest, err := os.Create(filepath.Join(dir, "test-rest.jsonl"))
	if err != nil {
		return 0, err
	}
	defer os.Remove(rest.Name())
	defer rest.Close()
	split := p.Split
	split.MinRows = -1
	res, err := data.Prepare(path, data.PrepareOptions{Type: t.Type, Mapping: source, Split: split, MaxBadRows: p.MaxBadRows}, rest, test)
	if err != nil {
		return 0, crucible.Wrap(err, crucible.EINVALID, "test set %s", t.TestDataset)
	}
	if _, err := rest.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if _, err := io.Copy(test, rest); err != nil {
		return 0, err
	}
	if n := res.TrainRows + res.TestRows; n == 0 {
		return 0, crucible.Errorf(crucible.EINVALID, "test set %s has no usable rows", t.TestDataset)
	}
	return res.TrainRows + res.TestRows, nil
}
