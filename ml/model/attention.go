package model

import (
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// queryBlock is the number of query rows attention handles at once. Scores
// are only ever materialized for one block per worker ([queryBlock, T]), and
// the backward pass recomputes them from the saved log-sum-exp, so attention
// memory does not grow with T² per layer.
const queryBlock = 64

// ropeTable holds cos and sin of position·inv_freq for positions [0, n).
type ropeTable struct {
	half     int
	invFreq  []float64
	cos, sin []float32 // [n, half]
	n        int
}

// newRopeTable computes the inverse frequencies, applying the "llama3"
// scaling when the config asks for it.
func newRopeTable(c *Config) *ropeTable {
	half := c.HeadDim / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(c.HeadDim))
	}
	if s := c.RopeScaling; s != nil {
		old := float64(s.OriginalMaxPos)
		lowWave, highWave := old/s.LowFreqFactor, old/s.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave:
			case wave > lowWave:
				inv[i] = f / s.Factor
			default:
				smooth := (old/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				inv[i] = (1-smooth)*f/s.Factor + smooth*f
			}
		}
	}
	return &ropeTable{half: half, invFreq: inv}
}

// ensure grows the table to cover positions [0, n).
func (t *ropeTable) ensure(n int) {
	if n <= t.n {
		return
	}
	n = max(n, 2*t.n)
	cos, sin := make([]float32, n*t.half), make([]float32, n*t.half)
	for p := 0; p < n; p++ {
		for i, f := range t.invFreq {
			// Like the reference implementation, the angle is formed in float32.
			a := float64(float32(p) * float32(f))
			cos[p*t.half+i], sin[p*t.half+i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	t.cos, t.sin, t.n = cos, sin, n
}

// apply rotates the q and k heads of rows [0, rows) of the fused q|k|v
// buffer (row width ld) in the rotate_half convention; row r is at position
// pos(r). inverse applies the transpose rotation (the backward pass).
func (t *ropeTable) apply(qkv []float32, ld, rows, heads int, pos func(r int) int, inverse bool) {
	h := t.half
	kernel.ParallelFor(rows, rowGrain(ld), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := pos(r)
			cs, sn := t.cos[p*h:(p+1)*h], t.sin[p*h:(p+1)*h]
			for hd := 0; hd < heads; hd++ {
				x := qkv[r*ld+hd*2*h : r*ld+(hd+1)*2*h]
				x1, x2 := x[:h], x[h:2*h]
				for i := range x1 {
					a, b, c, s := x1[i], x2[i], cs[i], sn[i]
					if inverse {
						s = -s
					}
					x1[i] = a*c - b*s
					x2[i] = b*c + a*s
				}
			}
		}
	})
}

// scratchPool hands out per-worker score buffers without allocating.
type scratchPool chan []float32

func newScratchPool(workers, size int) scratchPool {
	p := make(scratchPool, workers)
	for i := 0; i < workers; i++ {
		p <- make([]float32, size)
	}
	return p
}

// attnHead computes causal attention for one query head against one
// key/value head: queries q[i] (row i at absolute position off+i) attend to
// keys [0, off+i]. Scores are scaled by scale. lse[i] receives the log-sum-exp
// of row i's scaled scores when lse is non-nil. s is scratch of at least
// queryBlock·(off+nq) elements.
func attnHead(q []float32, ldq int, k, v []float32, ldkv int, o []float32, ldo int, nq, off, hd int, scale float32, lse, s []float32) {
	for q0 := 0; q0 < nq; q0 += queryBlock {
		nb := min(queryBlock, nq-q0)
		nk := off + q0 + nb
		gemm(false, true, nb, nk, hd, scale, q[q0*ldq:], ldq, k, ldkv, 0, s, nk)
		for r := 0; r < nb; r++ {
			row := s[r*nk : (r+1)*nk]
			valid := off + q0 + r + 1
			mx := float32(math.Inf(-1))
			for _, x := range row[:valid] {
				mx = max(mx, x)
			}
			var sum float32
			for j, x := range row[:valid] {
				e := expf(x - mx)
				row[j] = e
				sum += e
			}
			inv := 1 / sum
			for j := range row[:valid] {
				row[j] *= inv
			}
			clear(row[valid:])
			if lse != nil {
				lse[q0+r] = mx + float32(math.Log(float64(sum)))
			}
		}
		gemm(false, false, nb, hd, nk, 1, s, nk, v, ldkv, 0, o[q0*ldo:], ldo)
	}
}

// attnHeadBwd is the backward pass of attnHead with off = 0: it writes dq
// and adds to dk and dv, recomputing the probabilities from q, k and lse.
// s and dp are scratch of queryBlock·nq elements each.
func attnHeadBwd(q, k, v, o, do []float32, ld, ldo int, dq, dk, dv []float32, ldd int, nq, hd int, scale float32, lse, s, dp []float32) {
	for q0 := 0; q0 < nq; q0 += queryBlock {
		nb := min(queryBlock, nq-q0)
		nk := q0 + nb
		gemm(false, true, nb, nk, hd, scale, q[q0*ld:], ld, k, ld, 0, s, nk)
		gemm(false, true, nb, nk, hd, 1, do[q0*ldo:], ldo, v, ld, 0, dp, nk)
		for r := 0; r < nb; r++ {
			row, drow := s[r*nk:(r+1)*nk], dp[r*nk:(r+1)*nk]
			valid := q0 + r + 1
			l := lse[q0+r]
			orow, dorow := o[(q0+r)*ldo:(q0+r)*ldo+hd], do[(q0+r)*ldo:(q0+r)*ldo+hd]
			var d float32
			for i, x := range orow {
				d += x * dorow[i]
			}
			for j, x := range row[:valid] {
				p := expf(x - l)
				row[j] = p
				drow[j] = p * (drow[j] - d)
			}
			clear(row[valid:])
			clear(drow[valid:])
		}
		gemm(false, false, nb, hd, nk, scale, dp, nk, k, ld, 0, dq[q0*ldd:], ldd)
		gemm(true, false, nk, hd, nb, scale, dp, nk, q[q0*ld:], ld, 1, dk, ldd)
		gemm(true, false, nk, hd, nb, 1, s, nk, do[q0*ldo:], ldo, 1, dv, ldd)
	}
}

// attention runs causal multi-head attention over a batch: qkv is
// [B·T, (H+2·KV)·hd] (q heads, then k heads, then v heads), out is
// [B·T, H·hd], lse is [B, H, T] (nil when not needed).
func (m *Model) attention(qkv, out, lse []float32, B, T int, pool scratchPool) {
	c := &m.cfg
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	ld, ldo := c.QKVDim(), H*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	kernel.ParallelFor(B*H, 1, func(lo, hi int) {
		s := <-pool
		defer func() { pool <- s }()
		for bh := lo; bh < hi; bh++ {
			b, h := bh/H, bh%H
			g := h / (H / KV)
			base := b * T * ld
			var l []float32
			if lse != nil {
				l = lse[bh*T : (bh+1)*T]
			}
			attnHead(qkv[base+h*hd:], ld, qkv[base+(H+g)*hd:], qkv[base+(H+KV+g)*hd:], ld,
				out[b*T*ldo+h*hd:], ldo, T, 0, hd, scale, l, s)
		}
	})
}

// attentionBwd computes dqkv from dout, given the saved qkv, out and lse.
// Work is split by (batch, kv head) so that each worker owns its dk and dv.
func (m *Model) attentionBwd(qkv, out, lse, dout, dqkv []float32, B, T int, pool scratchPool) {
	c := &m.cfg
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	ld, ldo := c.QKVDim(), H*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	group := H / KV
	kernel.ParallelFor(B*KV, 1, func(lo, hi int) {
		s := <-pool
		defer func() { pool <- s }()
		half := len(s) / 2
		for bg := lo; bg < hi; bg++ {
			b, g := bg/KV, bg%KV
			base := b * T * ld
			for r := 0; r < T; r++ {
				clear(dqkv[base+r*ld+(H+g)*hd : base+r*ld+(H+g+1)*hd])
				clear(dqkv[base+r*ld+(H+KV+g)*hd : base+r*ld+(H+KV+g+1)*hd])
			}
			for h := g * group; h < (g+1)*group; h++ {
				bh := b*H + h
				attnHeadBwd(qkv[base+h*hd:], qkv[base+(H+g)*hd:], qkv[base+(H+KV+g)*hd:],
					out[b*T*ldo+h*hd:], dout[b*T*ldo+h*hd:], ld, ldo,
					dqkv[base+h*hd:], dqkv[base+(H+g)*hd:], dqkv[base+(H+KV+g)*hd:], ld,
					T, hd, scale, lse[bh*T:(bh+1)*T], s[:half], s[half:])
			}
		}
	})
}
