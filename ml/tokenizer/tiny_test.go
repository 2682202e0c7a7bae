package tokenizer

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustTiny(t *testing.T, edits ...string) *Tokenizer {
	t.Helper()
	js := tinyJSON
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(js, edits[i]) {
			t.Fatalf("tinyJSON has no %q", edits[i])
		}
		js = strings.Replace(js, edits[i], edits[i+1], 1)
	}
	tok, err := FromJSON([]byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTinyBPE(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		in    string
		want  []int
	}{
		{"merges", nil, "abcab", []int{6, 5}},
		{"unknown chars fuse into one unk", nil, "abxyc", []int{5, 0, 4}},
		{"unknown chars without fuse", []string{`"fuse_unk": true`, `"fuse_unk": false`}, "abxyc", []int{5, 0, 0, 4}},
		{"special token", nil, "ab</s>c", []int{5, 1, 4}},
		{"pair merges", []string{`["a b", "ab c"]`, `[["a", "b"], ["ab", "c"]]`}, "abc", []int{6}},
		{"ignore merges", []string{`"fuse_unk": true`, `"fuse_unk": true, "ignore_merges": true`, `["a b", "ab c"]`, `["a b"]`, `"pre_tokenizer": null`, `"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated", "invert": false}`}, "abc abcab", []int{6, 7, 5, 4, 5}},
		{"lowercase and strip", []string{`"normalizer": null`, `"normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "Strip", "left": true, "right": true}]}`}, "  ABC  ", []int{6}},
		{"NFKC", []string{`"normalizer": null`, `"normalizer": {"type": "NFKC"}`}, "ａｂｃ", []int{6}},
		{"literal split removed", []string{`"pre_tokenizer": null`, `"pre_tokenizer": {"type": "Split", "pattern": {"String": "b"}, "behavior": "Removed", "invert": false}`}, "abcab", []int{2, 4, 2}},
		{"regex split", []string{`"pre_tokenizer": null`, `"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated", "invert": false}`}, "abc", []int{2, 3, 4}},
		{"digits", []string{`"pre_tokenizer": null`, `"pre_tokenizer": {"type": "Digits", "individual_digits": true}`}, "ab12", []int{5, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := mustTiny(t, tt.edits...)
			if got := tok.Encode(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestByteFallback(t *testing.T) {
	tok := mustTiny(t,
		`"fuse_unk": true`, `"fuse_unk": true, "byte_fallback": true`,
		`" ": 7`, `" ": 7, "<0xC3>": 8, "<0xA9>": 9, "<0xFF>": 10`,
		`"decoder": null`, `"decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}`)
	// é is C3 A9: both byte tokens exist. ü (C3 BC) lacks BC, so it is unk.
	if got, want := tok.Encode("aéü"), []int{2, 8, 9, 0}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if got := tok.Decode([]int{7, 2, 8, 9}); got != "aé" {
		t.Errorf("Decode = %q, want %q (leading space stripped, bytes fused)", got, "aé")
	}
	// A byte run that is not UTF-8 decodes to one U+FFFD per byte.
	if got := tok.Decode([]int{2, 8, 10, 3}); got != "a\uFFFD\uFFFDb" {
		t.Errorf("Decode of invalid bytes = %q", got)
	}
}

func TestSingleWord(t *testing.T) {
	tok := mustTiny(t, `{"id": 1, "content": "</s>", "special": true}`, `{"id": 1, "content": "</s>", "special": true}, {"id": 5, "content": "ab", "single_word": true, "special": false}`)
	tests := []struct {
		in   string
		want []int
	}{
		{"ab", []int{5}},
		{"ab c", []int{5, 7, 4}},
		{"abc", []int{6}}, // glued to c: not the added token, and no shorter one tried
		{"c ab", []int{4, 7, 5}},
		{"cab", []int{4, 5}}, // BPE makes ab from a and b anyway: id 5 again
	}
	for _, tt := range tests {
		if got := tok.Encode(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestEncodeOrdinary(t *testing.T) {
	tok := loadTestdata(t, "qwen3")
	start, _ := tok.TokenID("<|im_start|>")
	think, _ := tok.TokenID("<think>")
	text := "<|im_start|>user <think>"
	if got := tok.Encode(text); !slices.Contains(got, start) || !slices.Contains(got, think) {
		t.Errorf("Encode(%q) = %v, want both %d and %d", text, got, start, think)
	}
	got := tok.EncodeOrdinary(text)
	if slices.Contains(got, start) || !slices.Contains(got, think) {
		t.Errorf("EncodeOrdinary(%q) = %v: want no special id %d, but the plain added token %d", text, got, start, think)
	}
	if tok.Decode(got) != text {
		t.Errorf("round trip = %q", tok.Decode(got))
	}
}

func TestDecodeSkipSpecial(t *testing.T) {
	tok := loadTestdata(t, "qwen3")
	ids := tok.Encode("<|im_start|>user\nhi <think><|im_end|>")
	if got := tok.DecodeSkipSpecial(ids); got != "user\nhi <think>" {
		t.Errorf("DecodeSkipSpecial = %q (the plain added token <think> stays)", got)
	}
	if got := tok.Decode(ids); got != "<|im_start|>user\nhi <think><|im_end|>" {
		t.Errorf("Decode = %q", got)
	}
	m := loadTestdata(t, "mistral")
	ids = append([]int{m.BOSID()}, m.Encode("Hello world")...)
	if got := m.DecodeSkipSpecial(ids); got != "Hello world" {
		t.Errorf("mistral DecodeSkipSpecial = %q", got)
	}
}

func TestConfigIDs(t *testing.T) {
	tests := []struct {
		model         string
		bos, eos, pad string
		addBOS        bool
	}{
		{"qwen3", "", "<|im_end|>", "<|endoftext|>", false},
		{"mistral", "<s>", "</s>", "", true},
		{"gpt2", "<|endoftext|>", "<|endoftext|>", "", false},
	}
	id := func(tok *Tokenizer, s string) int {
		if s == "" {
			return -1
		}
		v, ok := tok.TokenID(s)
		if !ok {
			t.Fatalf("no token %q", s)
		}
		return v
	}
	for _, tt := range tests {
		tok := loadTestdata(t, tt.model)
		if tok.BOSID() != id(tok, tt.bos) || tok.EOSID() != id(tok, tt.eos) || tok.PadID() != id(tok, tt.pad) || tok.AddBOS() != tt.addBOS {
			t.Errorf("%s: BOS %d EOS %d pad %d AddBOS %v, want %q %q %q %v", tt.model,
				tok.BOSID(), tok.EOSID(), tok.PadID(), tok.AddBOS(), tt.bos, tt.eos, tt.pad, tt.addBOS)
		}
	}
	// Without tokenizer_config.json, the post-processor template decides.
	tj := strings.Replace(tinyJSON, `"decoder": null`, `"decoder": null, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "</s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}`, 1)
	tok, err := FromJSON([]byte(tj), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.BOSID() != 1 || !tok.AddBOS() {
		t.Errorf("template BOS: BOSID %d AddBOS %v", tok.BOSID(), tok.AddBOS())
	}
}

// TestConcurrentEncode encodes from several goroutines at once (run with
// -race) and checks each result against a sequential run.
func TestConcurrentEncode(t *testing.T) {
	tok := loadTestdata(t, "qwen3")
	texts := testCorpus(t)
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(texts))
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range texts {
				i := (k + g*7) % len(texts)
				if got := tok.Encode(texts[i]); !slices.Equal(got, want[i]) {
					errs <- texts[i]
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent Encode(%q) differs", s)
	}
}
