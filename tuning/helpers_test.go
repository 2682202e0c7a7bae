package tuning

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

var (
	baseOnce sync.Once
	baseDir  string
	baseErr  error
	shared   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crucible-tuning-test")
	if err != nil {
		panic(err)
	}
	shared = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	things = []string{"sky", "grass", "sun", "snow", "coal", "rose", "sea", "lemon", "leaf", "milk", "night", "fire"}
	colors = []string{"blue", "green", "yellow", "white", "black", "red", "blue", "yellow", "green", "white", "black", "red"}
)

// tinyBase writes (once) a small Llama model with a byte-level BPE
// tokenizer trained on the test vocabulary.
func tinyBase(t *testing.T) string {
	t.Helper()
	baseOnce.Do(func() {
		baseDir = filepath.Join(shared, "base")
		var texts []string
		for i, th := range things {
			texts = append(texts, fmt.Sprintf("What color is the %s? The %s is %s. Tell me a nice color.", th, th, colors[i]))
		}
		texts = append(texts, tokenizer.SampleText(4000, 1))
		tok, err := tokenizer.Train(slices.Values(texts), 400, nil)
		if err != nil {
			baseErr = err
			return
		}
		cfg := model.NewLlamaConfig(48, 96, 2, 4, 2, tok.VocabSize(), 128)
		cfg.BOS, cfg.EOS = tok.BOSID(), []int{tok.EOSID()}
		m, err := model.New(cfg, 11)
		if err != nil {
			baseErr = err
			return
		}
		if baseErr = m.Save(baseDir); baseErr != nil {
			return
		}
		baseErr = tok.Save(baseDir)
	})
	if baseErr != nil {
		t.Fatal(baseErr)
	}
	return baseDir
}

// writeJSONL writes rows to dir/name.
func writeJSONL(t *testing.T, dir, name string, rows []map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// instructRows asks the color of things: a small learnable dataset.
func instructRows(n int, seed uint64) []map[string]any {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([]map[string]any, n)
	for i := range rows {
		k := rng.IntN(len(things))
		rows[i] = map[string]any{"instruction": fmt.Sprintf("What color is the %s?", things[k]), "output": fmt.Sprintf("The %s is %s.", things[k], colors[k])}
	}
	return rows
}

// dpoRows prefers the right color over a wrong one.
func dpoRows(n int, seed uint64) []map[string]any {
	rng := rand.New(rand.NewPCG(seed, 2))
	rows := make([]map[string]any, n)
	for i := range rows {
		k := rng.IntN(len(things))
		wrong := colors[(k+1+rng.IntN(3))%len(colors)]
		if wrong == colors[k] {
			wrong = "purple"
		}
		rows[i] = map[string]any{"prompt": fmt.Sprintf("What color is the %s?", things[k]),
			"chosen": fmt.Sprintf("The %s is %s.", things[k], colors[k]), "rejected": fmt.Sprintf("Tell me a %s %s.", wrong, things[k])}
	}
	return rows
}
