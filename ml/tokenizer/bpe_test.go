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

// TestPieceDecoderMatchesChain checks the fast SentencePiece decoder against
// the decoder chain it replaces, on random ids (byte tokens, specials and
// invalid byte runs included).
func TestPieceDecoderMatchesChain(t *testing.T) {
	tok := loadTestdata(t, "mistral")
	if tok.pieces == nil {
		t.Fatal("mistral has no fast decoder")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 300 {
		ids := make([]int, r.IntN(30))
		for i := range ids {
			switch r.IntN(3) {
			case 0:
				ids[i] = 3 + r.IntN(256) // <0x00>..<0xFF>
			case 1:
				ids[i] = r.IntN(3) // <unk> <s> </s>
			default:
				ids[i] = r.IntN(tok.VocabSize()+5) - 2 // out of range too
			}
		}
		toks := []string{}
		for _, id := range ids {
			if id >= 0 && id < len(tok.tokens) && tok.tokens[id] != "" {
				toks = append(toks, tok.tokens[id])
			}
		}
		for _, d := range tok.decoder {
			toks = d.decode(toks)
		}
		if want, got := strings.Join(toks, ""), tok.Decode(ids); got != want {
			t.Fatalf("ids %v: fast %q, chain %q", ids, got, want)
		}
	}
}
