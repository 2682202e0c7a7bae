package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Naive float64 references for every operation, written as directly from
// the definitions as possible. Tests compare the float32 operations with
// them and take finite differences of them to check the backward passes.

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32((r.Float64()*2 - 1) * scale)
	}
	return x
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

func refLinear(x, w, b []float64, n, in, out int, layout Layout) []float64 {
	y := make([]float64, n*out)
	for r := 0; r < n; r++ {
		for o := 0; o < out; o++ {
			var s float64
			if b != nil {
				s = b[o]
			}
			for i := 0; i < in; i++ {
				wv := w[o*in+i]
				if layout == InOut {
					wv = w[i*out+o]
				}
				s += x[r*in+i] * wv
			}
			y[r*out+o] = s
		}
	}
	return y
}

func refLayerNorm(x, w, b []float64, n, c int, eps float64) []float64 {
	y := make([]float64, n*c)
	for r := 0; r < n; r++ {
		xr := x[r*c : (r+1)*c]
		var m, v float64
		for _, a := range xr {
			m += a
		}
		m /= float64(c)
		for _, a := range xr {
			v += (a - m) * (a - m)
		}
		v /= float64(c)
		for j, a := range xr {
			y[r*c+j] = (a-m)/math.Sqrt(v+eps)*w[j] + b[j]
		}
	}
	return y
}

func refRMSNorm(x, w []float64, n, c int, eps float64) []float64 {
	y := make([]float64, n*c)
	for r := 0; r < n; r++ {
		xr := x[r*c : (r+1)*c]
		var ss float64
		for _, a := range xr {
			ss += a * a
		}
		rs := 1 / math.Sqrt(ss/float64(c)+eps)
		for j, a := range xr {
			y[r*c+j] = a * rs * w[j]
		}
	}
	return y
}

func refGELU(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

func refSiLU(x float64) float64 { return x / (1 + math.Exp(-x)) }

func refSoftmax(x []float64) []float64 {
	mx := math.Inf(-1)
	for _, a := range x {
		mx = math.Max(mx, a)
	}
	y := make([]float64, len(x))
	var s float64
	for i, a := range x {
		y[i] = math.Exp(a - mx)
		s += y[i]
	}
	for i := range y {
		y[i] /= s
	}
	return y
}

// refRoPE rotates x [batch, t, nh, hd] in the rotate_half convention with
// the given float64 inverse frequencies; inverse rotates the other way.
func refRoPE(x, inv []float64, batch, t, nh, hd int, start []int, inverse bool) []float64 {
	y := make([]float64, len(x))
	h := hd / 2
	for b := 0; b < batch; b++ {
		for j := 0; j < t; j++ {
			p := j
			if start != nil {
				p += start[b]
			}
			for hh := 0; hh < nh; hh++ {
				off := ((b*t+j)*nh + hh) * hd
				for i := 0; i < h; i++ {
					a := float64(float32(p) * float32(inv[i]))
					c, s := math.Cos(a), math.Sin(a)
					if inverse {
						s = -s
					}
					x1, x2 := x[off+i], x[off+h+i]
					y[off+i] = x1*c - x2*s
					y[off+h+i] = x2*c + x1*s
				}
			}
		}
	}
	return y
}

// refAttention is causal GQA attention over full T×T score matrices.
func refAttention(s AttnShape, q, k, v []float64) []float64 {
	B, T, NH, NKV, D := s.B, s.T, s.NH, s.NKV, s.D
	out := make([]float64, B*T*NH*D)
	g := NH / NKV
	sc := 1 / math.Sqrt(float64(D))
	if s.Scale != 0 {
		sc = float64(s.Scale)
	}
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			kv := h / g
			for i := 0; i < T; i++ {
				lo := 0
				if s.Window > 0 {
					lo = max(0, i-s.Window+1)
				}
				row := make([]float64, i+1-lo)
				for j := lo; j <= i; j++ {
					var d float64
					for e := 0; e < D; e++ {
						d += q[((b*T+i)*NH+h)*D+e] * k[((b*T+j)*NKV+kv)*D+e]
					}
					row[j-lo] = d * sc
					if c := float64(s.SoftCap); c > 0 {
						row[j-lo] = c * math.Tanh(row[j-lo]/c)
					}
				}
				p := refSoftmax(row)
				for e := 0; e < D; e++ {
					var o float64
					for j := lo; j <= i; j++ {
						o += p[j-lo] * v[((b*T+j)*NKV+kv)*D+e]
					}
					out[((b*T+i)*NH+h)*D+e] = o
				}
			}
		}
	}
	return out
}

// refCrossEntropy returns per-row losses (0 for ignored rows).
func refCrossEntropy(x []float64, targets []int32, n, v int) []float64 {
	l := make([]float64, n)
	for r := 0; r < n; r++ {
		if targets[r] == IgnoreIndex {
			continue
		}
		p := refSoftmax(x[r*v : (r+1)*v])
		l[r] = -math.Log(p[targets[r]])
	}
	return l
}

// fdGrad returns the gradient of Σ w·f(in) with respect to in[idx] by
// central differences in float64.
func fdGrad(f func(in [][]float64) []float64, in [][]float64, w []float64, idx int) []float64 {
	g := make([]float64, len(in[idx]))
	const h = 1e-5
	for i := range in[idx] {
		old := in[idx][i]
		in[idx][i] = old + h
		lp := dot64(w, f(in))
		in[idx][i] = old - h
		lm := dot64(w, f(in))
		in[idx][i] = old
		g[i] = (lp - lm) / (2 * h)
	}
	return g
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// relErr is ‖got − want‖ / max(‖want‖, 1e-12).
func relErr(got []float32, want []float64) float64 {
	var num, den float64
	for i, w := range want {
		d := float64(got[i]) - w
		num += d * d
		den += w * w
	}
	return math.Sqrt(num) / math.Max(math.Sqrt(den), 1e-12)
}

// maxAbsErr is max |got − want|.
func maxAbsErr(got []float32, want []float64) float64 {
	var m float64
	for i, w := range want {
		m = math.Max(m, math.Abs(float64(got[i])-w))
	}
	return m
}

// checkGrad compares an accumulated analytic gradient with finite
// differences. The analytic buffer was pre-filled with base before the
// backward call, which checks that backward accumulates.
func checkGrad(t *testing.T, name string, got, base []float32, fd []float64, tol float64) {
	t.Helper()
	diff := make([]float32, len(got))
	for i := range got {
		diff[i] = got[i] - base[i]
	}
	if e := relErr(diff, fd); e > tol || math.IsNaN(e) {
		t.Errorf("%s: relative error %.3g against finite differences (tolerance %.g)", name, e, tol)
	}
}

// prefilled returns a random buffer and a copy of it, for checkGrad.
func prefilled(r *rand.Rand, n int) (buf, base []float32) {
	buf = randVec(r, n, 1)
	return buf, append([]float32(nil), buf...)
}
