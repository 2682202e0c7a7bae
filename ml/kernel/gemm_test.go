package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// testVariants returns every variant usable here, plus copies of each with
// tiny cache blocks so that small shapes cross every block boundary (several
// k slices, several A and B blocks) without a slow reference computation,
// and with A packed where the variant would read it in place.
func testVariants() []*variant {
	var out []*variant
	for _, v := range variants {
		out = append(out, v)
		if v.direct != nil {
			continue
		}
		out = append(out, &variant{name: v.name + "/tiny-blocks", mr: v.mr, nr: v.nr, kc: 7, mc: 2 * v.mr, nc: 2 * v.nr, kern: v.kern, kernA: v.kernA, kernAT: v.kernAT, maxColsAT: v.maxColsAT})
		if v.kernA != nil {
			// The same with A always packed, as for a leading dimension
			// whose rows alias in L1.
			out = append(out, &variant{name: v.name + "/packed-A", mr: v.mr, nr: v.nr, kc: 7, mc: 2 * v.mr, nc: 2 * v.nr, kern: v.kern})
		}
	}
	return out
}

type shape struct{ m, n, k int }

func (s shape) String() string { return fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k) }

var testShapes = []shape{
	{1, 1, 1}, {2, 3, 4}, {17, 31, 13}, {14, 32, 16}, {15, 33, 17}, {6, 16, 8}, {7, 17, 9},
	{29, 65, 1}, {3000, 3, 5}, {3, 3000, 7}, {64, 64, 64}, {127, 131, 67}, {1, 300, 40}, {300, 1, 40}, {5, 2000, 120},
}

// operands holds one test problem: op(A) m×k, op(B) k×n, C m×n, each with a
// leading dimension padded past its width, and the padding filled with a
// sentinel that must survive the call.
type operands struct {
	s              shape
	transA, transB bool
	a, b, c        []float32
	lda, ldb, ldc  int
}

const sentinel = float32(-12345)

func newOperands(rng *rand.Rand, s shape, transA, transB bool, pad int) *operands {
	o := &operands{s: s, transA: transA, transB: transB}
	ar, ac := s.m, s.k
	if transA {
		ar, ac = s.k, s.m
	}
	br, bc := s.k, s.n
	if transB {
		br, bc = s.n, s.k
	}
	o.lda, o.ldb, o.ldc = ac+pad, bc+pad, s.n+pad
	o.a = randMatrix(rng, ar, ac, o.lda)
	o.b = randMatrix(rng, br, bc, o.ldb)
	o.c = randMatrix(rng, s.m, s.n, o.ldc)
	return o
}

func randMatrix(rng *rand.Rand, rows, cols, ld int) []float32 {
	x := make([]float32, rows*ld)
	for i := range x {
		if i%ld < cols {
			x[i] = float32(rng.NormFloat64())
		} else {
			x[i] = sentinel
		}
	}
	return x
}

// tolerance bounds |got-want| for one element: the float32 dot-product error
// bound γ_(k+2)·(|alpha|·Σ|a||b| + |beta·c|), with γ_n = n·2⁻²⁴ doubled for
// slack.
func (o *operands) tolerance(i, j int, alpha, beta float32, c0 []float32) float64 {
	var s float64
	for p := 0; p < o.s.k; p++ {
		s += math.Abs(float64(o.at(o.a, o.lda, o.transA, i, p))) * math.Abs(float64(o.at(o.b, o.ldb, o.transB, p, j)))
	}
	scale := math.Abs(float64(alpha))*s + math.Abs(float64(beta)*float64(c0[i*o.ldc+j]))
	return 2 * float64(o.s.k+2) * 0x1p-24 * scale
}

func (o *operands) at(x []float32, ld int, trans bool, r, c int) float32 {
	if trans {
		return x[c*ld+r]
	}
	return x[r*ld+c]
}

func TestGemmVariantsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type ab struct{ alpha, beta float32 }
	scalars := []ab{{1, 0}, {1, 1}, {-1.5, 0.5}, {0.75, 1}}
	for _, v := range testVariants() {
		for _, s := range testShapes {
			if raceEnabled && (v.name == "go" || strings.Contains(v.name, "/")) && s.m*s.n*s.k > 20000 {
				continue // the race detector makes the reference slow
			}
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for si, sc := range scalars {
					if raceEnabled && si >= 2 && s.m*s.n*s.k > 50000 {
						break // the race detector makes the reference slow
					}
					pad := si % 3 // leading dimensions 0, 1, 2 past the width
					o := newOperands(rng, s, tr[0], tr[1], pad)
					name := fmt.Sprintf("%s/%v/tA=%v,tB=%v/alpha=%g,beta=%g", v.name, s, tr[0], tr[1], sc.alpha, sc.beta)
					checkVariant(t, name, v, o, sc.alpha, sc.beta)
				}
			}
		}
	}
}

func checkVariant(t *testing.T, name string, v *variant, o *operands, alpha, beta float32) {
	t.Helper()
	s := o.s
	c0 := append([]float32(nil), o.c...)
	want := append([]float32(nil), o.c...)
	GemmRef(o.transA, o.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, want, o.ldc)
	got := append([]float32(nil), o.c...)
	if beta == 0 {
		// beta == 0 must overwrite C without reading it: NaNs may not leak.
		for i := 0; i < s.m; i++ {
			for j := 0; j < s.n; j++ {
				got[i*o.ldc+j] = float32(math.NaN())
			}
		}
	}
	v.gemm(o.transA, o.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, got, o.ldc)
	bad := 0
	for i := 0; i < s.m; i++ {
		for j := 0; j < o.ldc; j++ {
			g, w := got[i*o.ldc+j], want[i*o.ldc+j]
			if j >= s.n {
				if g != sentinel {
					t.Errorf("%s: padding C[%d][%d] = %g, want it untouched", name, i, j, g)
					return
				}
				continue
			}
			if tol := o.tolerance(i, j, alpha, beta, c0); !(math.Abs(float64(g-w)) <= tol) {
				if bad < 3 {
					t.Errorf("%s: C[%d][%d] = %g, want %g (tolerance %.3g)", name, i, j, g, w, tol)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements out of tolerance", name, bad, s.m*s.n)
	}
}

func TestGemmDeterministic(t *testing.T) {
	// Split by rows, by columns, and by rows over many k slices (the
	// workers share the blocks of B through counters, two buffers apart).
	shapes := []shape{{203, 150, 300}, {9, 1400, 100}, {150, 70, 1300}}
	if raceEnabled {
		shapes = []shape{{61, 147, 140}, {3, 4000, 100}, {60, 40, 1100}}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, v := range variants {
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				o := newOperands(rng, s, tr[0], tr[1], 1)
				var first []float32
				for _, procs := range []int{1, 2, 3, 1, 2, 4} {
					runtime.GOMAXPROCS(procs)
					got := append([]float32(nil), o.c...)
					v.gemm(o.transA, o.transB, s.m, s.n, s.k, 0.5, o.a, o.lda, o.b, o.ldb, 0.25, got, o.ldc)
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

func TestGemmZeroSizes(t *testing.T) {
	for _, v := range variants {
		c := []float32{1, 2, 3, 4}
		// k == 0: C = beta·C.
		v.gemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
		if want := []float32{0.5, 1, 1.5, 2}; fmt.Sprint(c) != fmt.Sprint(want) {
			t.Errorf("%s: k=0 beta=0.5 gives %v, want %v", v.name, c, want)
		}
		c = []float32{float32(math.NaN()), 2, 3, 4}
		v.gemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
		if want := []float32{0, 0, 0, 0}; fmt.Sprint(c) != fmt.Sprint(want) {
			t.Errorf("%s: k=0 beta=0 gives %v, want %v", v.name, c, want)
		}
	}
	// m == 0 or n == 0 touches nothing and needs no storage.
	if err := Gemm(false, false, 0, 5, 5, 1, nil, 5, make([]float32, 25), 5, 0, nil, 5); err != nil {
		t.Errorf("m=0: %v", err)
	}
}

func TestGemmArgumentErrors(t *testing.T) {
	buf := make([]float32, 100)
	tests := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		a              []float32
		lda            int
		b              []float32
		ldb            int
		c              []float32
		ldc            int
		want           string
	}{
		{"negative m", false, false, -1, 2, 2, buf, 2, buf, 2, buf, 2, "negative dimension"},
		{"negative k", false, false, 2, 2, -3, buf, 2, buf, 2, buf, 2, "negative dimension"},
		{"lda too small", false, false, 4, 4, 5, buf, 4, buf, 4, buf, 4, "A is 4×5 but its leading dimension is 4"},
		{"lda too small transposed", true, false, 6, 4, 2, buf, 5, buf, 4, buf, 4, "A is 2×6 but its leading dimension is 5"},
		{"ldb too small", false, true, 4, 4, 5, buf, 5, buf, 4, buf, 4, "B is 4×5"},
		{"ldc too small", false, false, 4, 4, 4, buf, 4, buf, 4, buf, 3, "C is 4×4"},
		{"short A", false, false, 20, 4, 8, buf, 8, buf, 4, buf, 4, "A is 20×8 with leading dimension 8 and needs 160 elements, has 100"},
		{"short B", false, false, 2, 20, 8, buf, 8, buf, 20, buf, 20, "B is 8×20"},
		{"short C", false, false, 11, 10, 2, buf, 2, buf, 10, buf, 10, "C is 11×10"},
		{"short C by padding", false, false, 10, 9, 2, buf, 2, buf, 9, buf, 11, "needs 108 elements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Gemm(tt.transA, tt.transB, tt.m, tt.n, tt.k, 1, tt.a, tt.lda, tt.b, tt.ldb, 0, tt.c, tt.ldc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Gemm error = %v, want one containing %q", err, tt.want)
			}
			err = GemmVariant("auto", tt.transA, tt.transB, tt.m, tt.n, tt.k, 1, tt.a, tt.lda, tt.b, tt.ldb, 0, tt.c, tt.ldc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("GemmVariant error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if err := GemmVariant("nonesuch", false, false, 1, 1, 1, 1, buf, 1, buf, 1, 0, buf, 1); err == nil || !strings.Contains(err.Error(), "nonesuch") {
		t.Errorf("unknown variant error = %v", err)
	}
}

func TestMatMul(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6}    // 2×3
	b := []float32{7, 8, 9, 10, 11, 12} // 3×2
	c := []float32{-1, -1, -1, -1}      // overwritten
	if err := MatMul(2, 2, 3, a, b, c); err != nil {
		t.Fatal(err)
	}
	if want := []float32{58, 64, 139, 154}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("MatMul = %v, want %v", c, want)
	}
}

func TestVariantsListed(t *testing.T) {
	names := Variants()
	if len(names) == 0 || names[len(names)-1] != "go" {
		t.Fatalf("Variants() = %v, want the portable go variant last", names)
	}
	if _, ok := peakLoops()["avx2"]; ok && lookupVariant("avx2") == nil {
		t.Errorf("Variants() = %v lacks avx2 on an AVX2 CPU", names)
	}
}

// TestAsmVariantsAgree checks that the assembly variants give bit-identical
// results, which is what lets Gemm choose between them by shape.
func TestAsmVariantsAgree(t *testing.T) {
	var asm []*variant
	for _, v := range variants {
		if v != goVariant && v.direct == nil {
			asm = append(asm, v)
		}
	}
	if len(asm) < 2 {
		t.Skip("fewer than two assembly variants on this CPU")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range []shape{{17, 31, 13}, {64, 16, 300}, {100, 70, 600}} {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			o := newOperands(rng, s, tr[0], tr[1], 1)
			var first []float32
			for _, v := range asm {
				got := append([]float32(nil), o.c...)
				v.gemm(o.transA, o.transB, s.m, s.n, s.k, 0.7, o.a, o.lda, o.b, o.ldb, 0.3, got, o.ldc)
				if first == nil {
					first = got
					continue
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%v tA=%v tB=%v: %s gives C[%d] = %g, %s gives %g", s, tr[0], tr[1], v.name, i, got[i], asm[0].name, first[i])
					}
				}
			}
		}
	}
}

func TestPick(t *testing.T) {
	if lookupVariant("avx512") == nil || lookupVariant("avx2") == nil {
		t.Skip("needs both assembly variants")
	}
	tests := []struct {
		m, n int
		want string
	}{
		{1024, 1024, "avx512"},
		{2048, 16, "avx2"}, // half of each 32-column tile would be padding
		{2048, 48, "avx2"}, // 48 = 3·16, 64 = 2·32
		{4096, 512, "avx512"},
	}
	for _, tt := range tests {
		if got := pick(tt.m, tt.n).name; got != tt.want {
			t.Errorf("pick(%d, %d) = %s, want %s", tt.m, tt.n, got, tt.want)
		}
	}
}

// TestGemmSteadyStateAllocations checks that, once warm, a single-threaded
// Gemm allocates nothing: packing buffers and job state are reused.
func TestGemmSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const m, n, k = 70, 90, 300
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for _, name := range append(Variants(), "auto") {
		if lookupVariant(name) != nil && lookupVariant(name).direct != nil {
			continue
		}
		allocs := testing.AllocsPerRun(5, func() {
			if err := GemmVariant(name, false, true, m, n, k, 1, a, k, b, k, 0, c, n); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, allocs)
		}
	}
}

func TestL1SetAliases(t *testing.T) {
	tests := []struct{ ld, rows, want int }{
		{1024, 14, 14}, // 4 KiB rows: all in one set
		{512, 14, 7},   // 2 KiB rows: every other row
		{576, 14, 1},   // 2304-byte rows: sixteen set offsets
		{1000, 6, 1},
		{4096, 6, 6},
	}
	for _, tt := range tests {
		if got := l1SetAliases(tt.ld, tt.rows); got != tt.want {
			t.Errorf("l1SetAliases(%d, %d) = %d, want %d", tt.ld, tt.rows, got, tt.want)
		}
	}
}

// TestGemmConcurrentCalls runs Gemm from several goroutines at once (as
// attention heads or pipelined layers may): each call must get its own
// buffers and the right answer.
func TestGemmConcurrentCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	s := shape{40, 100, 300}
	const callers = 4
	ops := make([]*operands, callers)
	want := make([][]float32, callers)
	for i := range ops {
		ops[i] = newOperands(rng, s, i%2 == 1, i/2 == 1, 1)
		want[i] = append([]float32(nil), ops[i].c...)
		Gemm(ops[i].transA, ops[i].transB, s.m, s.n, s.k, 1, ops[i].a, ops[i].lda, ops[i].b, ops[i].ldb, 0, want[i], ops[i].ldc)
	}
	errs := make(chan error, callers)
	for i, o := range ops {
		go func() {
			for range 5 {
				got := append([]float32(nil), o.c...)
				if err := Gemm(o.transA, o.transB, s.m, s.n, s.k, 1, o.a, o.lda, o.b, o.ldb, 0, got, o.ldc); err != nil {
					errs <- err
					return
				}
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[i][j]) {
						errs <- fmt.Errorf("caller %d: C[%d] = %g, alone it was %g", i, j, got[j], want[i][j])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
