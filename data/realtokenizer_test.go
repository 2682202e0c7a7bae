package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

var corpus = []string{
	"The quick brown fox jumps over the lazy dog.",
	"What is the capital of France? The capital of France is Paris.",
	"user assistant system hello there, how are you today?",
}

// realTokenizer trains a small byte-level BPE tokenizer with crucible's own
// trainer, saves it in Hugging Face format, patches its config with the
// given fields (chat template, BOS/EOS) and loads it back, as a model
// directory would be.
func realTokenizer(t *testing.T, special []string, config map[string]any) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Train(slices.Values(corpus), 256+len(special)+2+60, special)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range config {
		cfg[k] = v
	}
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}

// realTokenizerB is a trained tokenizer with ChatML tokens, for benchmarks.
func realTokenizerB(b *testing.B) *tokenizer.Tokenizer {
	tok, err := tokenizer.Train(slices.Values(corpus), 256+3+200, nil)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func decodeCounted(tok *tokenizer.Tokenizer, s Sequence) []string {
	var runs []string
	var cur []int
	for i, l := range s.Labels {
		if l == IgnoreIndex {
			if cur != nil {
				runs = append(runs, tok.Decode(cur))
				cur = nil
			}
			continue
		}
		cur = append(cur, int(s.IDs[i]))
	}
	if cur != nil {
		runs = append(runs, tok.Decode(cur))
	}
	return runs
}

const qwenTemplate = `{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

const llama3Template = `{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}`

func TestTokenizeWithRealTokenizer(t *testing.T) {
	conv := Example{Type: crucible.TaskChat, Messages: []Message{
		{RoleUser, "What is the capital of France?"}, {RoleAssistant, "Paris."},
		{RoleUser, "And the fox?"}, {RoleAssistant, "It jumps."}}}

	t.Run("qwen-style template", func(t *testing.T) {
		tok := realTokenizer(t, []string{"<|endoftext|>"}, map[string]any{"chat_template": qwenTemplate, "eos_token": "<|im_end|>"})
		s, err := Tokenize(tok, conv, TokenizeOptions{ChatTemplate: TemplateOf(tok)})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"Paris.<|im_end|>\n", "It jumps.<|im_end|>\n"}
		if got := decodeCounted(tok, s); !slices.Equal(got, want) {
			t.Errorf("counted %q, want %q", got, want)
		}
		// The pieces, encoded separately, give the ids of the whole text.
		full, _ := TemplateOf(tok)(conv.Messages, false)
		whole := tok.Encode(full)
		if len(whole) != len(s.IDs) {
			t.Fatalf("%d ids piecewise, %d whole", len(s.IDs), len(whole))
		}
		for i := range whole {
			if int32(whole[i]) != s.IDs[i] {
				t.Fatalf("id %d differs: %d vs %d", i, s.IDs[i], whole[i])
			}
		}
	})

	t.Run("llama3-style template with BOS in the text", func(t *testing.T) {
		special := []string{"<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"}
		tok := realTokenizer(t, special, map[string]any{"chat_template": llama3Template,
			"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "add_bos_token": true})
		if !tok.AddBOS() {
			t.Fatal("tokenizer does not want BOS")
		}
		s, err := Tokenize(tok, conv, TokenizeOptions{ChatTemplate: TemplateOf(tok)})
		if err != nil {
			t.Fatal(err)
		}
		if int(s.IDs[0]) != tok.BOSID() || int(s.IDs[1]) == tok.BOSID() || s.Labels[0] != IgnoreIndex {
			t.Errorf("BOS handling: ids start %v, labels %v", s.IDs[:2], s.Labels[:2])
		}
		want := []string{"Paris.<|eot_id|>", "It jumps.<|eot_id|>"}
		if got := decodeCounted(tok, s); !slices.Equal(got, want) {
			t.Errorf("counted %q, want %q", got, want)
		}
	})

	t.Run("qwen3 template (not prefix-stable)", func(t *testing.T) {
		// Qwen3's template (testdata/qwen3_chat_template.jinja, from its
		// tokenizer_config.json) adds an empty <think> block to the last
		// assistant turn only, so prefixes do not render as prefixes.
		tmpl, err := os.ReadFile("testdata/qwen3_chat_template.jinja")
		if err != nil {
			t.Fatal(err)
		}
		tok := realTokenizer(t, []string{"<|endoftext|>"}, map[string]any{"chat_template": string(tmpl), "eos_token": "<|im_end|>"})
		render := TemplateOf(tok)
		head, _ := render(conv.Messages[:2], false)
		full, _ := render(conv.Messages, false)
		if strings.HasPrefix(full, head) {
			t.Fatal("the template is prefix-stable; this test no longer tests the fallback")
		}
		s, err := Tokenize(tok, conv, TokenizeOptions{ChatTemplate: render})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"Paris.<|im_end|>", "It jumps.<|im_end|>"}
		if got := decodeCounted(tok, s); !slices.Equal(got, want) {
			t.Errorf("counted %q, want %q", got, want)
		}
		if whole := tok.Encode(full); !slices.Equal(whole, toInts(s.IDs)) {
			t.Errorf("piecewise ids differ from the whole text's")
		}
		// A dpo pair with a conversational prompt renders the same way.
		p, err := TokenizePair(tok, Example{Type: crucible.TaskDPO, Messages: conv.Messages[:3], Chosen: "It jumps.", Rejected: "It sleeps."}, TokenizeOptions{ChatTemplate: render})
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeCounted(tok, p.Rejected); len(got) != 1 || !strings.Contains(got[0], "It sleeps.<|im_end|>") {
			t.Errorf("rejected counted %q", got)
		}
	})

	t.Run("instruct and pair", func(t *testing.T) {
		tok := realTokenizer(t, []string{"<|endoftext|>"}, nil)
		f, err := NewFormatter(crucible.TaskInstruct, crucible.ColumnMapping{FieldInstruction: "q", FieldOutput: "a"})
		if err != nil {
			t.Fatal(err)
		}
		ex, err := f.Example(Row{Values: map[string]any{"q": "What is the capital of France?", "a": " Paris."}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Tokenize(tok, ex, TokenizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeCounted(tok, s); !slices.Equal(got, []string{" Paris.<|endoftext|>"}) {
			t.Errorf("counted %q", got)
		}
		if !strings.HasPrefix(tok.Decode(toInts(s.IDs)), "What is the capital of France?") {
			t.Errorf("text %q", tok.Decode(toInts(s.IDs)))
		}
		p, err := TokenizePair(tok, Example{Type: crucible.TaskDPO, Prompt: "Capital of France?", Chosen: " Paris", Rejected: " Rome"}, TokenizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeCounted(tok, p.Rejected); !slices.Equal(got, []string{" Rome<|endoftext|>"}) {
			t.Errorf("rejected counted %q", got)
		}
	})
}

func toInts(ids []int32) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}
