package nn

import (
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// DecodeScratchSize is the number of floats of scratch DecodeAttention
// needs for nH query heads, up to nNew new positions per call and a cache
// of up to maxT positions: one [min(nNew, 64), maxT] score block per head.
func DecodeScratchSize(nH, nNew, maxT int) int { return nH * min(max(nNew, 1), attnBlock) * maxT }

// DecodeAttention computes causal attention for nNew new positions of one
// sequence against its KV cache (generation and chunked prefill; forward
// only). q is [nNew, nH, D] for positions pos0 … pos0+nNew−1; kCache and
// vCache are [maxT, nKV, D] and must already hold the keys and values of
// positions [0, pos0+nNew) (the new ones included, after RoPE). New row i
// attends to cache positions [0, pos0+i]. out [nNew, nH·D] is overwritten;
// scratch holds at least DecodeScratchSize(nH, nNew, pos0+nNew) floats.
// Work is parallel over heads.
func DecodeAttention(out, q, kCache, vCache []float32, nNew, pos0, nH, nKV, d int, scratch []float32) {
	if nNew <= 0 || pos0 < 0 || nH <= 0 || nKV <= 0 || d <= 0 || nH%nKV != 0 {
		panic(fmt.Sprintf("nn.DecodeAttention: bad shape nNew=%d pos0=%d nH=%d nKV=%d D=%d", nNew, pos0, nH, nKV, d))
	}
	L := pos0 + nNew
	bq := min(nNew, attnBlock)
	need("DecodeAttention", "q", q, nNew*nH*d)
	need("DecodeAttention", "out", out, nNew*nH*d)
	need("DecodeAttention", "kCache", kCache, L*nKV*d)
	need("DecodeAttention", "vCache", vCache, L*nKV*d)
	need("DecodeAttention", "scratch", scratch, nH*bq*L)
	scale := float32(1 / math.Sqrt(float64(d)))
	group := nH / nKV
	ldq, ldk := nH*d, nKV*d
	kernel.ParallelFor(nH, max(1, 4096/max(1, L*d)), func(lo, hi int) {
		for h := lo; h < hi; h++ {
			scr := scratch[h*bq*L : (h+1)*bq*L]
			kb := (h / group) * d
			for r0 := 0; r0 < nNew; r0 += attnBlock {
				r1 := min(r0+attnBlock, nNew)
				m, nc := r1-r0, pos0+r1
				sc := scr[:m*nc]
				gemm(false, true, m, nc, d, scale, q[r0*ldq+h*d:], ldq, kCache[kb:], ldk, 0, sc, nc)
				for i := 0; i < m; i++ {
					softmaxCausalRow(sc[i*nc:(i+1)*nc], pos0+r0+i+1)
				}
				gemm(false, false, m, d, nc, 1, sc, nc, vCache[kb:], ldk, 0, out[r0*ldq+h*d:], ldq)
			}
		}
	})
}
