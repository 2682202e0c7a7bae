package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/ml/model"
)

// tinyModel writes a small random Llama model with the shipped tokenizer,
// so that the whole network runs in seconds even under the race detector.
func tinyModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "assets", "tokenizer", f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	m, err := model.New(model.NewLlamaConfig(32, 64, 2, 2, 1, 4096, 128), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// firstLines writes the first n lines of a shipped dataset to a temp file.
func firstLines(t *testing.T, name string, n int) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "assets", "datasets", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for i := 0; i < n && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, []byte(b.String()), 0o644)
	return p
}

// TestDemoEndToEnd runs the demo's whole network — chain, validator, four
// miners with the real strategies, the real evaluator — on a tiny model.
func TestDemoEndToEnd(t *testing.T) {
	cfg := &demoSettings{Dir: t.TempDir(), Assets: filepath.Join("..", "..", "assets"), Model: tinyModel(t),
		Dataset: firstLines(t, "facts.jsonl", 240), Type: "instruct", Budget: 20 * time.Second,
		Listen: "127.0.0.1:0", Exit: true}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := runDemo(ctx, cfg, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"status training", "result uploaded", "base model test loss", "status success",
		"leaderboard", "winner:", "before and after", "weights set on chain", "incentive"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(cfg.Dir, "winner"))
	if len(entries) == 0 {
		t.Error("the winner was not unpacked")
	}
}
