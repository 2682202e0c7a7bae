package tokenizer

import (
	"errors"
	"fmt"
	"iter"
	"slices"
)

// Train learns a byte-level BPE tokenizer from texts: GPT-2's split pattern,
// 256 byte tokens, merges learned most-frequent pair first (ties go to the
// smaller pair of ids) until the vocabulary holds vocabSize tokens, special
// tokens included, or no pair is left (a small text gives a smaller
// vocabulary; VocabSize tells). The special tokens get the last ids; the first one serves
// as BOS and EOS, and as padding unless one of them names "pad". "<|im_start|>" and "<|im_end|>" are added when
// missing so the ChatML chat template can be encoded. Special tokens written
// in the texts are not learned from.
func Train(texts iter.Seq[string], vocabSize int, specialTokens []string) (*Tokenizer, error) {
	special := slices.Clone(specialTokens)
	if len(special) == 0 {
		special = []string{"<|endoftext|>"}
	}
	for _, s := range []string{"<|im_start|>", "<|im_end|>"} {
		if !slices.Contains(special, s) {
			special = append(special, s)
		}
	}
	seen := map[string]bool{}
	for _, s := range special {
		if s == "" || seen[s] {
			return nil, fmt.Errorf("train tokenizer: special token %q is empty or repeated", s)
		}
		seen[s] = true
	}
	budget := vocabSize - 256 - len(special)
	if budget < 0 {
		return nil, fmt.Errorf("train tokenizer: vocab size %d is below the 256 byte tokens plus %d special tokens", vocabSize, len(special))
	}

	// Count the pre-tokenised pieces of the texts.
	var splitter addedTokens
	{
		list := make([]addedToken, len(special))
		for i, s := range special {
			list[i] = addedToken{ID: i, Content: s, Special: true}
		}
		splitter = newAddedTokens(list)
	}
	counts := map[string]int{}
	for text := range texts {
		splitter.split(text, true, func(seg string, id int, _ bool) {
			if id < 0 {
				scanGPT2(seg, func(piece string) { counts[piece]++ })
			}
		})
	}
	if len(counts) == 0 {
		return nil, errors.New("train tokenizer: no text to learn from")
	}

	tokens := make([]string, 256, 256+budget)
	for b := range 256 {
		tokens[b] = string([]byte{byte(b)})
	}
	merges := learnMerges(counts, budget, &tokens)
	tj, cj, err := byteLevelFiles(tokens, merges, special)
	if err != nil {
		return nil, fmt.Errorf("train tokenizer: %w", err)
	}
	t, err := FromJSON(tj, cj)
	if err != nil {
		return nil, fmt.Errorf("train tokenizer: %w", err)
	}
	return t, nil
}
