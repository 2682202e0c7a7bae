package nn

import (
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// RoPEScaling is the rope_scaling block of a Hugging Face config.json.
// Type is "default" (or empty: no scaling), "linear" (positions divided by
// Factor) or "llama3" (Llama 3.1's frequency-dependent scaling, which uses
// every field).
type RoPEScaling struct {
	Type                          string
	Factor                        float64
	LowFreqFactor                 float64
	HighFreqFactor                float64
	OriginalMaxPositionEmbeddings int
}

// RoPE applies rotary position embeddings in the Hugging Face "rotate_half"
// convention: the first and second halves of each head vector form the
// rotated pairs (dimension i pairs with i + headDim/2; not interleaved). It
// holds the cos/sin table for positions [0, MaxPos), built once.
//
// HeadDim is the number of rotated dimensions of each head. With partial
// rotary embeddings (Phi-3's partial_rotary_factor) only the first HeadDim
// dimensions of a head are rotated and HeadStride, the distance between
// consecutive heads, is the full head width; 0 means HeadDim.
type RoPE struct {
	HeadDim    int
	HeadStride int
	MaxPos     int
	invFreq    []float32 // [HeadDim/2]
	cos        []float32 // [MaxPos, HeadDim/2]
	sin        []float32 // [MaxPos, HeadDim/2]
}

// NewRoPE builds the table for heads of headDim (even) and positions
// [0, maxPos) from rope_theta and an optional scaling (nil for none). The
// table holds maxPos·headDim floats: size maxPos to the longest sequence
// that will run, not necessarily the model's max_position_embeddings. The
// inverse frequencies and angles are computed in float32 the way
// transformers computes them, so the table matches it bit for bit or within
// an ulp.
func NewRoPE(headDim, maxPos int, theta float64, scaling *RoPEScaling) (*RoPE, error) {
	if headDim <= 0 || headDim%2 != 0 {
		return nil, fmt.Errorf("rope: head_dim %d must be positive and even", headDim)
	}
	if maxPos <= 0 {
		return nil, fmt.Errorf("rope: max positions %d must be positive", maxPos)
	}
	if !(theta > 0) || math.IsInf(theta, 0) {
		return nil, fmt.Errorf("rope: rope_theta %v must be positive and finite", theta)
	}
	inv := DefaultInvFreq(headDim, theta)
	if err := scaleInvFreq(inv, scaling); err != nil {
		return nil, err
	}
	return NewRoPEFreqs(maxPos, inv, 1)
}

// DefaultInvFreq returns the unscaled inverse frequencies
// 1/theta^(2i/dim), i < dim/2, in float32 as transformers computes them.
func DefaultInvFreq(dim int, theta float64) []float32 {
	inv := make([]float32, dim/2)
	for i := range inv {
		e := float32(2*i) / float32(dim)
		inv[i] = 1 / float32(math.Pow(theta, float64(e)))
	}
	return inv
}

// NewRoPEFreqs builds the table for positions [0, maxPos) from inverse
// frequencies computed by the caller (one per rotated pair, so HeadDim is
// 2·len(invFreq)), with cos and sin multiplied by attnFactor (the
// attention scaling of LongRoPE and YaRN; 1 for the others).
func NewRoPEFreqs(maxPos int, invFreq []float32, attnFactor float32) (*RoPE, error) {
	if len(invFreq) == 0 {
		return nil, fmt.Errorf("rope: no inverse frequencies")
	}
	if maxPos <= 0 {
		return nil, fmt.Errorf("rope: max positions %d must be positive", maxPos)
	}
	for i, f := range invFreq {
		if !(f > 0) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("rope: inverse frequency %d is %v, want positive and finite", i, f)
		}
	}
	if !(attnFactor > 0) || math.IsInf(float64(attnFactor), 0) {
		return nil, fmt.Errorf("rope: attention factor %v must be positive and finite", attnFactor)
	}
	half := len(invFreq)
	inv := append([]float32(nil), invFreq...)
	r := &RoPE{HeadDim: 2 * half, MaxPos: maxPos, invFreq: inv,
		cos: make([]float32, maxPos*half), sin: make([]float32, maxPos*half)}
	for p := 0; p < maxPos; p++ {
		for i, f := range inv {
			a := float64(float32(p) * f)
			c, s := float32(math.Cos(a)), float32(math.Sin(a))
			if attnFactor != 1 {
				c, s = c*attnFactor, s*attnFactor
			}
			r.cos[p*half+i] = c
			r.sin[p*half+i] = s
		}
	}
	return r, nil
}

// scaleInvFreq applies rope_scaling to the inverse frequencies in place,
// following transformers' _compute_linear_scaling and
// _compute_llama3_parameters (in float32, in the same order of operations).
func scaleInvFreq(inv []float32, s *RoPEScaling) error {
	if s == nil || s.Type == "" || s.Type == "default" {
		return nil
	}
	if !(s.Factor > 0) {
		return fmt.Errorf("rope: rope_scaling.factor %v must be positive", s.Factor)
	}
	factor := float32(s.Factor)
	switch s.Type {
	case "linear":
		for i := range inv {
			inv[i] /= factor
		}
		return nil
	case "llama3":
	default:
		return fmt.Errorf("rope: rope_scaling type %q is not supported (want default, linear or llama3)", s.Type)
	}
	if s.OriginalMaxPositionEmbeddings <= 0 {
		return fmt.Errorf("rope: rope_scaling.original_max_position_embeddings %d must be positive", s.OriginalMaxPositionEmbeddings)
	}
	if !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) {
		return fmt.Errorf("rope: rope_scaling needs 0 < low_freq_factor (%v) < high_freq_factor (%v)", s.LowFreqFactor, s.HighFreqFactor)
	}
	old := float32(s.OriginalMaxPositionEmbeddings)
	low, high := float32(s.LowFreqFactor), float32(s.HighFreqFactor)
	lowWavelen := float32(float64(s.OriginalMaxPositionEmbeddings) / s.LowFreqFactor)
	highWavelen := float32(float64(s.OriginalMaxPositionEmbeddings) / s.HighFreqFactor)
	for i, f := range inv {
		wavelen := float32(2*math.Pi) / f
		v := f
		if wavelen > lowWavelen {
			v = f / factor
		}
		if !(wavelen < highWavelen) && !(wavelen > lowWavelen) {
			smooth := (old/wavelen - low) / (high - low)
			v = (1-smooth)*v/factor + smooth*v
		}
		inv[i] = v
	}
	return nil
}

// InvFreq returns the (scaled) inverse frequencies, [HeadDim/2]. The slice
// is the table's own; do not modify it.
func (r *RoPE) InvFreq() []float32 { return r.invFreq }

// CosSin returns the cos and sin rows for position p, [HeadDim/2] each.
func (r *RoPE) CosSin(p int) (cos, sin []float32) {
	h := r.HeadDim / 2
	return r.cos[p*h : (p+1)*h], r.sin[p*h : (p+1)*h]
}

// Forward rotates x [batch, t, nHeads, HeadDim] into out: the row at
// sequence position j of batch b has position start[b]+j (start nil means
// 0 for every sequence; non-zero starts continue a KV cache). ld is the
// distance in floats between consecutive token rows (0 means packed,
// nHeads·HeadDim; a larger stride rotates the leading heads of each row of
// a fused q|k|v projection). out may alias x (the usual in-place use).
// With HeadStride > HeadDim only the first HeadDim dimensions of each head
// are written; the rest of out is left as it is, so that in place they pass
// through unchanged (partial rotary embeddings).
func (r *RoPE) Forward(out, x []float32, batch, t, nHeads, ld int, start []int) {
	r.apply("RoPE.Forward", out, x, batch, t, nHeads, ld, start, false, false)
}

// Backward accumulates dx += R⁻¹·dout, the gradient of Forward (the
// inverse rotation). dx must not alias dout.
func (r *RoPE) Backward(dx, dout []float32, batch, t, nHeads, ld int, start []int) {
	r.apply("RoPE.Backward", dx, dout, batch, t, nHeads, ld, start, true, true)
}

// BackwardInPlace replaces the gradient d by R⁻¹·d: the gradient with
// respect to Forward's input, without a second buffer. It is the one
// backward in this package that overwrites instead of accumulating.
func (r *RoPE) BackwardInPlace(d []float32, batch, t, nHeads, ld int, start []int) {
	r.apply("RoPE.BackwardInPlace", d, d, batch, t, nHeads, ld, start, true, false)
}

func (r *RoPE) apply(op string, out, x []float32, batch, t, nHeads, ld int, start []int, inverse, accumulate bool) {
	hd, h := r.HeadDim, r.HeadDim/2
	hs := r.HeadStride
	if hs == 0 {
		hs = hd
	}
	if hs < hd {
		panic(fmt.Sprintf("nn.%s: head stride %d is shorter than the %d rotated dimensions", op, hs, hd))
	}
	if ld == 0 {
		ld = nHeads * hs
	}
	if ld < nHeads*hs {
		panic(fmt.Sprintf("nn.%s: row stride %d is shorter than %d heads of %d", op, ld, nHeads, hs))
	}
	if batch*t == 0 {
		return
	}
	n := (batch*t-1)*ld + (nHeads-1)*hs + hd
	need(op, "out", out, n)
	need(op, "x", x, n)
	if start != nil && len(start) < batch {
		panic(fmt.Sprintf("nn.%s: start has %d entries for %d sequences", op, len(start), batch))
	}
	for b := 0; b < batch; b++ {
		s := 0
		if start != nil {
			s = start[b]
		}
		if s < 0 || s+t > r.MaxPos {
			panic(fmt.Sprintf("nn.%s: positions [%d, %d) of sequence %d exceed the table's %d", op, s, s+t, b, r.MaxPos))
		}
	}
	sign := float32(1)
	if inverse {
		sign = -1
	}
	accFlag := 0
	if accumulate {
		accFlag = 1
	}
	kernel.ParallelFor(batch*t, rowGrain(nHeads*hd), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			b, j := row/t, row%t
			p := j
			if start != nil {
				p += start[b]
			}
			cs, sn := r.cos[p*h:(p+1)*h], r.sin[p*h:(p+1)*h]
			for hh := 0; hh < nHeads; hh++ {
				off := row*ld + hh*hs
				if useAVX2 && h%8 == 0 {
					ropeAVX2(&out[off], &x[off], &cs[0], &sn[0], h, sign, accFlag)
					continue
				}
				x1, x2 := x[off:off+h], x[off+h:off+hd]
				o1, o2 := out[off:off+h], out[off+h:off+hd]
				for i := 0; i < h; i++ {
					c, s := cs[i], sign*sn[i]
					a, bb := x1[i], x2[i]
					y1 := a*c - bb*s
					y2 := bb*c + a*s
					if accumulate {
						o1[i] += y1
						o2[i] += y2
					} else {
						o1[i] = y1
						o2[i] = y2
					}
				}
			}
		}
	})
}
