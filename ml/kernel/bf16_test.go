package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBF16Conversions(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{0, 0x0000},
		{1, 0x3f80},
		{-2, 0xc000},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, rounds to even (down)
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, rounds to even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{float32(math.Inf(1)), 0x7f80},
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // max float32 rounds to +Inf
	}
	for _, tt := range tests {
		if got := Float32ToBF16(tt.f); got != tt.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(tt.f), got, tt.want)
		}
	}
	if got := BF16ToFloat32(Float32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(got)) {
		t.Errorf("NaN converts to %g", got)
	}
	if got := BF16ToFloat32(0x3fc0); got != 1.5 {
		t.Errorf("BF16ToFloat32(0x3fc0) = %g, want 1.5", got)
	}
}

// TestGemmBF16BMatchesFloat32 checks that GemmBF16B equals Gemm on the
// widened B bit for bit, for every variant, transpose and a few shapes.
func TestGemmBF16BMatchesFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := []shape{{1, 1, 1}, {17, 31, 13}, {64, 70, 300}, {3, 500, 9}}
	for _, v := range testVariants() {
		if v.direct != nil {
			continue
		}
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				o := newOperands(rng, s, tr[0], tr[1], 1)
				bf := make([]uint16, len(o.b))
				for i, x := range o.b {
					bf[i] = Float32ToBF16(x)
					o.b[i] = BF16ToFloat32(bf[i])
				}
				want := append([]float32(nil), o.c...)
				v.gemm(o.transA, o.transB, s.m, s.n, s.k, 0.5, o.a, o.lda, o.b, o.ldb, 0.5, want, o.ldc)
				got := append([]float32(nil), o.c...)
				v.run(o.transA, o.transB, s.m, s.n, s.k, 0.5, o.a, o.lda, nil, bf, o.ldb, 0.5, got, o.ldc)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %v tA=%v tB=%v: C[%d] = %g with bf16 B, %g with float32 B", v.name, s, tr[0], tr[1], i, got[i], want[i])
					}
				}
			}
		}
	}
}

func TestGemmBF16BPublic(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6} // 2×3
	b := make([]uint16, 6)           // 3×2
	for i, x := range []float32{7, 8, 9, 10, 11, 12} {
		b[i] = Float32ToBF16(x)
	}
	c := make([]float32, 4)
	if err := GemmBF16B(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2); err != nil {
		t.Fatal(err)
	}
	if want := []float32{58, 64, 139, 154}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("GemmBF16B = %v, want %v", c, want)
	}
	err := GemmBF16B(false, true, 2, 2, 3, 1, a, 3, b[:5], 3, 0, c, 2)
	if err == nil || !strings.Contains(err.Error(), "B is 2×3") {
		t.Errorf("short B: error = %v", err)
	}
	if err := GemmBF16BVariant("nonesuch", false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2); err == nil {
		t.Error("unknown variant: no error")
	}
}
