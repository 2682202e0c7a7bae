package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// goldenModels are the tokenizers under testdata with golden ids and chat
// renderings made by the Hugging Face JS implementation
// (tools/goldens/tokenizer/gen.mjs).
// "trained" is crucible's own Train output (tools/goldens/tokenizer/trained);
// gemma3 is Gemma 3's tokenizer and gpt4o the o200k tokenizer Phi-4-mini
// builds on. The rest are variants (variants_test.go): Phi-3's chat tokens
// on Llama 2's vocabulary, SmolLM2's digit splitting, Mistral's Tekken
// pattern, Llama 3's pattern, Metaspace and added tokens.
var goldenModels = []string{"gpt2", "qwen3", "mistral", "trained", "gemma3", "gpt4o",
	"phi3", "smollm2", "tekken",
	"qwen3-llama3", "mistral-metaspace", "mistral-metaspace-split", "mistral-added"}

type goldenCase struct {
	Text    string `json:"text"`
	IDs     []int  `json:"ids"`
	Decoded string `json:"decoded"`
}

func readGolden[T any](t *testing.T, model, file string) T {
	t.Helper()
	var v T
	b, err := os.ReadFile(filepath.Join("testdata", model, file))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s/%s: %v", model, file, err)
	}
	return v
}

func TestGoldenIDs(t *testing.T) {
	for _, model := range goldenModels {
		t.Run(model, func(t *testing.T) {
			tok := loadTestdata(t, model)
			cases := readGolden[[]goldenCase](t, model, "golden.json")
			if len(cases) != len(testCorpus(t)) {
				t.Fatalf("golden.json has %d cases, corpus.json %d: regenerate the goldens", len(cases), len(testCorpus(t)))
			}
			for i, c := range cases {
				got := tok.Encode(c.Text)
				if !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, c.Text, got, c.IDs)
					continue
				}
				if dec := tok.Decode(c.IDs); dec != c.Decoded {
					t.Errorf("case %d %q: Decode = %q, want %q", i, c.Text, dec, c.Decoded)
				}
			}
		})
	}
}

type goldenChat struct {
	Name                string `json:"name"`
	AddGenerationPrompt bool   `json:"add_generation_prompt"`
	Text                string `json:"text"`
	Error               bool   `json:"error"` // the reference template raised
}

func TestGoldenChatTemplates(t *testing.T) {
	var convs []struct {
		Name     string    `json:"name"`
		Messages []Message `json:"messages"`
	}
	b, err := os.ReadFile(filepath.Join("testdata", "chat.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &convs); err != nil {
		t.Fatal(err)
	}
	for _, model := range goldenModels {
		t.Run(model, func(t *testing.T) {
			tok := loadTestdata(t, model)
			want := readGolden[[]goldenChat](t, model, "chat.json")
			if len(want) != len(convs) {
				t.Fatalf("%d renderings for %d conversations: regenerate the goldens", len(want), len(convs))
			}
			for i, w := range want {
				got, err := tok.ApplyChatTemplate(convs[i].Messages, w.AddGenerationPrompt)
				if w.Error {
					if err == nil {
						t.Errorf("%s: rendered %q, want the template's error", w.Name, got)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", w.Name, err)
					continue
				}
				if got != w.Text {
					t.Errorf("%s:\n got %q\nwant %q", w.Name, got, w.Text)
				}
			}
		})
	}
}

// TestGoldenRandom checks 500 random texts per model: runs of every kind of
// whitespace, contractions in both cases, digits, scripts, emoji and added
// tokens glued to text.
func TestGoldenRandom(t *testing.T) {
	for _, model := range goldenModels {
		t.Run(model, func(t *testing.T) {
			tok := loadTestdata(t, model)
			cases := readGolden[[]goldenCase](t, model, "golden_random.json")
			fails := 0
			for i, c := range cases {
				got := tok.Encode(c.Text)
				if !slices.Equal(got, c.IDs) {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, c.Text, got, c.IDs)
					if fails++; fails > 10 {
						t.Fatal("too many failures")
					}
				}
			}
		})
	}
}

// TestGoldenTemplates renders the chat formats of the supported families
// (Mistral v0.1 and v0.3, Llama 3 and 3.1, Zephyr, Gemma, SmolLM2 and
// SmolLM3, Qwen2.5, Phi-3, Phi-4-mini: loops, set, namespace, slicing, string
// methods, trim, modulo, raise_exception) and compares with Python's jinja2
// as transformers sets it up (tools/goldens/tokenizer/chat_templates.py),
// errors included.
func TestGoldenTemplates(t *testing.T) {
	var templates []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	var convs []struct {
		Name     string    `json:"name"`
		Messages []Message `json:"messages"`
	}
	var want []struct {
		Template            string  `json:"template"`
		Conversation        string  `json:"conversation"`
		AddGenerationPrompt bool    `json:"add_generation_prompt"`
		Text                *string `json:"text"`
		Error               bool    `json:"error"`
	}
	for file, v := range map[string]any{"templates.json": &templates, "chat.json": &convs, "templates_golden.json": &want} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	toks := map[string]*Tokenizer{}
	for _, tm := range templates {
		tj := strings.Replace(tinyJSON, `{"id": 0, "content": "<unk>", "special": true}`, `{"id": 0, "content": "<unk>", "special": true}, {"id": 8, "content": "<s>", "special": true}`, 1)
		cj, _ := json.Marshal(map[string]any{"chat_template": tm.Template, "bos_token": "<s>", "eos_token": "</s>"})
		tok, err := FromJSON([]byte(tj), cj)
		if err != nil {
			t.Fatal(err)
		}
		toks[tm.Name] = tok
	}
	msgs := map[string][]Message{}
	for _, c := range convs {
		msgs[c.Name] = c.Messages
	}
	if len(want) != len(templates)*len(convs)*2 {
		t.Fatalf("%d renderings for %d templates and %d conversations: regenerate the goldens", len(want), len(templates), len(convs))
	}
	for _, w := range want {
		got, err := toks[w.Template].ApplyChatTemplate(msgs[w.Conversation], w.AddGenerationPrompt)
		switch {
		case w.Error && err == nil:
			t.Errorf("%s on %s: rendered %q, want an error", w.Template, w.Conversation, got)
		case !w.Error && err != nil:
			t.Errorf("%s on %s: %v", w.Template, w.Conversation, err)
		case !w.Error && got != *w.Text:
			t.Errorf("%s on %s (generation prompt %v):\n got %q\nwant %q", w.Template, w.Conversation, w.AddGenerationPrompt, got, *w.Text)
		}
	}
}
