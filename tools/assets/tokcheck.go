package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/ml/tokenizer"
)

//go:embed tokcheck.mjs
var tokcheckScript []byte

// tokcheckCase is one text and the ids crucible encodes it to.
type tokcheckCase struct {
	Text    string `json:"text"`
	IDs     []int  `json:"ids"`
	Special bool   `json:"special,omitempty"` // holds special tokens
}

// tokcheckEdgeCases exercise the pre-tokenizer and byte-level mapping.
var tokcheckEdgeCases = []string{
	"  leading spaces, trailing spaces   ",
	"tabs\tand\nnew\n\nlines\r\n and   runs    of spaces",
	"Ünïcödé: naïve café, 日本語, Ελληνικά, emoji 🙂👍🏽",
	"numbers 1234567 3.14159 1,000,000 and 2026-11-25",
	"contractions: don't, I'll, we've, she's, they're, I'd, 'quoted'",
	"punctuation!!! ... ?? -- — “curly” ‘quotes’ (brackets) [x] {y}",
	"",
	" ",
	"a",
}

// tokcheck encodes a few hundred texts (held-out corpus paragraphs, dataset
// rows, the chat template's rendering, edge cases) with assets/tokenizer,
// then has the reference implementation encode and decode the same texts
// from the same files (Node and @huggingface/tokenizers, installed into the
// work directory at development time only) and fails on any difference.
func tokcheck(o options) error {
	dir := tokenizerDir(o)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return err
	}
	var texts []string
	val, err := readDocs(filepath.Join(o.out, "corpus", "val.jsonl"))
	if err != nil {
		return err
	}
	for i, d := range val {
		if i%4 == 0 {
			texts = append(texts, strings.Split(d.Text, "\n\n")...)
		}
	}
	for _, name := range []string{"facts.jsonl", "definitions.jsonl"} {
		rows, err := readInstructRows(filepath.Join(datasetsDir(o), name))
		if err != nil {
			return err
		}
		for i, r := range rows {
			if i%10 == 0 {
				texts = append(texts, r.Instruction, r.Output)
			}
		}
	}
	texts = append(texts, tokcheckEdgeCases...)
	cases := make([]tokcheckCase, 0, len(texts)+1)
	for _, t := range texts {
		cases = append(cases, tokcheckCase{Text: t, IDs: tok.Encode(t)})
	}
	chat, err := tok.ApplyChatTemplate([]tokenizer.Message{{Role: "user", Content: "What is the capital of France?"},
		{Role: "assistant", Content: "Paris."}}, true)
	if err != nil {
		return err
	}
	cases = append(cases, tokcheckCase{Text: chat + "<|endoftext|>", IDs: tok.Encode(chat + "<|endoftext|>"), Special: true})

	work := filepath.Join(o.work, "tokcheck")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(cases)
	if err != nil {
		return err
	}
	casesPath := filepath.Join(work, "cases.json")
	if err := os.WriteFile(casesPath, b, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "tokcheck.mjs"), tokcheckScript, 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(work, "node_modules", "@huggingface", "tokenizers")); err != nil {
		install := exec.Command("npm", "install", "--no-save", "--prefix", work, "@huggingface/tokenizers@0.2.0")
		if out, err := install.CombinedOutput(); err != nil {
			return fmt.Errorf("npm install @huggingface/tokenizers: %v: %s", err, out)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	cmd := exec.Command("node", "tokcheck.mjs", abs, "cases.json")
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		return fmt.Errorf("reference check failed: %w", err)
	}
	return nil
}

// readInstructRows reads an instruct JSONL file written by writeBoth.
func readInstructRows(path string) ([]instructRow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []instructRow
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r instructRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}
