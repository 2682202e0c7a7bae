package kernel

import (
	"fmt"
	"runtime"
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

// variant is one GEMM implementation: a micro-kernel with its register tile
// and the cache blocking that suits it.
type variant struct {
	name   string
	mr, nr int // register tile
	kc     int // depth of a packed panel (k block)
	mc     int // rows of A packed at once (multiple of mr)
	nc     int // columns of B packed at once (multiple of nr)
	kern   microKernel

	// direct, when set, replaces the blocked algorithm entirely (an external
	// library kept for comparison); the fields above are then unused.
	direct func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

	bufs sync.Pool // *workspace
}

// workspace holds one worker's packing buffers. Buffers grow to the largest
// problem seen and are reused through the variant's pool, so a steady stream
// of same-sized calls allocates nothing.
type workspace struct {
	a, b []float32
	tile []float32
}

func (v *variant) getWorkspace(mc, nc, kc int) *workspace {
	w, _ := v.bufs.Get().(*workspace)
	if w == nil {
		w = &workspace{tile: make([]float32, v.mr*v.nr)}
	}
	if need := mc * kc; len(w.a) < need {
		w.a = make([]float32, need)
	}
	if need := nc * kc; len(w.b) < need {
		w.b = make([]float32, need)
	}
	return w
}

// variants lists the implementations usable on this CPU, fastest first; the
// last is always the portable Go one. Tests run every entry.
var variants []*variant

// goVariant is the portable implementation, correct on every architecture.
var goVariant = &variant{name: "go", mr: 4, nr: 4, kc: 256, mc: 128, nc: 1024, kern: goKernel4x4}

func init() {
	variants = append(asmVariants(), goVariant)
	best := variants[0]
	gemm = best.gemm
}

// Variants returns the names of the GEMM implementations usable on this CPU,
// crucible's own fastest first; the first is the one Gemm uses. Variants
// added with AddComparisonVariant follow.
func Variants() []string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	return names
}

// GemmVariant is Gemm computed by the named implementation (one of
// Variants()), for benchmarks and cross-checks. It returns an error for an
// unknown or unsupported variant and for the argument errors of Gemm.
func GemmVariant(name string, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	v := lookupVariant(name)
	if v == nil {
		return fmt.Errorf("gemm: variant %q is not available on this CPU (have %v)", name, Variants())
	}
	if err := checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); err != nil {
		return err
	}
	v.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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

// minParallelFlops is the size (m·n·k) below which a GEMM runs on one
// goroutine: under it, waking a second worker costs more than it saves.
const minParallelFlops = 48 * 48 * 48

// gemm splits C into one block per worker (along m when it is tall enough,
// else along n, on tile boundaries) and runs the blocked algorithm on each.
// Every element of C goes through the same sequence of operations whatever
// the split, so the result does not even depend on GOMAXPROCS.
func (v *variant) gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if v.direct != nil {
		v.direct(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	tilesM := (m + v.mr - 1) / v.mr
	tilesN := (n + v.nr - 1) / v.nr
	parts := runtime.GOMAXPROCS(0)
	if m*n*k < minParallelFlops {
		parts = 1
	}
	splitM := tilesM >= 2*parts || tilesM >= tilesN
	tiles := tilesN
	if splitM {
		tiles = tilesM
	}
	parts = min(parts, tiles)
	if parts <= 1 {
		v.blocked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	ParallelFor(parts, 1, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			t0, t1 := w*tiles/parts, (w+1)*tiles/parts
			if splitM {
				r0, r1 := t0*v.mr, min(t1*v.mr, m)
				var aa []float32
				if transA {
					aa = a[r0:]
				} else {
					aa = a[r0*lda:]
				}
				v.blocked(transA, transB, r1-r0, n, k, alpha, aa, lda, b, ldb, beta, c[r0*ldc:], ldc)
			} else {
				c0, c1 := t0*v.nr, min(t1*v.nr, n)
				var bb []float32
				if transB {
					bb = b[c0*ldb:]
				} else {
					bb = b[c0:]
				}
				v.blocked(transA, transB, m, c1-c0, k, alpha, a, lda, bb, ldb, beta, c[c0:], ldc)
			}
		}
	})
}

// scaleC sets C = beta·C, or C = 0 without reading it when beta == 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// blocked is the single-threaded GotoBLAS/BLIS loop nest: for each nc-wide
// block of B and kc-deep slice of k, pack B; for each mc-tall block of A,
// pack A; then sweep the register tiles. The first k slice applies beta, the
// later ones accumulate, so the reduction over k is always in the same order.
func (v *variant) blocked(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := v.mr, v.nr
	kcMax := min(v.kc, k)
	mcMax := min(v.mc, roundUp(m, mr))
	ncMax := min(v.nc, roundUp(n, nr))
	w := v.getWorkspace(mcMax, ncMax, kcMax)
	defer v.bufs.Put(w)

	firstMode := 2
	switch beta {
	case 0:
		firstMode = 0
	case 1:
		firstMode = 1
	}
	for jc := 0; jc < n; jc += ncMax {
		nc := min(ncMax, n-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			packB(w.b, transB, b, ldb, pc, jc, kc, nc, nr)
			mode := firstMode
			if pc > 0 {
				mode = 1
			}
			for ic := 0; ic < m; ic += mcMax {
				mc := min(mcMax, m-ic)
				packA(w.a, transA, a, lda, ic, pc, mc, kc, mr)
				v.sweep(w, mc, nc, kc, alpha, beta, mode, c[ic*ldc+jc:], ldc)
			}
		}
	}
}

// sweep runs the micro-kernel over every tile of an mc×nc block of C whose
// A and B panels are packed in w. Partial tiles at the right and bottom
// edges are computed into a scratch tile and merged with the same
// arithmetic the kernel uses, so edge and interior elements round alike.
func (v *variant) sweep(w *workspace, mc, nc, kc int, alpha, beta float32, mode int, c []float32, ldc int) {
	mr, nr := v.mr, v.nr
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		bp := &w.b[jr*kc]
		for ir := 0; ir < mc; ir += mr {
			rows := min(mr, mc-ir)
			ap := &w.a[ir*kc]
			if rows == mr && cols == nr {
				v.kern(kc, ap, bp, &c[ir*ldc+jr], ldc, alpha, beta, mode)
				continue
			}
			v.kern(kc, ap, bp, &w.tile[0], nr, alpha, 0, 0)
			for i := 0; i < rows; i++ {
				t := w.tile[i*nr : i*nr+cols]
				row := c[(ir+i)*ldc+jr:][:cols]
				mergeRow(row, t, beta, mode)
			}
		}
	}
}

// mergeRow stores a row of alpha·acc (already in t) into C by mode, with the
// same rounding as the micro-kernels' epilogue.
func mergeRow(row, t []float32, beta float32, mode int) {
	t = t[:len(row)]
	switch mode {
	case 0:
		copy(row, t)
	case 1:
		for j := range row {
			row[j] = t[j] + row[j]
		}
	default:
		for j := range row {
			row[j] = t[j] + float32(beta*row[j])
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }
