package localnet

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/ml/model"
)

// Fixtures for tests and experiments that need a real network to finish in
// seconds: a tiny random model and a slice of a shipped dataset.

// TinyModel writes a small random Llama model (2 layers, width 32) with the
// shipped tokenizer into dir/name and returns its path: the whole network
// trains and evaluates it in seconds, even under the race detector.
func TinyModel(dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := fs.ReadFile(assets.FS(), path.Join(assets.Tokenizer, f))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			return "", err
		}
	}
	m, err := model.New(model.NewLlamaConfig(32, 64, 2, 2, 1, 4096, 128), 1)
	if err != nil {
		return "", err
	}
	if err := m.Save(out); err != nil {
		return "", err
	}
	return out, nil
}

// SampleDataset writes the first rows of a shipped JSONL dataset (an
// assets constant such as assets.Facts) to dir and returns its path.
func SampleDataset(dir, name string, rows int) (string, error) {
	f, err := assets.FS().Open(name)
	if err != nil {
		return "", fmt.Errorf("sample dataset: %w", err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for i := 0; i < rows && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	p := filepath.Join(dir, path.Base(name))
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}
