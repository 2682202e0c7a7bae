package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Save writes tokenizer.json and tokenizer_config.json to dir (created if
// missing), and the chat template file it was loaded with, if any: the
// files the Tokenizer was loaded from, unchanged, or for a
// trained one files in the Hugging Face format that Load and the Hugging Face
// libraries read.
func (t *Tokenizer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), t.source.tokenizerJSON, 0o644); err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	if t.source.templateFile != "" {
		if err := os.WriteFile(filepath.Join(dir, t.source.templateFile), t.source.templateData, 0o644); err != nil {
			return fmt.Errorf("save tokenizer: %w", err)
		}
	}
	if len(t.source.configJSON) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), t.source.configJSON, 0o644); err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	return nil
}

// byteLevelFiles builds tokenizer.json and tokenizer_config.json for a
// byte-level BPE model with the GPT-2 split pattern. tokens holds each id's
// bytes, merges the merge list as pairs of ids (in rank order), and special
// the special tokens, which get the ids after the last token. The first
// special token is BOS and EOS, and padding unless a special token
// names "pad"; the config carries the ChatML chat
// template.
func byteLevelFiles(tokens []string, merges [][2]int, special []string) (tokenizerJSON, configJSON []byte, err error) {
	vocab := make(map[string]int, len(tokens)+len(special))
	for id, tok := range tokens {
		vocab[byteLevelEncode(tok)] = id
	}
	// Merges are written as "a b" strings, which every version of the
	// Hugging Face libraries reads; byte-level tokens never hold a space.
	mergeList := make([]string, len(merges))
	for i, mg := range merges {
		mergeList[i] = byteLevelEncode(tokens[mg[0]]) + " " + byteLevelEncode(tokens[mg[1]])
	}
	added := make([]addedToken, len(special))
	for i, s := range special {
		added[i] = addedToken{ID: len(tokens) + i, Content: s, Special: true}
		vocab[s] = len(tokens) + i
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	file := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   added,
		"normalizer":     nil,
		"pre_tokenizer":  byteLevel,
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": map[string]any{
			"type":                      "BPE",
			"dropout":                   nil,
			"unk_token":                 nil,
			"continuing_subword_prefix": nil,
			"end_of_word_suffix":        nil,
			"fuse_unk":                  false,
			"byte_fallback":             false,
			"ignore_merges":             false,
			"vocab":                     vocab,
			"merges":                    mergeList,
		},
	}
	if tokenizerJSON, err = marshalJSON(file, false); err != nil {
		return nil, nil, fmt.Errorf("encode tokenizer.json: %w", err)
	}
	config := map[string]any{
		"tokenizer_class":              "PreTrainedTokenizerFast",
		"add_bos_token":                false,
		"add_eos_token":                false,
		"add_prefix_space":             false,
		"clean_up_tokenization_spaces": false,
		"model_max_length":             1 << 20,
		"chat_template":                chatML,
	}
	if len(special) > 0 {
		config["bos_token"] = special[0]
		config["eos_token"] = special[0]
		config["pad_token"] = special[0]
		for _, s := range special {
			if strings.Contains(strings.ToLower(s), "pad") {
				config["pad_token"] = s
				break
			}
		}
		config["additional_special_tokens"] = special[1:]
	}
	if configJSON, err = marshalJSON(config, true); err != nil {
		return nil, nil, fmt.Errorf("encode tokenizer_config.json: %w", err)
	}
	return tokenizerJSON, configJSON, nil
}

// marshalJSON encodes v without escaping <, > and &, which special tokens
// are full of.
func marshalJSON(v any, indent bool) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
