package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testVariants derive tokenizers from the stored ones by editing a few
// fields, exactly as tools/goldens/tokenizer/gen.mjs does before making their
// golden files. Edits work on the top-level fields as raw JSON, so the large
// vocabulary is not decoded twice.
var testVariants = map[string]struct {
	base string
	edit func(t testing.TB, tj map[string]json.RawMessage)
}{
	"qwen3-llama3": {"qwen3", func(t testing.TB, tj map[string]json.RawMessage) {
		editJSON(t, tj, "pre_tokenizer", func(v any) any {
			pat := v.(map[string]any)["pretokenizers"].([]any)[0].(map[string]any)["pattern"].(map[string]any)
			re := pat["Regex"].(string)
			if !strings.Contains(re, `\p{N}|`) {
				t.Fatalf("qwen3 pattern %q has no \\p{N}|", re)
			}
			pat["Regex"] = strings.Replace(re, `\p{N}|`, `\p{N}{1,3}|`, 1)
			return v
		})
		var model map[string]json.RawMessage
		if err := json.Unmarshal(tj["model"], &model); err != nil {
			t.Fatal(err)
		}
		model["ignore_merges"] = json.RawMessage("true")
		tj["model"] = mustMarshal(t, model)
		tj["normalizer"] = json.RawMessage("null")
		editJSON(t, tj, "added_tokens", func(v any) any {
			for _, a := range v.([]any) {
				a := a.(map[string]any)
				switch a["content"] {
				case "<|im_end|>":
					a["lstrip"] = true
				case "<|im_start|>":
					a["rstrip"] = true
				}
			}
			return v
		})
	}},
	"mistral-metaspace": {"mistral", func(t testing.TB, tj map[string]json.RawMessage) {
		meta := mustMarshal(t, map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false})
		tj["normalizer"] = json.RawMessage("null")
		tj["pre_tokenizer"] = meta
		tj["decoder"] = meta
	}},
	"mistral-metaspace-split": {"mistral", func(t testing.TB, tj map[string]json.RawMessage) {
		tj["normalizer"] = json.RawMessage("null")
		tj["pre_tokenizer"] = mustMarshal(t, map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true})
		tj["decoder"] = mustMarshal(t, map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true})
	}},
	"phi3": {"mistral", func(t testing.TB, tj map[string]json.RawMessage) {
		editJSON(t, tj, "added_tokens", func(v any) any {
			add := func(id int, content string, rstrip bool) map[string]any {
				return map[string]any{"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": rstrip, "normalized": false, "special": true}
			}
			return append(v.([]any), add(32000, "<|endoftext|>", false), add(32001, "<|assistant|>", true),
				add(32006, "<|system|>", true), add(32007, "<|end|>", true), add(32010, "<|user|>", true))
		})
	}},
	"smollm2": {"gpt2", func(t testing.TB, tj map[string]json.RawMessage) {
		tj["pre_tokenizer"] = mustMarshal(t, map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Digits", "individual_digits": true},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		}})
	}},
	"tekken": {"gpt2", func(t testing.TB, tj map[string]json.RawMessage) {
		tj["pre_tokenizer"] = mustMarshal(t, map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": tekkenPattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}})
	}},
	"mistral-added": {"mistral", func(t testing.TB, tj map[string]json.RawMessage) {
		editJSON(t, tj, "added_tokens", func(v any) any {
			return append(v.([]any),
				map[string]any{"id": 32000, "content": "gopher", "normalized": true, "special": false},
				map[string]any{"id": 32001, "content": "[INST]", "lstrip": true, "rstrip": true, "normalized": false, "special": true},
			)
		})
	}},
}

// tekkenPattern is the split pattern of Mistral's Tekken tokenizer (Nemo,
// Ministral).
const tekkenPattern = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`

func editJSON(t testing.TB, tj map[string]json.RawMessage, field string, edit func(any) any) {
	t.Helper()
	var v any
	if err := json.Unmarshal(tj[field], &v); err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	tj[field] = mustMarshal(t, edit(v))
}

func mustMarshal(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
	var tj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &tj); err != nil {
		t.Fatal(err)
	}
	v.edit(t, tj)
	cj, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	tok, err := FromJSON(mustMarshal(t, tj), cj)
	if err != nil {
		t.Fatalf("variant %s: %v", name, err)
	}
	return tok, true
}

// TestMetaspaceSplit checks the pieces of the Metaspace pre-tokenizer's
// split mode (each run of "▁" starts a piece).
func TestMetaspaceSplit(t *testing.T) {
	m := metaspace{repl: "▁", prependFirst: true, split_: true}
	var pieces []string
	m.split("  a b  c", true, func(p string) { pieces = append(pieces, p) })
	if want := []string{"▁▁a", "▁b", "▁▁c"}; !slices.Equal(pieces, want) {
		t.Errorf("pieces = %q, want %q", pieces, want)
	}
	pieces = nil
	m.split("a b", false, func(p string) { pieces = append(pieces, p) })
	if want := []string{"a", "▁b"}; !slices.Equal(pieces, want) {
		t.Errorf("pieces of a later stretch = %q, want %q", pieces, want)
	}
}
