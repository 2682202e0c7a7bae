package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// convertGrain is the smallest number of elements a slice conversion hands
// to one worker; shorter slices are converted on the calling goroutine.
const convertGrain = 1 << 16

// BF16ToF32 widens a bfloat16 bit pattern to float32. It is exact: a
// bfloat16 is the top half of a binary32.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 narrows f to bfloat16 with round to nearest, ties to even.
// Values past the largest bfloat16 become infinity; a NaN stays a NaN (sign
// and top payload bits kept, quiet bit set so that the payload cannot
// truncate to an infinity).
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// F16ToF32 widens an IEEE half-precision bit pattern to float32. It is exact
// for every input, including subnormals, infinities and NaNs (whose payload
// is kept).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch exp {
	case 0:
		// Zero or subnormal: man·2⁻²⁴, exact in float32.
		v := float32(man) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(v) | sign)
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	default:
		return math.Float32frombits(sign | (exp+(127-15))<<23 | man<<13)
	}
}

// F32ToF16 narrows f to IEEE half precision with round to nearest, ties to
// even, producing subnormals where needed. Values whose rounding exceeds the
// largest half (65504) become infinity; a NaN stays a NaN (sign and top
// payload bits kept, quiet bit set).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7c00 | 0x0200 | uint16(man>>13)
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Half subnormal (or zero): the result mantissa is x/2⁻²⁴, that
		// is the 24-bit significand shifted right by 14-e.
		if e < -10 {
			return sign // below half the smallest subnormal: rounds to zero
		}
		m := man | 0x800000
		s := uint32(14 - e)
		r := m >> s
		rem := m & (1<<s - 1)
		half := uint32(1) << (s - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry rolls into the exponent, and up to infinity
	}
	return sign | uint16(h)
}

// BF16ToF32Slice converts min(len(dst), len(src)) elements and returns that
// count. Long slices are converted in parallel.
func BF16ToF32Slice(dst []float32, src []uint16) int {
	n := min(len(dst), len(src))
	kernel.ParallelFor(n, convertGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = BF16ToF32(src[i])
		}
	})
	return n
}

// F32ToBF16Slice converts min(len(dst), len(src)) elements and returns that
// count. Long slices are converted in parallel.
func F32ToBF16Slice(dst []uint16, src []float32) int {
	n := min(len(dst), len(src))
	kernel.ParallelFor(n, convertGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = F32ToBF16(src[i])
		}
	})
	return n
}

// F16ToF32Slice converts min(len(dst), len(src)) elements and returns that
// count. Long slices are converted in parallel.
func F16ToF32Slice(dst []float32, src []uint16) int {
	n := min(len(dst), len(src))
	kernel.ParallelFor(n, convertGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = F16ToF32(src[i])
		}
	})
	return n
}

// F32ToF16Slice converts min(len(dst), len(src)) elements and returns that
// count. Long slices are converted in parallel.
func F32ToF16Slice(dst []uint16, src []float32) int {
	n := min(len(dst), len(src))
	kernel.ParallelFor(n, convertGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = F32ToF16(src[i])
		}
	})
	return n
}

// DecodeFloat32 converts little-endian elements of type dt in src to float32
// in dst. dt must be a float type (F32, F16, BF16 or F64; F64 is rounded to
// nearest) and len(src) must be exactly len(dst)·dt.Size().
func DecodeFloat32(dst []float32, src []byte, dt DType) error {
	if !dt.IsFloat() {
		return fmt.Errorf("decode %s as float32: not a float type", dt)
	}
	if len(src) != len(dst)*dt.Size() {
		return fmt.Errorf("decode %s as float32: %d bytes for %d elements, want %d", dt, len(src), len(dst), len(dst)*dt.Size())
	}
	kernel.ParallelFor(len(dst), convertGrain, func(lo, hi int) {
		switch dt {
		case F32:
			for i := lo; i < hi; i++ {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			}
		case F16:
			for i := lo; i < hi; i++ {
				dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		case BF16:
			for i := lo; i < hi; i++ {
				dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		case F64:
			for i := lo; i < hi; i++ {
				dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
			}
		}
	})
	return nil
}

// EncodeFloat32 converts float32 values in src to little-endian elements of
// type dt in dst. dt must be F32, F16, BF16 or F64 (narrowing rounds to
// nearest even) and len(dst) must be exactly len(src)·dt.Size().
func EncodeFloat32(dst []byte, src []float32, dt DType) error {
	if !dt.IsFloat() {
		return fmt.Errorf("encode float32 as %s: not a float type", dt)
	}
	if len(dst) != len(src)*dt.Size() {
		return fmt.Errorf("encode float32 as %s: %d bytes for %d elements, want %d", dt, len(dst), len(src), len(src)*dt.Size())
	}
	kernel.ParallelFor(len(src), convertGrain, func(lo, hi int) {
		switch dt {
		case F32:
			for i := lo; i < hi; i++ {
				binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(src[i]))
			}
		case F16:
			for i := lo; i < hi; i++ {
				binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(src[i]))
			}
		case BF16:
			for i := lo; i < hi; i++ {
				binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(src[i]))
			}
		case F64:
			for i := lo; i < hi; i++ {
				binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(float64(src[i])))
			}
		}
	})
	return nil
}
