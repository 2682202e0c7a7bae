package nn

import (
	"fmt"

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
	DecodeAttentionMasked(AttnShape{NH: nH, NKV: nKV, D: d}, out, q, kCache, vCache, nNew, pos0, scratch)
}

// DecodeAttentionMasked is DecodeAttention with the head counts, head width,
// sliding window, score scale and soft cap of s (its B, T and strides are
// not used): new row i attends to cache positions
// [max(0, pos0+i−Window+1), pos0+i].
func DecodeAttentionMasked(s AttnShape, out, q, kCache, vCache []float32, nNew, pos0 int, scratch []float32) {
	nH, nKV, d := s.NH, s.NKV, s.D
	if nNew <= 0 || pos0 < 0 || nH <= 0 || nKV <= 0 || d <= 0 || nH%nKV != 0 || s.Window < 0 {
		panic(fmt.Sprintf("nn.DecodeAttention: bad shape nNew=%d pos0=%d nH=%d nKV=%d D=%d window=%d", nNew, pos0, nH, nKV, d, s.Window))
	}
	L := pos0 + nNew
	bq := min(nNew, attnBlock)
	need("DecodeAttention", "q", q, nNew*nH*d)
	need("DecodeAttention", "out", out, nNew*nH*d)
	need("DecodeAttention", "kCache", kCache, L*nKV*d)
	need("DecodeAttention", "vCache", vCache, L*nKV*d)
	need("DecodeAttention", "scratch", scratch, nH*bq*L)
	scale := s.scale()
	group := nH / nKV
	ldq, ldk := nH*d, nKV*d
	kernel.ParallelFor(nH, max(1, 4096/max(1, L*d)), func(lo, hi int) {
		for h := lo; h < hi; h++ {
			scr := scratch[h*bq*L : (h+1)*bq*L]
			kb := (h / group) * d
			for r0 := 0; r0 < nNew; r0 += attnBlock {
				r1 := min(r0+attnBlock, nNew)
				c0 := s.firstKey(pos0 + r0)
				m, nc := r1-r0, pos0+r1-c0
				sc := scr[:m*nc]
				gemm(false, true, m, nc, d, scale, q[r0*ldq+h*d:], ldq, kCache[kb+c0*ldk:], ldk, 0, sc, nc)
				for i := 0; i < m; i++ {
					p := pos0 + r0 + i
					softmaxMaskedRow(sc[i*nc:(i+1)*nc], s.firstKey(p)-c0, p+1-c0, s.SoftCap)
				}
				gemm(false, false, m, d, nc, 1, sc, nc, vCache[kb+c0*ldk:], ldk, 0, out[r0*ldq+h*d:], ldq)
			}
		}
	})
}
