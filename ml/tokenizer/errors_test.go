package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyJSON is a small char-level BPE tokenizer.json; tests edit it with
// strings.Replace to build bad or special variants.
const tinyJSON = `{
  "version": "1.0",
  "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "</s>", "special": true}],
  "normalizer": null,
  "pre_tokenizer": null,
  "decoder": null,
  "model": {
    "type": "BPE",
    "unk_token": "<unk>",
    "fuse_unk": true,
    "vocab": {"<unk>": 0, "</s>": 1, "a": 2, "b": 3, "c": 4, "ab": 5, "abc": 6, " ": 7},
    "merges": ["a b", "ab c"]
  }
}`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name        string
		tokenizer   string
		config      string
		wantErrPart string
	}{
		{"malformed json", `{"model": `, "", "tokenizer.json: unexpected end of JSON input"},
		{"no model", `{"version": "1.0"}`, "", "model: missing"},
		{"unknown model type", strings.Replace(tinyJSON, `"type": "BPE"`, `"type": "WordPiece"`, 1), "", `model.type "WordPiece" is not supported`},
		{"no vocab", strings.Replace(tinyJSON, `"vocab"`, `"vocabulary"`, 1), "", "model.vocab: missing"},
		{"merge of unknown token", strings.Replace(tinyJSON, `"ab c"`, `"ab z"`, 1), "", `model.merges[1]: "z" is not in model.vocab`},
		{"merge result missing", strings.Replace(tinyJSON, `"ab c"`, `"b c"`, 1), "", `model.merges[1]: merged token "bc" is not in model.vocab`},
		{"bad merge string", strings.Replace(tinyJSON, `"a b"`, `"ab"`, 1), "", `model.merges[0]: "ab" is not two tokens`},
		{"bad merges type", strings.Replace(tinyJSON, `["a b", "ab c"]`, `{"a": "b"}`, 1), "", "model.merges: want a list"},
		{"pair merges with unknown token", strings.Replace(tinyJSON, `["a b", "ab c"]`, `[["a", "b"], ["ab", "q"]]`, 1), "", `model.merges[1]: "q" is not in model.vocab`},
		{"duplicate id", strings.Replace(tinyJSON, `" ": 7`, `" ": 6`, 1), "", "model.vocab: id 6 is used by both"},
		{"unknown unk", strings.Replace(tinyJSON, `"unk_token": "<unk>"`, `"unk_token": "<oov>"`, 1), "", `model.unk_token "<oov>" is not in model.vocab`},
		{"suffix", strings.Replace(tinyJSON, `"fuse_unk": true`, `"fuse_unk": true, "end_of_word_suffix": "</w>"`, 1), "", "model.end_of_word_suffix"},
		{"dropout", strings.Replace(tinyJSON, `"fuse_unk": true`, `"fuse_unk": true, "dropout": 0.1`, 1), "", "model.dropout"},
		{"empty added token", strings.Replace(tinyJSON, `"content": "</s>"`, `"content": ""`, 1), "", "added_tokens[1]: empty content"},
		{"unknown normalizer", strings.Replace(tinyJSON, `"normalizer": null`, `"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "BertNormalizer"}]}`, 1), "", `normalizer.normalizers[1].type "BertNormalizer" is not supported`},
		{"unknown pre-tokenizer", strings.Replace(tinyJSON, `"pre_tokenizer": null`, `"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "Whitespace"}]}`, 1), "", `pre_tokenizer.pretokenizers[1].type "Whitespace" is not supported`},
		{"bad split behavior", strings.Replace(tinyJSON, `"pre_tokenizer": null`, `"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways", "invert": false}`, 1), "", `pre_tokenizer.behavior "Sideways" is not supported`},
		{"bad regex", strings.Replace(tinyJSON, `"pre_tokenizer": null`, `"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated", "invert": false}`, 1), "", "pre_tokenizer.pattern.Regex"},
		{"unknown decoder", strings.Replace(tinyJSON, `"decoder": null`, `"decoder": {"type": "WordPiece"}`, 1), "", `decoder.type "WordPiece" is not supported`},
		{"byte level without bytes", strings.Replace(tinyJSON, `"pre_tokenizer": null`, `"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}`, 1), "", "byte-level token"},
		{"malformed config", tinyJSON, `{"bos_token": `, "tokenizer_config.json"},
		{"config token not in vocab", tinyJSON, `{"bos_token": "<s>"}`, `tokenizer_config.json: bos_token "<s>" is not a token`},
		{"config token wrong type", tinyJSON, `{"eos_token": 5}`, "tokenizer_config.json: eos_token: want a string"},
		{"config bool wrong type", tinyJSON, `{"add_bos_token": "yes"}`, "tokenizer_config.json: add_bos_token: want true or false"},
		{"chat template list without default", tinyJSON, `{"chat_template": [{"name": "tool_use", "template": "x"}]}`, `chat_template: no template named "default"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromJSON([]byte(tt.tokenizer), []byte(tt.config))
			if err == nil || !strings.Contains(err.Error(), tt.wantErrPart) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErrPart)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("Load of a missing dir: err = %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model": {"type": "Unigram", "vocab": []}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "model") {
		t.Errorf("Load of a bad file: err = %v, want the directory and the field", err)
	}
	// A template that does not compile fails ApplyChatTemplate, not Load.
	tok, err := FromJSON([]byte(tinyJSON), []byte(`{"chat_template": "{% for x in %}"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.ApplyChatTemplate([]Message{{"user", "hi"}}, false); err == nil || !strings.Contains(err.Error(), "chat template") {
		t.Errorf("ApplyChatTemplate with a broken template: err = %v", err)
	}
}
