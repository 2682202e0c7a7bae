package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestMergeHeapMatchesScan checks the O(n log n) merge loop used for long
// pieces against the simple scan on pieces of every length.
func TestMergeHeapMatchesScan(t *testing.T) {
	for _, model := range []string{"gpt2", "mistral"} {
		tok := loadTestdata(t, model)
		r := rand.New(rand.NewPCG(5, 6))
		for n := 1; n < 400; n += 1 + n/8 {
			var b strings.Builder
			for b.Len() < n {
				b.WriteString([]string{"a", "b", "an", "the", "ing", "e", "s", "é", "中", "x"}[r.IntN(10)])
			}
			piece := b.String()
			if !tok.model.byteLevel {
				piece = strings.ReplaceAll(piece, " ", metaSpace)
			}
			scan := tok.model.mergeScan(tok.model.symbols(nil, piece))
			heap := tok.model.mergeHeap(tok.model.symbols(nil, piece))
			if !slices.Equal(scan, heap) {
				t.Fatalf("%s %q: scan %v, heap %v", model, piece, scan, heap)
			}
		}
	}
}
