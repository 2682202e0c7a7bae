package model

import (
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// Query/key norms (Qwen3, Qwen3-MoE, Gemma 3): an RMSNorm over each query and
// key head, applied to the projections before RoPE. The q heads share one
// weight [head_dim], the k heads another. They run in place on the fused
// q|k|v rows; the heads before their norm and each head's 1/rms are saved
// for the backward pass.

// qkNormFwd normalizes the q and k heads of qkv [n, QKVDim] in place,
// saving the inputs in pre [n, (H+KV)·hd] and the reciprocal rms in rstd
// [n, H+KV].
func (m *Model) qkNormFwd(b *block, qkv, pre, rstd []float32, n int) {
	c := &m.cfg
	H, nh, hd, ld := c.Heads, c.Heads+c.KVHeads, c.HeadDim, c.QKVDim()
	eps := c.NormEps
	qw, kw := b.qNorm.scale(), b.kNorm.scale()
	kernel.ParallelFor(n, max(1, 2048/(nh*hd)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := qkv[r*ld : r*ld+nh*hd]
			copy(pre[r*nh*hd:(r+1)*nh*hd], row)
			for h := 0; h < nh; h++ {
				x := row[h*hd : (h+1)*hd]
				var ss float64
				for _, v := range x {
					ss += float64(v) * float64(v)
				}
				rs := float32(1 / math.Sqrt(ss/float64(hd)+eps))
				rstd[r*nh+h] = rs
				w := qw
				if h >= H {
					w = kw
				}
				for i, v := range x {
					x[i] = v * rs * w[i]
				}
			}
		}
	})
}

// qkNormBwd replaces the gradient of the normalized q and k heads in dqkv
// [n, QKVDim] by the gradient of their inputs, and adds the weight
// gradients (when the base is trained).
func (m *Model) qkNormBwd(b *block, dqkv, pre, rstd []float32, n int) {
	c := &m.cfg
	H, nh, hd, ld := c.Heads, c.Heads+c.KVHeads, c.HeadDim, c.QKVDim()
	qw, kw := b.qNorm.scale(), b.kNorm.scale()
	// Weight gradients first, while dqkv still holds the output gradient:
	// dw[i] = Σ over rows and heads of dy·x̂, partitioned over i so that
	// every sum runs in row order.
	if b.qNorm.gw != nil {
		kernel.ParallelFor(hd, 8, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var sq, sk float32
				for r := 0; r < n; r++ {
					for h := 0; h < nh; h++ {
						g := dqkv[r*ld+h*hd+i] * pre[(r*nh+h)*hd+i] * rstd[r*nh+h]
						if h < H {
							sq += g
						} else {
							sk += g
						}
					}
				}
				b.qNorm.gw[i] += sq
				b.kNorm.gw[i] += sk
			}
		})
	}
	kernel.ParallelFor(n, max(1, 2048/(nh*hd)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for h := 0; h < nh; h++ {
				w := qw
				if h >= H {
					w = kw
				}
				d := dqkv[r*ld+h*hd : r*ld+(h+1)*hd]
				x := pre[(r*nh+h)*hd : (r*nh+h+1)*hd]
				rs := rstd[r*nh+h]
				// dx = rs·(w·dy − x̂·mean(x̂·w·dy)), x̂ = x·rs.
				var dot float32
				for i, g := range d {
					dot += g * w[i] * x[i] * rs
				}
				mean := dot / float32(hd)
				for i, g := range d {
					d[i] = rs * (w[i]*g - x[i]*rs*mean)
				}
			}
		}
	})
}
