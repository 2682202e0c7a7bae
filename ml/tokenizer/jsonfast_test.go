package tokenizer

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// TestScanVocabMerges checks the fast decoders against encoding/json,
// including escapes and whitespace, and that odd input falls back.
func TestScanVocabMerges(t *testing.T) {
	vocabs := []string{
		`{}`,
		` { "a" : 0 , "\u0120b": 1,"\"q\"":2, "back\\slash" :3, "é\n":4 } `,
		`{"x": 1.0}`, // not a plain integer: falls back
		`{"x": -1}`,  // negative: falls back, then rejected by the id check
		`{"x": 1, }`, // invalid JSON never reaches the scanner; must not pass
	}
	for _, src := range vocabs {
		var want map[string]int
		wantErr := json.Unmarshal([]byte(src), &want)
		var got vocabMap
		err := json.Unmarshal([]byte(src), &got)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: err %v, encoding/json says %v", src, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		conv := map[string]int{}
		for k, v := range got {
			conv[k] = int(v)
		}
		if want["x"] < 0 {
			want["x"] = -1
		}
		if !maps.Equal(conv, want) {
			t.Errorf("%s: got %v, want %v", src, conv, want)
		}
	}
	merges := []string{
		`[]`,
		`["a b", "\u0120 t", "x\"y z"]`,
		`[ ["a", "b"] , ["\u0120", "t\\"] ]`,
		`["a b", ["c", "d"]]`, // mixed: not the scanner's
	}
	for _, src := range merges {
		strs, pairs, ok := scanMerges([]byte(src))
		var wantStrs []string
		var wantPairs [][2]string
		errS := json.Unmarshal([]byte(src), &wantStrs)
		errP := json.Unmarshal([]byte(src), &wantPairs)
		switch {
		case !ok && (errS == nil || errP == nil) && src != `["a b", ["c", "d"]]`:
			t.Errorf("%s: scanner refused valid merges", src)
		case ok && errS == nil && !slices.Equal(strs, wantStrs) && len(wantStrs) > 0:
			t.Errorf("%s: got %q, want %q", src, strs, wantStrs)
		case ok && errP == nil && !slices.Equal(pairs, wantPairs) && len(wantPairs) > 0:
			t.Errorf("%s: got %q, want %q", src, pairs, wantPairs)
		case ok && src == `["a b", ["c", "d"]]`:
			t.Errorf("%s: scanner accepted mixed merges", src)
		}
	}
}
