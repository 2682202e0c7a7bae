package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testVariants derive tokenizers from the stored ones by editing a few
// fields, exactly as tools/goldens/tokenizer/gen.mjs does before making their
// golden files.
var testVariants = map[string]struct {
	base string
	edit func(t testing.TB, tj map[string]any)
}{
	"qwen3-llama3split": {"qwen3", func(t testing.TB, tj map[string]any) {
		pat := tj["pre_tokenizer"].(map[string]any)["pretokenizers"].([]any)[0].(map[string]any)["pattern"].(map[string]any)
		re := pat["Regex"].(string)
		if !strings.Contains(re, `\p{N}|`) {
			t.Fatalf("qwen3 pattern %q has no \\p{N}|", re)
		}
		pat["Regex"] = strings.Replace(re, `\p{N}|`, `\p{N}{1,3}|`, 1)
		tj["model"].(map[string]any)["ignore_merges"] = true
		tj["normalizer"] = nil
	}},
	"mistral-metaspace": {"mistral", func(t testing.TB, tj map[string]any) {
		tj["normalizer"] = nil
		tj["pre_tokenizer"] = map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}
		tj["decoder"] = map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}
	}},
	"qwen3-strip": {"qwen3", func(t testing.TB, tj map[string]any) {
		for _, a := range tj["added_tokens"].([]any) {
			a := a.(map[string]any)
			switch a["content"] {
			case "<|im_end|>":
				a["lstrip"] = true
			case "<|im_start|>":
				a["rstrip"] = true
			}
		}
	}},
	"mistral-added": {"mistral", func(t testing.TB, tj map[string]any) {
		tj["added_tokens"] = append(tj["added_tokens"].([]any),
			map[string]any{"id": 32000, "content": "gopher", "normalized": true, "special": false},
			map[string]any{"id": 32001, "content": "[INST]", "lstrip": true, "rstrip": true, "normalized": false, "special": true},
		)
	}},
}

// loadVariant builds a variant tokenizer; see testVariants.
func loadVariant(t testing.TB, name string) (*Tokenizer, bool) {
	v, ok := testVariants[name]
	if !ok {
		return nil, false
	}
	dir := filepath.Join("testdata", v.base)
	raw, err := readMaybeGzip(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tj map[string]any
	if err := dec.Decode(&tj); err != nil {
		t.Fatal(err)
	}
	v.edit(t, tj)
	edited, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	cj, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	tok, err := FromJSON(edited, cj)
	if err != nil {
		t.Fatalf("variant %s: %v", name, err)
	}
	return tok, true
}
