package main

import (
	"fmt"
	"iter"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/ml/tokenizer"
)

// Tokenizer settings: the vocabulary holds 256 byte tokens, the learned
// merges and the special tokens, which get the last ids.
const vocabSize = 4096

// specialTokens: <|endoftext|> is BOS, EOS and padding; the ChatML markers
// let the chat template encode.
var specialTokens = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

func tokenizerDir(o options) string { return filepath.Join(o.out, "tokenizer") }

// buildTokenizer trains the byte-level BPE tokenizer on the training corpus
// and saves it under assets/tokenizer.
func buildTokenizer(o options) error {
	docs, err := readDocs(filepath.Join(corpusDir(o), "train.jsonl"))
	if err != nil {
		return fmt.Errorf("read corpus (run the corpus step first): %w", err)
	}
	texts := iter.Seq[string](func(yield func(string) bool) {
		for _, d := range docs {
			if !yield(d.Text) {
				return
			}
		}
	})
	start := time.Now()
	tok, err := tokenizer.Train(texts, vocabSize, specialTokens)
	if err != nil {
		return err
	}
	fmt.Printf("trained a %d-token vocabulary on %d documents in %s\n", tok.VocabSize(), len(docs), time.Since(start).Round(time.Millisecond))
	return tok.Save(tokenizerDir(o))
}
