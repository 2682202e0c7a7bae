// Command gpt2json writes GPT-2's tokenizer.json (and a tokenizer_config.json)
// from the r50k_base ranks embedded in github.com/tiktoken-go/tokenizer, so
// crucible's tokenizer tests can check GPT-2 ids without a download.
//
// Ranks 0-255 are the single bytes; every later rank r is a token whose merge
// is found by byte-pair encoding its bytes with only ranks below r, which
// must leave exactly two parts: the merge's left and right sides.
//
//	go run ./tools/goldens/tokenizer/gpt2json -out ml/tokenizer/testdata/gpt2
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

const eot = 50256

func main() {
	out := flag.String("out", "ml/tokenizer/testdata/gpt2", "output directory")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	codec, err := tokenizer.Get(tokenizer.R50kBase)
	if err != nil {
		return err
	}
	tokens := make([]string, eot)
	ranks := make(map[string]int, eot)
	for id := range eot {
		s, err := codec.Decode([]uint{uint(id)})
		if err != nil {
			return fmt.Errorf("decode %d: %w", id, err)
		}
		tokens[id] = s
		ranks[s] = id
	}
	var b2r [256]rune
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
	}
	enc := func(s string) string {
		var buf []byte
		for i := 0; i < len(s); i++ {
			buf = utf8.AppendRune(buf, b2r[s[i]])
		}
		return string(buf)
	}
	vocab := make(map[string]int, eot+1)
	for id, s := range tokens {
		vocab[enc(s)] = id
	}
	vocab["<|endoftext|>"] = eot
	merges := make([]string, 0, eot-256)
	for id := 256; id < eot; id++ {
		parts := bpe(tokens[id], ranks, id)
		if len(parts) != 2 {
			return fmt.Errorf("token %d %q does not split into two parts: %q", id, tokens[id], parts)
		}
		merges = append(merges, enc(parts[0])+" "+enc(parts[1]))
	}
	file := map[string]any{
		"version":    "1.0",
		"truncation": nil,
		"padding":    nil,
		"added_tokens": []any{map[string]any{
			"id": eot, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": true, "special": true,
		}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges,
		},
	}
	config := map[string]any{
		"add_prefix_space": false, "clean_up_tokenization_spaces": false, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
		"unk_token": "<|endoftext|>", "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer",
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "tokenizer.json.gz"))
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err := json.NewEncoder(zw).Encode(file); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	cj, _ := json.MarshalIndent(config, "", "  ")
	return os.WriteFile(filepath.Join(out, "tokenizer_config.json"), append(cj, '\n'), 0o644)
}

// bpe merges the bytes of s using only ranks below limit and returns the
// parts left.
func bpe(s string, ranks map[string]int, limit int) []string {
	parts := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		parts[i] = s[i : i+1]
	}
	for len(parts) > 1 {
		best, at := limit, -1
		for i := 0; i+1 < len(parts); i++ {
			if r, ok := ranks[parts[i]+parts[i+1]]; ok && r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		parts[at] += parts[at+1]
		parts = append(parts[:at+1], parts[at+2:]...)
	}
	return parts
}
