// Package assets ships crucible's own small base model, its tokenizer and
// the demo datasets inside the binary, so that `crucible demo` and tests
// run on a fresh machine with no network.
//
// Everything here is built from public-domain and permissively licensed
// text by `go run ./tools/assets all`; README.md in this directory says
// from what, how, and what the model measures.
package assets

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

//go:embed tokenizer datasets models/crucible-tiny
var files embed.FS

// Paths of the shipped assets inside FS.
const (
	// BaseModel is crucible-tiny: a 5.5M-parameter Llama pretrained by
	// crucible, in Hugging Face layout with its tokenizer (BF16 weights).
	BaseModel = "models/crucible-tiny"
	// Tokenizer is the byte-level BPE tokenizer (tokenizer.json and
	// tokenizer_config.json with a ChatML template).
	Tokenizer = "tokenizer"
	// Facts is an instruct dataset (instruction, output) of short factual
	// questions and answers: capitals, elements, presidents, ...
	Facts = "datasets/facts.jsonl"
	// FactsParquet is Facts as Parquet.
	FactsParquet = "datasets/facts.parquet"
	// Definitions is an instruct dataset asking for WordNet definitions.
	Definitions = "datasets/definitions.jsonl"
	// DefinitionsParquet is Definitions as Parquet.
	DefinitionsParquet = "datasets/definitions.parquet"
	// FactsDPO is a preference dataset (prompt, chosen, rejected): the
	// true answer against a sibling fact's answer.
	FactsDPO = "datasets/facts_dpo.jsonl"
	// FactsDPOParquet is FactsDPO as Parquet.
	FactsDPOParquet = "datasets/facts_dpo.parquet"
	// Arithmetic is a grpo dataset (prompt, answer) of one-step word
	// problems with whole-number answers, for the numeric_answer reward.
	Arithmetic = "datasets/arithmetic.jsonl"
	// ArithmeticParquet is Arithmetic as Parquet.
	ArithmeticParquet = "datasets/arithmetic.parquet"
	// ArithmeticRewards are Arithmetic's rewards (a JSON array, as the API
	// takes them): the demo's, and those of the validator's synthetic grpo
	// tasks on it.
	ArithmeticRewards = "datasets/arithmetic.rewards.json"
)

// FS returns the embedded assets, rooted at this directory.
func FS() fs.FS { return files }

// Extract writes the named asset (a file or a directory, one of the
// constants above) under dir, keeping its relative path, and returns the
// path of the written copy.
func Extract(name, dir string) (string, error) {
	name = path.Clean(name)
	info, err := fs.Stat(files, name)
	if err != nil {
		return "", fmt.Errorf("extract asset %q: %w", name, err)
	}
	dst := filepath.Join(dir, filepath.FromSlash(name))
	if !info.IsDir() {
		return dst, copyFile(name, dst)
	}
	err = fs.WalkDir(files, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return copyFile(p, filepath.Join(dir, filepath.FromSlash(p)))
	})
	if err != nil {
		return "", fmt.Errorf("extract asset %q: %w", name, err)
	}
	return dst, nil
}

func copyFile(name, dst string) error {
	b, err := files.ReadFile(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
