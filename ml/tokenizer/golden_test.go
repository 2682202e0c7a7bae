package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// goldenModels are the tokenizers under testdata with golden ids and chat
// renderings made by the Hugging Face JS implementation
// (tools/goldens/tokenizer/gen.mjs).
// "trained" is crucible's own Train output (tools/goldens/tokenizer/trained).
// The last four are variants (variants_test.go).
var goldenModels = []string{"gpt2", "qwen3", "mistral", "trained",
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
