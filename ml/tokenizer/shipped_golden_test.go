package tokenizer

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

var printShipped = flag.Bool("print-shipped-golden", false, "print the ids hashes of TestShippedGolden instead of checking them")

// trickyTexts are inputs that stress the pre-tokenizers, the byte-level
// mapping and the word cache: invalid UTF-8, combining marks, scripts
// without spaces, long runs, contractions, control and zero-width
// characters, emoji sequences, added tokens inside words.
var trickyTexts = []string{
	"", " ", "  ", "\n", "\r\n\r\n", "\t \t", "a", "ab", "abc", " a", "  a",
	"don't I'll we've they're she'd it's I'm DON'T", "'s's's 'tis", "hello   world  ",
	"naïve café résumé façade coöperate", "e\u0301\u0301 n\u0303", "ǅemal ß ẞ ﬁ ﬀ",
	"日本語のテキストです。中文文本。한국어 텍스트", "Привет, мир! Ελληνικά", "مرحبا بالعالم עברית",
	"🙂👍🏽👨‍👩‍👧‍👦🏳️‍🌈", "\u200b\u200c\u200d\ufeff", "\x00\x01\x7f", "\xff\xfe\xc3", "caf\xc3", "\xe2\x82",
	"١٢٣ ٤٥٦ 123456789 3.14159 1e-9 0x1F", "<|im_start|>user\nHi<|im_end|>\n", "x<|endoftext|>y<|im_end",
	strings.Repeat("a", 5000), strings.Repeat("ab ", 3000), strings.Repeat("😀", 700), strings.Repeat(" ", 300) + "x",
	strings.Repeat("supercalifragilisticexpialidocious", 20), "ſ'S 'LL 'Ll",
}

// shippedTexts are the strings of the shipped datasets (every string value
// of every row), the tricky texts and a generated English-like text.
func shippedTexts(t *testing.T) []string {
	texts := slices.Clone(trickyTexts)
	files, _ := filepath.Glob(filepath.Join("..", "..", "assets", "datasets", "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no shipped datasets under assets/datasets")
	}
	sort.Strings(files)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			keys := make([]string, 0, len(row))
			for k := range row {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if s, ok := row[k].(string); ok {
					texts = append(texts, s)
				}
			}
		}
		fh.Close()
	}
	text := SampleText(1<<18, 3)
	for len(text) > 700 {
		texts, text = append(texts, text[:700]), text[700:]
	}
	return texts
}

// TestShippedGolden checks that the ids of the shipped datasets, tricky
// texts and generated text are exactly those crucible's tokenizer gave
// before its encoder was made faster (hashes of the id lists), for the
// shipped tokenizer and three reference vocabularies, encoded twice (the
// second time from a warm word cache) and from several goroutines at once.
func TestShippedGolden(t *testing.T) {
	want := map[string]string{
		"shipped": "5628eb4fcf794c46c445401d2319c253a0f689aced8f44ef41ac973e21bec2ee",
		"gpt2":    "b4b03ede4354261b6b246c7488075d523f6937ded7f4d0dc62c8c6c85ed6e1a9",
		"qwen3":   "37a0de720ba00fadeda5bef88a460e25486b04c27a9ec3330ce2fa71f00db890",
		"mistral": "aa2c5fc28c4a7df39260a4efa1c06b8e2e82307d2c3abe1a84614e6b2545b0c7",
	}
	texts := shippedTexts(t)
	hash := func(encode func(string) []int) string {
		h := sha256.New()
		var buf [4]byte
		for _, s := range texts {
			for _, id := range encode(s) {
				binary.LittleEndian.PutUint32(buf[:], uint32(id))
				h.Write(buf[:])
			}
			h.Write([]byte{0xff, 0xff, 0xff, 0xff})
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	names := []string{"shipped", "gpt2", "qwen3", "mistral"}
	for _, name := range names {
		tok := loadAgain(t, name)
		cold, warm := hash(tok.Encode), hash(tok.Encode)
		if *printShipped {
			t.Logf("%q: %q,", name, cold)
			continue
		}
		if cold != want[name] || warm != want[name] {
			t.Errorf("%s: ids hash %s (cold), %s (warm), want %s", name, cold, warm, want[name])
		}
		// A worker's own encoder, cold then warm, on a fresh tokenizer
		// (an empty shared cache) and on the warm one.
		fresh := loadAgain(t, name)
		for i, enc := range []func([]int32, string) []int32{fresh.Encoder(), tok.Encoder()} {
			encode := func(s string) []int {
				ids := enc(make([]int32, 0, 1), s)
				return widen(ids)
			}
			if c, w := hash(encode), hash(encode); c != want[name] || w != want[name] {
				t.Errorf("%s: Encoder %d: ids hash %s (cold), %s (warm), want %s", name, i, c, w, want[name])
			}
		}
		// Concurrent encoders sharing one cache, with caches of their own
		// or not.
		got := make(chan string, 4)
		for range 2 {
			go func() { got <- hash(tok.Encode) }()
			go func() {
				enc := fresh.Encoder()
				got <- hash(func(s string) []int { return widen(enc(nil, s)) })
			}()
		}
		for range 4 {
			if h := <-got; h != want[name] {
				t.Errorf("%s: ids hash %s from concurrent encoders, want %s", name, h, want[name])
			}
		}
	}
}

// loadAgain loads a fresh copy of the named tokenizer (with empty caches):
// "shipped" is crucible's shipped tokenizer, the others are under testdata.
func loadAgain(t *testing.T, name string) *Tokenizer {
	t.Helper()
	if name == "shipped" {
		tok, err := Load(filepath.Join("..", "..", "assets", "tokenizer"))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	dir := filepath.Join("testdata", name)
	tj, err := readMaybeGzip(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	cj, _ := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	tok, err := FromJSON(tj, cj)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
