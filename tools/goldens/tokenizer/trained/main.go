// Command trained trains crucible's byte-level BPE tokenizer (vocabulary 800)
// on ml/tokenizer/testdata/train.txt (20 times over) followed by the texts of
// testdata/corpus.json, and saves it to ml/tokenizer/testdata/trained. The
// Hugging Face JS tokenizer then checks the saved files
// (tools/goldens/tokenizer/gen.mjs), and the tests check that training gives
// the same files again.
//
//	go run ./tools/goldens/tokenizer/trained
package main

import (
	"encoding/json"
	"log"
	"os"

	"github.com/crucible-net/crucible/ml/tokenizer"
)

func main() {
	text, err := os.ReadFile("ml/tokenizer/testdata/train.txt")
	if err != nil {
		log.Fatal(err)
	}
	b, err := os.ReadFile("ml/tokenizer/testdata/corpus.json")
	if err != nil {
		log.Fatal(err)
	}
	var corpus []string
	if err := json.Unmarshal(b, &corpus); err != nil {
		log.Fatal(err)
	}
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
	tok, err := tokenizer.Train(texts, 800, []string{"<|endoftext|>", "<|pad|>"})
	if err != nil {
		log.Fatal(err)
	}
	if err := tok.Save("ml/tokenizer/testdata/trained"); err != nil {
		log.Fatal(err)
	}
}
