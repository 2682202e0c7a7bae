package chain

import (
	"math"
	"math/big"
	"math/bits"
)

// fx is a signed fixed-point number with 32 fractional bits, Subtensor's
// I32F32: the value is fx / 2^32. Multiplication rounds toward −∞ and
// division toward zero, as the substrate-fixed crate does, and both
// saturate instead of overflowing.
type fx int64

const fxOne fx = 1 << 32

func fxInt(n int64) fx { return fx(n) << 32 }

func (a fx) float() float64 { return float64(a) / (1 << 32) }

// fxFloat converts a float to the nearest fx (for inputs with no exact
// fixed-point source, such as liquid alpha's sigmoid).
func fxFloat(x float64) fx { return fx(math.Round(x * (1 << 32))) }

func fxSat(neg bool, hi, lo uint64) fx {
	// The magnitude is hi:lo; saturate when it does not fit in 63 bits.
	if hi != 0 || lo > math.MaxInt64 {
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	if neg {
		return -fx(lo)
	}
	return fx(lo)
}

func abs64(a fx) uint64 {
	if a < 0 {
		return uint64(-a)
	}
	return uint64(a)
}

// mul returns floor(a·b / 2^32), saturating.
func (a fx) mul(b fx) fx {
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(abs64(a), abs64(b))
	rem := lo & (1<<32 - 1)
	lo = lo>>32 | hi<<32
	hi >>= 32
	if neg && rem != 0 { // floor of a negative: one more in magnitude
		var c uint64
		lo, c = bits.Add64(lo, 1, 0)
		hi += c
	}
	return fxSat(neg, hi, lo)
}

// div returns a / b truncated toward zero, 0 when b is 0 (Subtensor's
// safe_div), saturating.
func (a fx) div(b fx) fx {
	if b == 0 {
		return 0
	}
	neg := (a < 0) != (b < 0)
	ua, ub := abs64(a), abs64(b)
	hi, lo := ua>>32, ua<<32
	if hi >= ub {
		return fxSat(neg, 1, 0)
	}
	q, _ := bits.Div64(hi, lo, ub)
	return fxSat(neg, 0, q)
}

func (a fx) add(b fx) fx {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		if a > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

// toU16 is fixed_proportion_to_u16: floor(a · 65535), saturating to u16.
func (a fx) toU16() uint16 {
	v := a.mul(fxInt(65535)) >> 32
	switch {
	case v <= 0:
		return 0
	case v >= 65535:
		return 65535
	}
	return uint16(v)
}

func fxSum(x []fx) fx {
	var s fx
	for _, v := range x {
		s = s.add(v)
	}
	return s
}

func fxNormalize(x []fx) {
	s := fxSum(x)
	if s == 0 {
		return
	}
	for i := range x {
		x[i] = x[i].div(s)
	}
}

func fxColNormalize(m [][]fx) {
	if len(m) == 0 {
		return
	}
	for j := range m[0] {
		var s fx
		for i := range m {
			s = s.add(m[i][j])
		}
		if s == 0 {
			continue
		}
		for i := range m {
			m[i][j] = m[i][j].div(s)
		}
	}
}

func fxMatrix(n int) [][]fx {
	m := make([][]fx, n)
	back := make([]fx, n*n)
	for i := range m {
		m[i] = back[i*n : (i+1)*n : (i+1)*n]
	}
	return m
}

// stakeShares is Subtensor's stake normalization: in I64F64 (64 fractional
// bits, division truncating), then cut to I32F32 by dropping 32 bits.
func stakeShares(stake []uint64) []fx {
	total := new(big.Int)
	for _, s := range stake {
		total.Add(total, new(big.Int).SetUint64(s))
	}
	out := make([]fx, len(stake))
	if total.Sign() == 0 {
		return out
	}
	q := new(big.Int)
	for i, s := range stake {
		q.SetUint64(s)
		q.Lsh(q, 64)
		q.Quo(q, total) // I64F64 bits of s/total
		q.Rsh(q, 32)    // to I32F32
		out[i] = fx(q.Int64())
	}
	return out
}
