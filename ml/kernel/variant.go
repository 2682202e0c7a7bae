package kernel

import (
	"fmt"
	"sync"
)

// microKernel computes one mr×nr tile of C from packed panels of A (k×mr,
// p-major) and B (k×nr, p-major): acc = Σ_p a[p·mr+i]·b[p·nr+j], in
// increasing p, then per element
//
//	mode 0: c = alpha·acc
//	mode 1: c = alpha·acc + c
//	mode 2: c = alpha·acc + beta·c
//
// with every product and sum rounded separately. ldc is in elements.
type microKernel func(k int, a, b, c *float32, ldc int, alpha, beta float32, mode int)

// directAKernel is a microKernel that reads A in place: row i of the tile
// at a[i·lda:], k consecutive values (or, for a transposed A, step p of the
// tile at a[p·lda:], mr consecutive values). It performs the same
// operations in the same order as the packed form, so results are identical.
type directAKernel func(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32, mode int)

// variant is one GEMM implementation: a micro-kernel with its register tile
// and the cache blocking that suits it.
type variant struct {
	name   string
	mr, nr int // register tile
	kc     int // depth of a packed panel (k block)
	mc     int // rows of A packed at once (multiple of mr)
	nc     int // columns of B packed at once (multiple of nr)
	kern   microKernel
	kernA  directAKernel // optional; reads a row-major A in place
	kernAT directAKernel // optional; reads a transposed A in place
	// maxColsAT is the widest C for which kernAT beats packing: reading a
	// transposed A in place touches a new cache line every step.
	maxColsAT int

	// direct, when set, replaces the blocked algorithm entirely (an external
	// library kept for comparison); the fields above are then unused.
	direct func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

	abufs freeList[workspace] // one per worker
	bbufs freeList[[]float32] // one packed B block per call
	jobs  freeList[gemmJob]   // one per call
}

// freeList keeps buffers for reuse. Unlike sync.Pool it never drops them at
// a garbage collection, so a training loop's GEMMs allocate nothing once
// warm; it holds at most as many as were ever in use at once.
type freeList[T any] struct {
	mu   sync.Mutex
	free []*T
}

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.free); n > 0 {
		x := f.free[n-1]
		f.free = f.free[:n-1]
		return x
	}
	return new(T)
}

func (f *freeList[T]) put(x *T) {
	f.mu.Lock()
	f.free = append(f.free, x)
	f.mu.Unlock()
}

// maxTile bounds mr·nr over all variants.
const maxTile = 16 * 32

// workspace holds one worker's packed block of A and its scratch tile for
// partial tiles at the edges of C. Buffers grow to the largest problem seen
// and are reused through the variant's pools, so a steady stream of calls
// does not allocate them again.
type workspace struct {
	a    []float32
	tile [maxTile]float32
}

func (v *variant) getWorkspace(n int) *workspace {
	w := v.abufs.get()
	if len(w.a) < n {
		w.a = make([]float32, n)
	}
	return w
}

func (v *variant) getBBuf(n int) *[]float32 {
	b := v.bbufs.get()
	if len(*b) < n {
		*b = make([]float32, n)
	}
	return b
}

// variants lists the implementations usable on this CPU: the assembly ones,
// widest register tile first, then the portable Go one, then any comparison
// variants. Tests run every one of crucible's own.
var variants []*variant

// goVariant is the portable implementation, correct on every architecture.
var goVariant = &variant{name: "go", mr: 4, nr: 4, kc: 256, mc: 128, nc: 1024, kern: goKernel4x4}

func init() {
	variants = append(asmVariants(), goVariant)
	gemm = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		pick(m, n).gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// pick returns the variant Gemm uses for an m×n C: the first (widest)
// assembly variant, unless the tiles of a narrower one cover C with clearly
// less padding (a 16-column C in 32-column tiles wastes half the work).
// The assembly variants share kc and their kernels round identically, so
// the choice changes the speed, never the result.
func pick(m, n int) *variant {
	best := variants[0]
	area := func(v *variant) int { return roundUp(m, v.mr) * roundUp(n, v.nr) }
	for _, v := range variants[1:] {
		if v.direct != nil || v == goVariant {
			break
		}
		if 20*area(best) > 21*area(v) {
			best = v
		}
	}
	return best
}

// Variants returns the names of the GEMM implementations usable on this CPU,
// crucible's own widest first, the portable "go" last of those; Gemm picks
// among the assembly ones per shape (see pick). Variants added with
// AddComparisonVariant follow.
func Variants() []string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	return names
}

// GemmVariant is Gemm computed by the named implementation (one of
// Variants(), or "auto" for Gemm's own per-shape choice), for benchmarks and
// cross-checks. It returns an error for an unknown or unsupported variant
// and for the argument errors of Gemm.
func GemmVariant(name string, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	v := lookupVariant(name)
	if name == "auto" {
		v = pick(m, n)
	}
	if v == nil {
		return fmt.Errorf("gemm: variant %q is not available on this CPU (have %v)", name, Variants())
	}
	if err := checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); err != nil {
		return err
	}
	v.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// GemmBF16B is Gemm with B stored as bfloat16 (the top 16 bits of a
// float32), as frozen weights are kept to halve their memory: B's values are
// widened to float32 while it is packed, so the product costs what Gemm's
// does and equals Gemm on the widened B bit for bit. Arguments and errors
// are Gemm's.
func GemmBF16B(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) error {
	return GemmBF16BVariant("auto", transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmBF16BVariant is GemmBF16B computed by the named variant (one of
// Variants() or "auto", comparison variants excepted).
func GemmBF16BVariant(name string, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) error {
	v := lookupVariant(name)
	if name == "auto" {
		v = pick(m, n)
	}
	if v == nil || v.direct != nil {
		return fmt.Errorf("gemm: variant %q has no bf16 form on this CPU (have %v)", name, Variants())
	}
	if err := checkGemmLen(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		return err
	}
	v.run(transA, transB, m, n, k, alpha, a, lda, nil, b, ldb, beta, c, ldc)
	return nil
}

// AddComparisonVariant registers an external GEMM (such as OpenBLAS) under
// name so that GemmVariant and benchmarks can run it beside crucible's own
// variants. Gemm never uses it. f must have Gemm's semantics; it is called
// after Gemm's argument checks. Call it from an init function.
func AddComparisonVariant(name string, f func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	variants = append(variants, &variant{name: name, direct: f})
}

func lookupVariant(name string) *variant {
	for _, v := range variants {
		if v.name == name {
			return v
		}
	}
	return nil
}
