package nn

import (
	"fmt"

	"github.com/crucible-net/crucible/ml/kernel"
)

// TokenID is the integer type token ids may be given in.
type TokenID interface {
	~int32 | ~int | ~int64 | ~uint32
}

// EmbeddingForward gathers out[i, :] = table[ids[i], :] for the n = len(ids)
// rows of a [vocab, c] embedding table. It returns an error naming the first
// position whose id is outside [0, vocab).
func EmbeddingForward[I TokenID](out, table []float32, ids []I, vocab, c int) error {
	n := len(ids)
	need("EmbeddingForward", "out", out, n*c)
	need("EmbeddingForward", "table", table, vocab*c)
	for i, id := range ids {
		if int64(id) < 0 || int64(id) >= int64(vocab) {
			return fmt.Errorf("embedding: token id %d at position %d is outside the vocabulary [0, %d)", int64(id), i, vocab)
		}
	}
	kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			id := int(ids[i])
			copy(out[i*c:(i+1)*c], table[id*c:(id+1)*c])
		}
	})
	return nil
}

// EmbeddingForwardBF16 is EmbeddingForward with the table stored as
// bfloat16 (a base held in bf16): each row is widened to float32, exactly.
func EmbeddingForwardBF16[I TokenID](out []float32, table []uint16, ids []I, vocab, c int) error {
	n := len(ids)
	need("EmbeddingForwardBF16", "out", out, n*c)
	if len(table) < vocab*c {
		panic(fmt.Sprintf("nn.EmbeddingForwardBF16: table has %d entries, want %d", len(table), vocab*c))
	}
	for i, id := range ids {
		if int64(id) < 0 || int64(id) >= int64(vocab) {
			return fmt.Errorf("embedding: token id %d at position %d is outside the vocabulary [0, %d)", int64(id), i, vocab)
		}
	}
	kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			id := int(ids[i])
			row := out[i*c : (i+1)*c]
			for j, h := range table[id*c : (id+1)*c] {
				row[j] = kernel.BF16ToFloat32(h)
			}
		}
	})
	return nil
}

// EmbeddingBackward scatter-adds dtable[ids[i], :] += dout[i, :]. Rows that
// share an id are summed in position order; the work is partitioned over the
// embedding dimension, so the result is deterministic. ids must have passed
// EmbeddingForward (out-of-range ids panic).
func EmbeddingBackward[I TokenID](dtable, dout []float32, ids []I, vocab, c int) {
	n := len(ids)
	need("EmbeddingBackward", "dout", dout, n*c)
	need("EmbeddingBackward", "dtable", dtable, vocab*c)
	nb := (c + colBlock - 1) / colBlock
	kernel.ParallelFor(nb, max(1, 4096/max(n, 1)), func(lo, hi int) {
		c0, c1 := lo*colBlock, min(hi*colBlock, c)
		for i := 0; i < n; i++ {
			id := int(ids[i])
			accumulate(dtable[id*c+c0:id*c+c1], dout[i*c+c0:i*c+c1])
		}
	})
}

// PositionForward adds learned position embeddings (GPT-2's wpe) in place:
// x[b, t, :] += wpe[start+t, :] for a batch x of shape [batch, t, c]. start
// is the position of the first row (non-zero when continuing a KV cache).
// It returns an error when start+t exceeds the table's maxPos rows.
func PositionForward(x, wpe []float32, batch, t, c, start, maxPos int) error {
	if start < 0 || start+t > maxPos {
		return fmt.Errorf("position embedding: positions [%d, %d) exceed the %d learned positions", start, start+t, maxPos)
	}
	need("PositionForward", "x", x, batch*t*c)
	need("PositionForward", "wpe", wpe, maxPos*c)
	kernel.ParallelFor(batch*t, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := start + r%t
			accumulate(x[r*c:(r+1)*c], wpe[p*c:(p+1)*c])
		}
	})
	return nil
}

// PositionBackward accumulates dwpe[start+t, :] += Σ_b dx[b, t, :]. It is
// partitioned over positions and sums the batch in order (deterministic).
func PositionBackward(dwpe, dx []float32, batch, t, c, start int) {
	need("PositionBackward", "dx", dx, batch*t*c)
	need("PositionBackward", "dwpe", dwpe, (start+t)*c)
	kernel.ParallelFor(t, rowGrain(c*batch), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d := dwpe[(start+p)*c : (start+p+1)*c]
			for b := 0; b < batch; b++ {
				accumulate(d, dx[(b*t+p)*c:(b*t+p+1)*c])
			}
		}
	})
}
