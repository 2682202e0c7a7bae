package model

import (
	"github.com/crucible-net/crucible/ml/nn"
)

// Attention runs on ml/nn's kernels over views of the fused q|k|v
// activation: q heads, then k heads, then v heads in each token row of width
// QKVDim. nn.AttentionForward saves only a log-sum-exp per query row and the
// backward pass recomputes the probabilities one block of queries at a time,
// so no [B, H, T, T] tensor ever exists. Each layer's shape carries its
// sliding window, score scale and soft cap.

// attnShape describes layer l's attention over the fused activation of a
// batch.
func (m *Model) attnShape(l, B, T int) nn.AttnShape {
	c := &m.cfg
	return nn.AttnShape{B: B, T: T, NH: c.Heads, NKV: c.KVHeads, D: c.HeadDim,
		LdQ: c.QKVDim(), LdKV: c.QKVDim(), LdOut: c.Heads * c.HeadDim,
		Window: c.Window(l), Scale: float32(c.QueryScale), SoftCap: float32(c.AttnSoftcap), Prec: m.prec}
}

// qkvViews returns the q, k and v views of a fused activation (or its gradient).
func (m *Model) qkvViews(qkv []float32) (q, k, v []float32) {
	c := &m.cfg
	return qkv, qkv[c.Heads*c.HeadDim:], qkv[(c.Heads+c.KVHeads)*c.HeadDim:]
}

// attention runs layer l's causal attention over a batch into out
// [B·T, H·hd]; lse [B, H, T] is saved for backward when non-nil.
func (m *Model) attention(ws *workspace, l int, qkv, out, lse []float32) {
	q, k, v := m.qkvViews(qkv)
	nn.AttentionForward(m.attnShape(l, ws.B, ws.T), out, lse, q, k, v, ws.attnScratch)
}

// attentionBwd writes dqkv from dout, given layer l's saved qkv, out and lse.
func (m *Model) attentionBwd(ws *workspace, l int, qkv, out, lse, dout, dqkv []float32) {
	q, k, v := m.qkvViews(qkv)
	dq, dk, dv := m.qkvViews(dqkv)
	clear(dqkv[:ws.B*ws.T*m.cfg.QKVDim()])
	nn.AttentionBackward(m.attnShape(l, ws.B, ws.T), dq, dk, dv, dout, q, k, v, out, lse, ws.attnScratch)
}

// cachedAttention appends the rows' keys and values to the cache of layer l
// and attends each row to the cached positions it sees (up to its own, and
// within the layer's window).
func (m *Model) cachedAttention(ws *workspace, l int, qkv, out []float32) {
	c := &m.cfg
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	ld, kvd, n := c.QKVDim(), KV*hd, ws.T
	kc, vc := ws.cache.k[l], ws.cache.v[l]
	q := ws.decodeQ[:n*H*hd]
	for r := 0; r < n; r++ {
		row := qkv[r*ld:]
		copy(q[r*H*hd:(r+1)*H*hd], row[:H*hd])
		copy(kc[(ws.pos0+r)*kvd:(ws.pos0+r+1)*kvd], row[H*hd:(H+KV)*hd])
		copy(vc[(ws.pos0+r)*kvd:(ws.pos0+r+1)*kvd], row[(H+KV)*hd:(H+2*KV)*hd])
	}
	nn.DecodeAttentionMasked(m.attnShape(l, 1, n), out[:n*H*hd], q, kc, vc, n, ws.pos0, ws.attnScratch)
}
