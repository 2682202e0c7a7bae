package optim

import (
	"math"
	"sort"
)

// updateRangeBF16 is updateRange with both moments stored as bfloat16
// (AdamWConfig.BF16State): each is widened, updated in float32 exactly as
// updateRange does, and stored back with stochastic rounding.
func (o *AdamW) updateRangeBF16(lo, hi int) {
	b2 := float32(o.cfg.Beta2)
	b1 := float32(o.cfg.Beta1)
	w1 := float32(1 - o.cfg.Beta1)
	w2 := float32(1 - o.cfg.Beta2)
	eps := float32(o.cfg.Eps)
	stepSize, bc2Sqrt, gs := o.stepSize, o.bc2Sqrt, o.gradScale
	k := o.consts()
	i := sort.Search(len(o.params), func(k int) bool { return o.starts[k+1] > lo })
	for ; i < len(o.params) && o.starts[i] < hi; i++ {
		p := o.params[i]
		a := max(lo, o.starts[i]) - o.starts[i]
		b := min(hi, o.starts[i+1]) - o.starts[i]
		data, grad, m, v := p.Data[a:b], p.Grad[a:b], o.m16[i][a:b], o.v16[i][a:b]
		grad, m, v = grad[:len(data)], m[:len(data)], v[:len(data)]
		decay := o.decay
		if p.NoDecay {
			decay = 1
		}
		base := uint32(o.starts[i] + a)
		j0 := 0
		if useAVX2 {
			j0 = len(data) &^ 7
			if j0 > 0 {
				kk := k
				if p.NoDecay {
					kk.decay = 1
				}
				adamwBF16AVX2(&data[0], &grad[0], &m[0], &v[0], j0, base, &kk)
			}
		}
		for j := j0; j < len(data); j++ {
			g := grad[j]
			if gs != 1 {
				g = float32(g * gs)
			}
			x := float32(data[j] * decay)
			mj := float32(bf16(m[j])*b1) + float32(w1*g)
			vj := float32(bf16(v[j])*b2) + float32(w2*float32(g*g))
			r := srBits(base+uint32(j), k.seed)
			m[j], v[j] = roundStochastic(mj, r&0xffff), roundStochastic(vj, r>>16)
			denom := float32(float32(math.Sqrt(float64(vj)))/bc2Sqrt) + eps
			data[j] = x - float32(stepSize*float32(mj/denom))
		}
	}
}

// bf16 widens a bfloat16 to float32 (exact).
func bf16(x uint16) float32 { return math.Float32frombits(uint32(x) << 16) }

// roundStochastic rounds x to bfloat16, up (in magnitude) with probability
// equal to the distance from the value below, using the low 16 bits of r;
// infinities and NaNs are kept.
func roundStochastic(x float32, r uint32) uint16 {
	u := math.Float32bits(x)
	if u&0x7f800000 == 0x7f800000 {
		h := uint16(u >> 16)
		if u&0x7fffff != 0 {
			h |= 0x40 // a NaN stays a NaN
		}
		return h
	}
	return uint16((u + r&0xffff) >> 16)
}

// roundNearest rounds x to bfloat16, ties to even.
func roundNearest(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// srBits is the 32 random bits of element idx at a step (seed): a
// multiplicative hash of the index finished with Wellons' lowbias32 mixer,
// cheap enough to vectorize (adamwBF16AVX2 computes the same).
func srBits(idx, seed uint32) uint32 {
	h := idx*0x9e3779b1 + seed
	h ^= h >> 16
	h *= 0x7feb352d
	h ^= h >> 15
	h *= 0x846ca68b
	h ^= h >> 16
	return h
}

// adamwConsts are a step's scalars, laid out for the vector kernels.
type adamwConsts struct {
	decay, b1, w1, b2, w2, bc2, eps, step, gs float32
	seed                                      uint32
}

func (o *AdamW) consts() adamwConsts {
	return adamwConsts{decay: o.decay, b1: float32(o.cfg.Beta1), w1: float32(1 - o.cfg.Beta1), b2: float32(o.cfg.Beta2),
		w2: float32(1 - o.cfg.Beta2), bc2: o.bc2Sqrt, eps: float32(o.cfg.Eps), step: o.stepSize, gs: o.gradScale,
		seed: uint32(o.step) * 0x85ebca77}
}

// moments returns param i's moments widened to float32 (copies).
func (o *AdamW) moments(i int) (m, v []float32) {
	if !o.cfg.BF16State {
		return append([]float32(nil), o.m[i]...), append([]float32(nil), o.v[i]...)
	}
	m, v = make([]float32, len(o.m16[i])), make([]float32, len(o.v16[i]))
	for j := range m {
		m[j], v[j] = bf16(o.m16[i][j]), bf16(o.v16[i][j])
	}
	return m, v
}

// setMoments stores param i's moments (rounded to nearest with BF16State,
// exact for moments that were saved from bf16).
func (o *AdamW) setMoments(i int, m, v []float32) {
	if !o.cfg.BF16State {
		copy(o.m[i], m)
		copy(o.v[i], v)
		return
	}
	for j := range m {
		o.m16[i][j], o.v16[i][j] = roundNearest(m[j]), roundNearest(v[j])
	}
}

// size is the number of elements of param i's state.
func (o *AdamW) size(i int) int { return o.starts[i+1] - o.starts[i] }
