package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// testBF16Variants returns every bf16 variant usable here plus copies with
// the smallest blocks (one 32-chunk of k, one or two panels), so that small
// shapes cross every block boundary.
func testBF16Variants() []*bf16Variant {
	var out []*bf16Variant
	for _, v := range bf16Variants {
		out = append(out, v,
			&bf16Variant{name: v.name + "/tiny-blocks", kc: 32, mc: 32, nc: 64, block: v.block, begin: v.begin, end: v.end})
	}
	return out
}

// bf16Operands is a test problem with each operand stored as float32 or
// bf16.
type bf16Operands struct {
	*operands
	a, b Operand
}

func newBF16Operands(rng *rand.Rand, s shape, transA, transB bool, pad int, aBF, bBF bool) *bf16Operands {
	o := &bf16Operands{operands: newOperands(rng, s, transA, transB, pad)}
	o.a, o.b = MatF32(o.operands.a), MatF32(o.operands.b)
	if aBF {
		o.a = MatBF16(toBF16(o.operands.a))
	}
	if bBF {
		o.b = MatBF16(toBF16(o.operands.b))
	}
	return o
}

func toBF16(x []float32) []uint16 {
	out := make([]uint16, len(x))
	for i, f := range x {
		out[i] = Float32ToBF16(f)
	}
	return out
}

// refBF16 is GemmBF16's definition in float64: the sum of the exact
// products of the rounded operands, plus beta·C; it also returns the
// tolerance of each element: the float32 summation bound γ_(k+2) times the
// sum of the products' magnitudes, doubled, plus beta·C's rounding.
func (o *bf16Operands) refBF16(alpha, beta float32) (want []float32, tol []float64) {
	s := o.s
	want = append([]float32(nil), o.c...)
	tol = make([]float64, len(o.c))
	elem := func(x Operand, ld int, trans bool, r, c int, scale float32) float64 {
		if trans {
			r, c = c, r
		}
		if x.BF16 != nil {
			if scale == 1 {
				return float64(BF16ToFloat32(x.BF16[r*ld+c]))
			}
			return float64(BF16ToFloat32(roundBF16(scale * BF16ToFloat32(x.BF16[r*ld+c]))))
		}
		return float64(BF16ToFloat32(roundBF16(scale * x.F32[r*ld+c])))
	}
	// op(A) and op(B) rounded, in float64, so the triple loop is plain.
	ra, rb := make([]float64, s.m*s.k), make([]float64, s.k*s.n)
	for i := 0; i < s.m; i++ {
		for p := 0; p < s.k; p++ {
			ra[i*s.k+p] = elem(o.a, o.lda, o.transA, i, p, alpha)
		}
	}
	for p := 0; p < s.k; p++ {
		for j := 0; j < s.n; j++ {
			rb[p*s.n+j] = elem(o.b, o.ldb, o.transB, p, j, 1)
		}
	}
	for i := 0; i < s.m; i++ {
		for j := 0; j < s.n; j++ {
			var sum, mag float64
			for p := 0; p < s.k; p++ {
				x := ra[i*s.k+p] * rb[p*s.n+j]
				sum += x
				mag += math.Abs(x)
			}
			c := float64(o.c[i*o.ldc+j])
			if beta == 0 {
				c = 0
			}
			want[i*o.ldc+j] = float32(sum + float64(beta)*c)
			tol[i*o.ldc+j] = 2*float64(s.k+2)*0x1p-24*(mag+math.Abs(float64(beta)*c)) + 1e-30
		}
	}
	return want, tol
}

func TestGemmBF16VariantsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	shapes := []shape{{1, 1, 1}, {2, 3, 4}, {17, 31, 13}, {32, 32, 32}, {33, 65, 70}, {64, 64, 64},
		{29, 65, 1}, {300, 3, 5}, {3, 300, 7}, {47, 90, 130}, {16, 40, 33}, {70, 16, 16}, {5, 200, 120}}
	type ab struct{ alpha, beta float32 }
	scalars := []ab{{1, 0}, {1, 1}, {-1.5, 0.5}, {0.75, 1}}
	for _, v := range testBF16Variants() {
		for si, s := range shapes {
			for ti, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				sc := scalars[(si+ti)%len(scalars)]
				// Operands stored as float32 or bf16: two of the four
				// combinations per shape and transpose, in turn.
				for ci, st := range [][2]bool{{false, false}, {true, true}, {false, true}, {true, false}} {
					if ci%2 != (si+ti)%2 || raceEnabled && strings.HasPrefix(v.name, "go") && s.m*s.n*s.k > 20000 {
						continue
					}
					o := newBF16Operands(rng, s, tr[0], tr[1], (si+ti)%3, st[0], st[1])
					name := fmt.Sprintf("%s/%v/tA=%v,tB=%v/bf16A=%v,bf16B=%v/alpha=%g,beta=%g", v.name, s, tr[0], tr[1], st[0], st[1], sc.alpha, sc.beta)
					checkBF16Variant(t, name, v, o, sc.alpha, sc.beta)
				}
			}
		}
	}
}

func checkBF16Variant(t *testing.T, name string, v *bf16Variant, o *bf16Operands, alpha, beta float32) {
	t.Helper()
	s := o.s
	want, tol := o.refBF16(alpha, beta)
	got := append([]float32(nil), o.c...)
	if beta == 0 {
		for i := 0; i < s.m; i++ {
			for j := 0; j < s.n; j++ {
				got[i*o.ldc+j] = float32(math.NaN()) // must not leak
			}
		}
	}
	v.run(o.transA, o.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, got, o.ldc)
	bad := 0
	for i := 0; i < s.m; i++ {
		for j := 0; j < o.ldc; j++ {
			x := i*o.ldc + j
			if j >= s.n {
				if got[x] != sentinel {
					t.Fatalf("%s: padding C[%d][%d] = %g, want it untouched", name, i, j, got[x])
				}
				continue
			}
			if !(math.Abs(float64(got[x]-want[x])) <= tol[x]) {
				if bad < 3 {
					t.Errorf("%s: C[%d][%d] = %g, want %g (tolerance %.3g)", name, i, j, got[x], want[x], tol[x])
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements out of tolerance", name, bad, s.m*s.n)
	}
}

// TestPackBF16 checks the packers used on this CPU (assembly on amd64)
// against the element-by-element Go packers, bit for bit.
func TestPackBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []shape{{1, 1, 1}, {16, 16, 32}, {32, 32, 64}, {47, 50, 100}, {64, 33, 31}, {100, 97, 257}} {
		for _, trans := range []bool{false, true} {
			for _, bf := range []bool{false, true} {
				for _, alpha := range []float32{1, -0.5} {
					o := newBF16Operands(rng, s, trans, trans, 3, bf, bf)
					kc32 := roundUp(s.k, 32)
					// A: rows [1, m) from depth 1, so the source is offset.
					mc, kc := max(s.m-1, 0), max(s.k-1, 0)
					if mc > 0 && kc > 0 {
						got := make([]uint16, roundUp(mc, 32)*kc32)
						want := make([]uint16, len(got))
						for i := range got {
							got[i], want[i] = 0xdead, 0xbeef
						}
						packABF16(got, trans, o.a, o.lda, 1, 1, mc, kc, alpha)
						packARegion(want, trans, o.a, o.lda, 1, 1, mc, kc, alpha, 0, roundUp(mc, 32), 0, roundUp(kc, 32))
						comparePacked(t, fmt.Sprintf("A %v trans=%v bf16=%v alpha=%g", s, trans, bf, alpha), got, want, roundUp(mc, 32)*roundUp(kc, 32))
					}
					if alpha != 1 {
						continue
					}
					nc := max(s.n-1, 0)
					if nc > 0 && kc > 0 {
						got := make([]uint16, roundUp(nc, 32)*kc32)
						want := make([]uint16, len(got))
						for i := range got {
							got[i], want[i] = 0xdead, 0xbeef
						}
						packBBF16(got, trans, o.b, o.ldb, 1, 1, kc, nc)
						packBRegion(want, trans, o.b, o.ldb, 1, 1, kc, nc, 0, roundUp(kc, 32), 0, roundUp(nc, 32))
						comparePacked(t, fmt.Sprintf("B %v trans=%v bf16=%v", s, trans, bf), got, want, roundUp(nc, 32)*roundUp(kc, 32))
					}
				}
			}
		}
	}
}

func comparePacked(t *testing.T, name string, got, want []uint16, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			t.Fatalf("%s: packed[%d] = %#04x, want %#04x", name, i, got[i], want[i])
		}
	}
}

func TestRoundBF16(t *testing.T) {
	for _, tt := range []struct {
		f    float32
		want uint16
	}{
		{1, 0x3f80},
		{math.Float32frombits(0x3f808000), 0x3f80},
		{math.Float32frombits(0x3f818000), 0x3f82},
		{math.Float32frombits(0x00400000), 0x0000}, // subnormal → 0
		{math.Float32frombits(0x80000001), 0x8000}, // negative subnormal → -0
		{math.Float32frombits(0x00800000), 0x0080}, // smallest normal stays
	} {
		if got := roundBF16(tt.f); got != tt.want {
			t.Errorf("roundBF16(%#08x) = %#04x, want %#04x", math.Float32bits(tt.f), got, tt.want)
		}
	}
}

func TestGemmBF16Deterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	shapes := []shape{{203, 150, 300}, {9, 1400, 100}}
	for _, v := range bf16Variants {
		if v.name == "go" && raceEnabled {
			continue
		}
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				o := newBF16Operands(rng, s, tr[0], tr[1], 1, false, true)
				var first []float32
				for _, procs := range []int{1, 2, 3, 1} {
					runtime.GOMAXPROCS(procs)
					got := append([]float32(nil), o.c...)
					v.run(o.transA, o.transB, s.m, s.n, s.k, 0.5, o.a, o.lda, o.b, o.ldb, 0.25, got, o.ldc)
					if first == nil {
						first = got
						continue
					}
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
							t.Fatalf("%s %v tA=%v tB=%v: GOMAXPROCS=%d gives C[%d] = %g, first run gave %g", v.name, s, tr[0], tr[1], procs, i, got[i], first[i])
						}
					}
				}
			}
		}
	}
}

func TestGemmBF16Errors(t *testing.T) {
	buf := make([]float32, 100)
	if err := GemmBF16(false, false, 20, 4, 8, 1, MatF32(buf), 8, MatF32(buf), 4, 0, buf, 4); err == nil || !strings.Contains(err.Error(), "A is 20×8") {
		t.Errorf("short A: %v", err)
	}
	if err := GemmBF16(false, false, 2, 2, 2, 1, Operand{F32: buf, BF16: make([]uint16, 4)}, 2, MatF32(buf), 2, 0, buf, 2); err == nil {
		t.Error("an operand with both float32 and bf16 data was accepted")
	}
	if err := GemmBF16Variant("nonesuch", false, false, 1, 1, 1, 1, MatF32(buf), 1, MatF32(buf), 1, 0, buf, 1); err == nil || !strings.Contains(err.Error(), "nonesuch") {
		t.Errorf("unknown variant: %v", err)
	}
	c := []float32{1, 2, 3, 4}
	if err := GemmBF16(false, false, 2, 2, 0, 1, MatF32(nil), 1, MatF32(nil), 2, 0.5, c, 2); err != nil || fmt.Sprint(c) != "[0.5 1 1.5 2]" {
		t.Errorf("k=0: %v, C = %v", err, c)
	}
}

func TestParsePrecision(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Precision
	}{{"fp32", FP32}, {"BF16", BF16}, {"auto", AutoPrecision()}, {"", AutoPrecision()}} {
		if got, err := ParsePrecision(tt.in); err != nil || got != tt.want {
			t.Errorf("ParsePrecision(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParsePrecision("fp16"); err == nil || !strings.Contains(err.Error(), "auto, fp32 or bf16") {
		t.Errorf("ParsePrecision(fp16) error = %v", err)
	}
	if (AutoPrecision() == BF16) != HasBF16() {
		t.Errorf("AutoPrecision %v with HasBF16 %v", AutoPrecision(), HasBF16())
	}
}

func TestGemmBF16SteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a, b, c := make([]float32, 200*300), make([]uint16, 300*150), make([]float32, 200*150)
	run := func() { _ = GemmBF16(false, true, 200, 150, 300, 1, MatF32(a), 300, MatBF16(b), 300, 0, c, 150) }
	run()
	if n := testing.AllocsPerRun(10, run); n > 2 {
		t.Errorf("GemmBF16 allocates %v times per call, want ≤ 2 (the parallel loop's goroutines)", n)
	}
}

func TestMeasurePeakBF16(t *testing.T) {
	for _, isa := range PeakISAsBF16() {
		g, err := MeasurePeak(isa, 1, 5e6, 1)
		if err != nil || !(g > 0) {
			t.Errorf("MeasurePeak(%s) = %v, %v", isa, g, err)
		}
	}
}

// TestGemmBF16PackedMatchesUnpacked checks that a product with op(B)
// packed once (PackBF16) is bit-identical to GemmBF16 packing it on the
// fly, for every variant (with tiny blocks too, so that B spans several
// blocks of columns and depth), both transposes, B in float32 and bf16,
// and that the packed B is reused unchanged by several products.
func TestGemmBF16PackedMatchesUnpacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	shapes := []shape{{1, 1, 1}, {17, 31, 13}, {33, 65, 70}, {47, 90, 130}, {3, 300, 7}, {70, 16, 16}, {40, 1100, 40}, {9, 40, 600}}
	for _, v := range testBF16Variants() {
		for si, s := range shapes {
			if raceEnabled && strings.HasPrefix(v.name, "go") && s.m*s.n*s.k > 20000 {
				continue
			}
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				o := newBF16Operands(rng, s, tr[0], tr[1], si%3, si%2 == 0, si%2 == 1)
				pb := packBF16With(v, o.transB, s.k, s.n, o.b, o.ldb)
				for _, beta := range []float32{0, 1, 0.5} {
					want := append([]float32(nil), o.c...)
					v.run(o.transA, o.transB, s.m, s.n, s.k, 0.75, o.a, o.lda, o.b, o.ldb, beta, want, o.ldc)
					got := append([]float32(nil), o.c...)
					v.runPacked(o.transA, o.transB, s.m, s.n, s.k, 0.75, o.a, o.lda, Operand{}, 0, pb, beta, got, o.ldc)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %v tA=%v tB=%v beta=%g: packed C[%d] = %g, unpacked %g", v.name, s, tr[0], tr[1], beta, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	// The exported entry points: shape errors and the auto variant.
	o := newBF16Operands(rng, shape{20, 50, 40}, false, true, 1, false, true)
	pb, err := PackBF16(true, 40, 50, o.b, o.ldb)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]float32(nil), o.c...)
	if err := GemmBF16(false, true, 20, 50, 40, 1, o.a, o.lda, o.b, o.ldb, 0, want, o.ldc); err != nil {
		t.Fatal(err)
	}
	got := append([]float32(nil), o.c...)
	if err := GemmBF16Packed(false, 20, 1, o.a, o.lda, pb, 0, got, o.ldc); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("GemmBF16Packed C[%d] = %g, GemmBF16 %g", i, got[i], want[i])
		}
	}
	if _, err := PackBF16(true, 40, 50, o.b, 10); err == nil {
		t.Error("PackBF16 accepted a leading dimension shorter than a row")
	}
	if err := GemmBF16Packed(false, 20, 1, o.a, o.lda, pb, 0, got[:100], o.ldc); err == nil {
		t.Error("GemmBF16Packed accepted a C too short")
	}
}

// TestPackANF32RowsMatchesRegion checks the row-wise packer of a float32
// A against the element-wise one, bit for bit, on depths under, at and
// past a chunk, partial row panels, subnormals and a scaling alpha.
func TestPackANF32RowsMatchesRegion(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, tc := range []struct{ mc, kc, k0 int }{{1, 1, 0}, {5, 16, 0}, {32, 31, 0}, {33, 32, 0}, {40, 70, 64}, {64, 100, 0}, {7, 300, 288}} {
		lda, ic, pc := tc.kc+5, 2, 3
		a := make([]float32, (ic+tc.mc)*lda+pc)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
			if i%17 == 0 {
				a[i] = 1e-40 // subnormal: flushed to zero
			}
		}
		for _, alpha := range []float32{1, -0.37} {
			n := roundUp(tc.mc, 32) * roundUp(tc.kc, 32)
			want, got := make([]uint16, n), make([]uint16, n)
			for i := range got {
				got[i], want[i] = 0xffff, 0xffff
			}
			packARegion(want, false, MatF32(a), lda, ic, pc, tc.mc, tc.kc, alpha, 0, roundUp(tc.mc, 32), tc.k0, roundUp(tc.kc, 32))
			packANF32Rows(got, a, lda, ic, pc, tc.mc, tc.kc, alpha, 0, roundUp(tc.mc, 32), tc.k0)
			if !slices.Equal(got, want) {
				t.Errorf("mc=%d kc=%d k0=%d alpha=%g: row-wise packing differs from element-wise", tc.mc, tc.kc, tc.k0, alpha)
			}
		}
	}
}
