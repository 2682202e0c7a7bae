package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refF16ToF64 decodes a half from its fields: (-1)^s · 2^(e-15) · 1.m, or
// 2^-14 · 0.m for subnormals.
func refF16ToF64(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return s * math.Ldexp(m, -24)
	case 0x1f:
		if m == 0 {
			return math.Inf(int(s))
		}
		return math.NaN()
	}
	return s * math.Ldexp(1+m/1024, e-15)
}

// refRound rounds x (a float32 widened to float64) to a binary format with
// mbits explicit mantissa bits, minimum normal exponent emin, and overflow
// threshold maxFinite, ties to even, all in exact float64 arithmetic.
func refRound(x float64, mbits, emin int, maxFinite float64) float64 {
	if x == 0 || math.IsInf(x, 0) {
		return x
	}
	a := math.Abs(x)
	_, e := math.Frexp(a) // a = f·2^e, f in [0.5, 1)
	e--                   // a = 1.f·2^e
	q := math.Ldexp(1, max(e, emin)-mbits)
	r := math.RoundToEven(a/q) * q
	// Past the largest finite value the rounding target would need an
	// exponent that does not exist: the result is infinite.
	if r > maxFinite {
		r = math.Inf(1)
	}
	return math.Copysign(r, x)
}

// refF64ToF16 encodes a value exactly representable as a half.
func refF64ToF16(x float64) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign = 0x8000
	}
	a := math.Abs(x)
	if math.IsInf(a, 0) {
		return sign | 0x7c00
	}
	if a < math.Ldexp(1, -14) {
		return sign | uint16(a/math.Ldexp(1, -24))
	}
	_, e := math.Frexp(a)
	e--
	m := a/math.Ldexp(1, e) - 1
	return sign | uint16(e+15)<<10 | uint16(m*1024)
}

func TestF16ToF32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got := F16ToF32(h)
		want := refF16ToF64(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) || math.Signbit(float64(got)) != (h&0x8000 != 0) {
				t.Fatalf("F16ToF32(%#04x) = %v, want NaN with the same sign", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestBF16ToF32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got := math.Float32bits(BF16ToF32(h))
		if got != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) bits = %#08x", h, got)
		}
	}
}

// checkF16 compares F32ToF16(f) against the float64 reference.
func checkF16(t *testing.T, f float32) {
	t.Helper()
	got := F32ToF16(f)
	if math.IsNaN(float64(f)) {
		if got&0x7c00 != 0x7c00 || got&0x3ff == 0 || (got&0x8000 != 0) != math.Signbit(float64(f)) {
			t.Fatalf("F32ToF16(NaN %#08x) = %#04x, want a NaN of the same sign", math.Float32bits(f), got)
		}
		return
	}
	want := refF64ToF16(refRound(float64(f), 10, -14, 65504))
	if got != want {
		t.Fatalf("F32ToF16(%v = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
	}
}

// checkBF16 compares F32ToBF16(f) against the float64 reference.
func checkBF16(t *testing.T, f float32) {
	t.Helper()
	got := F32ToBF16(f)
	if math.IsNaN(float64(f)) {
		if !math.IsNaN(float64(BF16ToF32(got))) || (got&0x8000 != 0) != math.Signbit(float64(f)) {
			t.Fatalf("F32ToBF16(NaN %#08x) = %#04x, want a NaN of the same sign", math.Float32bits(f), got)
		}
		return
	}
	maxBF16 := float64(math.Float32frombits(0x7f7f0000))
	want := refRound(float64(f), 7, -126, maxBF16)
	if g := float64(BF16ToF32(got)); g != want || math.Signbit(g) != math.Signbit(want) {
		t.Fatalf("F32ToBF16(%v = %#08x) = %#04x (%v), want %v", f, math.Float32bits(f), got, g, want)
	}
}

// neighbours returns f, the float32 values next to it, and the midpoints
// (and their neighbours) between consecutive 16-bit values around it, the
// inputs where rounding can go wrong.
func neighbours(lo, hi float32) []float32 {
	out := []float32{lo, math.Nextafter32(lo, float32(math.Inf(1))), math.Nextafter32(lo, float32(math.Inf(-1)))}
	if !math.IsInf(float64(hi), 0) && !math.IsNaN(float64(hi)) && !math.IsNaN(float64(lo)) && !math.IsInf(float64(lo), 0) {
		mid := float32((float64(lo) + float64(hi)) / 2) // exact: a 16-bit format has spare float32 bits
		out = append(out, mid, math.Nextafter32(mid, hi), math.Nextafter32(mid, lo), -mid)
	}
	return out
}

func TestF32ToF16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := F16ToF32(h)
		// Every half round-trips exactly (NaNs to a NaN).
		if back := F32ToF16(f); back != h && !(math.IsNaN(float64(f)) && back&0x3ff != 0 && back&0x7c00 == 0x7c00) {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, back)
		}
		next := F16ToF32(h + 1)
		if h&0x7fff >= 0x7c00 {
			next = float32(math.Inf(1))
		}
		for _, x := range neighbours(f, next) {
			checkF16(t, x)
		}
	}
	// Just past the largest half: 65520 is the tie between 65504 and 2^16.
	for _, x := range []float32{65504, 65519.996, 65520, 65536, 1e10, math.MaxFloat32, 1e-8, 2.9802322e-08, 2.9802326e-08, 5.9604645e-08} {
		checkF16(t, x)
		checkF16(t, -x)
	}
}

func TestF32ToBF16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := BF16ToF32(h)
		if back := F32ToBF16(f); back != h && !(math.IsNaN(float64(f)) && math.IsNaN(float64(BF16ToF32(back)))) {
			t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x", h, back)
		}
		next := BF16ToF32(h + 1)
		if h&0x7fff >= 0x7f80 {
			next = float32(math.Inf(1))
		}
		for _, x := range neighbours(f, next) {
			checkBF16(t, x)
		}
	}
	// A NaN whose payload lives only in the low 16 bits must stay a NaN.
	for _, bits := range []uint32{0x7f800001, 0xff800001, 0x7fc00000, 0x7f80ffff} {
		checkBF16(t, math.Float32frombits(bits))
		checkF16(t, math.Float32frombits(bits))
	}
}

func TestF32ToHalfRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		f := math.Float32frombits(r.Uint32())
		checkF16(t, f)
		checkBF16(t, f)
	}
}

func TestSliceAndByteConversions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 3*convertGrain + 17 // long enough to run in parallel
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 100)
	}
	h := make([]uint16, n)
	b := make([]uint16, n)
	if F32ToF16Slice(h, src) != n || F32ToBF16Slice(b, src) != n {
		t.Fatal("short conversion count")
	}
	hf := make([]float32, n)
	bf := make([]float32, n)
	F16ToF32Slice(hf, h)
	BF16ToF32Slice(bf, b)
	for i := range src {
		if h[i] != F32ToF16(src[i]) || b[i] != F32ToBF16(src[i]) || hf[i] != F16ToF32(h[i]) || bf[i] != BF16ToF32(b[i]) {
			t.Fatalf("element %d differs from the scalar conversion", i)
		}
	}
	if got := F16ToF32Slice(make([]float32, 3), h); got != 3 {
		t.Fatalf("count = %d, want min length 3", got)
	}

	for _, dt := range []DType{F32, F16, BF16, F64} {
		raw := make([]byte, n*dt.Size())
		if err := EncodeFloat32(raw, src, dt); err != nil {
			t.Fatal(err)
		}
		back := make([]float32, n)
		if err := DecodeFloat32(back, raw, dt); err != nil {
			t.Fatal(err)
		}
		for i := range src {
			want := src[i]
			switch dt {
			case F16:
				want = F16ToF32(F32ToF16(want))
			case BF16:
				want = BF16ToF32(F32ToBF16(want))
			}
			if back[i] != want {
				t.Fatalf("%s round trip of element %d: %v, want %v", dt, i, back[i], want)
			}
		}
	}
	if err := DecodeFloat32(make([]float32, 2), make([]byte, 7), F32); err == nil {
		t.Error("DecodeFloat32 accepted a short buffer")
	}
	if err := EncodeFloat32(make([]byte, 2), make([]float32, 2), I8); err == nil {
		t.Error("EncodeFloat32 accepted an integer dtype")
	}
}

func BenchmarkF32ToBF16Slice(b *testing.B) {
	src := make([]float32, 1<<20)
	dst := make([]uint16, len(src))
	b.SetBytes(int64(len(src) * 4))
	for b.Loop() {
		F32ToBF16Slice(dst, src)
	}
}

func BenchmarkBF16ToF32Slice(b *testing.B) {
	src := make([]uint16, 1<<20)
	dst := make([]float32, len(src))
	b.SetBytes(int64(len(src) * 2))
	for b.Loop() {
		BF16ToF32Slice(dst, src)
	}
}

func BenchmarkF16ToF32Slice(b *testing.B) {
	src := make([]uint16, 1<<20)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src))
	b.SetBytes(int64(len(src) * 2))
	for b.Loop() {
		F16ToF32Slice(dst, src)
	}
}
