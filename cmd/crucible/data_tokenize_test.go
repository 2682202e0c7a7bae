package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A token file written by data tokenize evaluates to the loss of the raw
// split, and a second eval of the raw split reuses the cached tokens.
func TestDataTokenizeThenEval(t *testing.T) {
	model := "../../assets/models/crucible-tiny"
	all, err := os.ReadFile("../../assets/datasets/facts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	facts := filepath.Join(dir, "facts.jsonl")
	lines := strings.SplitAfter(string(all), "\n")
	if err := os.WriteFile(facts, []byte(strings.Join(lines[:300], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "facts.tokens.safetensors")
	printed, err := runCLI(t, "data", "tokenize", "--model", model, "--data", facts, "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(printed, "rows       300 read") || !strings.Contains(printed, "U16 ids") {
		t.Fatalf("data tokenize printed:\n%s", printed)
	}
	fromTokens, err := runCLI(t, "eval", "--model", model, "--tokens", out)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	raw, err := runCLI(t, "eval", "--model", model, "--data", facts, "--token-cache", cache)
	if err != nil {
		t.Fatal(err)
	}
	again, err := runCLI(t, "eval", "--model", model, "--data", facts, "--token-cache", cache)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fromTokens, "test loss") || fromTokens != raw || raw != again {
		t.Fatalf("token file:\n%s\nraw split:\n%s\nraw split again (cached tokens):\n%s", fromTokens, raw, again)
	}
	if files, _ := filepath.Glob(filepath.Join(cache, "*.tokens.safetensors")); len(files) != 1 {
		t.Fatalf("token cache holds %v", files)
	}
}
