package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const trainText = `It was the best of times, it was the worst of times, it was the age of wisdom,
it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity,
it was the season of Light, it was the season of Darkness, it was the spring of hope,
it was the winter of despair. The tokenizer learns the most frequent pairs first: "th", "the",
" the", and so on, until the vocabulary is full. Numbers like 1234 and 2024 appear too.
Unicode: café, naïve, 你好世界, emoji 😀. <|endoftext|>`

func trainSample(t *testing.T, vocab int) *Tokenizer {
	t.Helper()
	texts := func(yield func(string) bool) {
		for range 20 {
			if !yield(trainText) {
				return
			}
		}
		for _, s := range testCorpus(t) {
			if !yield(s) {
				return
			}
		}
	}
	tok, err := Train(texts, vocab, []string{"<|endoftext|>", "<|pad|>"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTrainSaveLoad(t *testing.T) {
	tok := trainSample(t, 700)
	if tok.VocabSize() != 700 {
		t.Fatalf("VocabSize = %d, want 700", tok.VocabSize())
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	texts := append(testCorpus(t), trainText, "unseen words: zyzzyva quixotic", "bad \xff byte")
	for _, text := range texts {
		ids := tok.Encode(text)
		if got := back.Encode(text); !slices.Equal(got, ids) {
			t.Errorf("%q: loaded tokenizer gives %v, trained one %v", text, got, ids)
		}
		if dec := back.Decode(ids); dec != text {
			t.Errorf("round trip of %q gave %q", text, dec)
		}
	}
	// The merges must compress the text they were learned from.
	if n, bytes := len(tok.Encode(trainText)), len(trainText); n*3 > bytes {
		t.Errorf("%d tokens for %d bytes: merges do not compress", n, bytes)
	}
	eot, _ := back.TokenID("<|endoftext|>")
	pad, _ := back.TokenID("<|pad|>")
	if back.EOSID() != eot || back.BOSID() != eot || back.PadID() != pad || back.AddBOS() {
		t.Errorf("EOS %d BOS %d pad %d AddBOS %v; <|endoftext|> is %d, <|pad|> %d", back.EOSID(), back.BOSID(), back.PadID(), back.AddBOS(), eot, pad)
	}
	chat, err := back.ApplyChatTemplate([]Message{{"user", "hi"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if chat != "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n" {
		t.Errorf("chat = %q", chat)
	}
	ids := back.Encode(chat)
	start, _ := back.TokenID("<|im_start|>")
	if ids[0] != start || strings.Count(back.Decode(ids), "<|im_start|>") != 2 {
		t.Errorf("chat ids %v do not start with <|im_start|> (%d)", ids, start)
	}
}

// TestTrainReproducesTestdata trains as tools/goldens/tokenizer/trained does
// and compares with the files it saved, which the Hugging Face JS tokenizer
// loaded to make testdata/trained/golden.json.
func TestTrainReproducesTestdata(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("testdata", "train.txt"))
	if err != nil {
		t.Fatal(err)
	}
	corpus := testCorpus(t)
	texts := func(yield func(string) bool) {
		for range 20 {
			if !yield(string(text)) {
				return
			}
		}
		for _, s := range corpus {
			if !yield(s) {
				return
			}
		}
	}
	tok, err := Train(texts, 800, []string{"<|endoftext|>", "<|pad|>"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", "trained", f))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from testdata/trained/%s (%d vs %d bytes)", f, f, len(got), len(want))
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	a, b := trainSample(t, 400), trainSample(t, 400)
	if !slices.Equal(a.tokens, b.tokens) {
		t.Error("two trainings on the same text learned different vocabularies")
	}
}

func TestTrainErrors(t *testing.T) {
	one := func(yield func(string) bool) { yield("some text") }
	none := func(yield func(string) bool) {}
	tests := []struct {
		name    string
		texts   func(func(string) bool)
		vocab   int
		special []string
		want    string
	}{
		{"vocab too small", one, 200, nil, "below the 256 byte tokens"},
		{"no text", none, 300, nil, "no text"},
		{"repeated special", one, 300, []string{"<a>", "<a>"}, "repeated"},
	}
	for _, tt := range tests {
		_, err := Train(tt.texts, tt.vocab, tt.special)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
