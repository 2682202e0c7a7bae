package kernel

import "runtime"

// minParallelFlops is the size (m·n·k) below which a GEMM runs on one
// goroutine: under it, waking a second worker costs more than it saves
// (measured on 2 cores: 64³ and 96³ ran faster on one, 128³ on two).
const minParallelFlops = 1 << 20

// gemm runs the blocked algorithm (GotoBLAS/BLIS loop nest): for each
// nc-wide block of op(B) and kc-deep slice of k, the workers pack the B block
// together, then each packs its own mc-tall blocks of op(A) (or reads A in
// place, see run) and sweeps its share of C's register tiles — a range of
// rows, or of columns when C is too short to share by rows. The first k slice applies beta and the later ones
// accumulate, so every element of C goes through the same operations in the
// same order whatever the split: the result does not depend on GOMAXPROCS.
func (v *variant) gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if v.direct != nil {
		v.direct(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	v.run(transA, transB, m, n, k, alpha, a, lda, b, nil, ldb, beta, c, ldc)
}

// run computes C = alpha·op(A)·op(B) + beta·C with B given either as
// float32 (b) or as bfloat16 (bbf, when b is nil).
func (v *variant) run(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, bbf []uint16, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	j := v.jobs.get()
	defer v.jobs.put(j)
	if j.packBFn == nil {
		// Bound once per pooled job, so that handing them to ParallelFor
		// does not allocate on every call.
		j.packBFn, j.computeFn = j.packB, j.compute
	}
	defer j.release()
	j.v, j.transA, j.transB, j.m, j.n, j.k = v, transA, transB, m, n, k
	j.alpha, j.beta, j.a, j.b, j.bbf, j.c = alpha, beta, a, b, bbf, c
	j.lda, j.ldb, j.ldc = lda, ldb, ldc
	j.kcMax = min(v.kc, k)
	j.mcMax = min(v.mc, roundUp(m, v.mr))
	j.ncMax = min(v.nc, roundUp(n, v.nr))
	j.plan(runtime.GOMAXPROCS(0))
	// Reading a row-major A in place measured as fast as packing it for
	// wide C, and up to 3× faster for narrow C (LoRA's rank-r products),
	// where packing A costs more than multiplying it — unless so many of
	// the tile's rows of A fall in one L1 set that they evict each other.
	j.directA = v.kernA != nil && !transA && l1SetAliases(lda, v.mr) <= 6
	// A transposed A is cheap to pack (a copy per step), but for a C of a
	// few panels (LoRA's rank-r weight gradients) even that outweighs the
	// product, 2-4× measured; read it in place then.
	j.directAT = v.kernAT != nil && transA && j.ncMax <= v.maxColsAT

	bbuf := v.getBBuf(j.ncMax * j.kcMax)
	defer v.bbufs.put(bbuf)
	j.bpack = *bbuf
	j.firstMode = 2
	switch j.beta {
	case 0:
		j.firstMode = 0
	case 1:
		j.firstMode = 1
	}
	for jc := 0; jc < n; jc += j.ncMax {
		j.jc, j.nc = jc, min(j.ncMax, n-jc)
		for pc := 0; pc < k; pc += j.kcMax {
			j.pc, j.kc = pc, min(j.kcMax, k-pc)
			panels := (j.nc + v.nr - 1) / v.nr
			if j.parts == 1 {
				j.packB(0, panels)
				j.compute(0, 1)
				continue
			}
			ParallelFor(panels, 1, j.packBFn)
			ParallelFor(j.parts, 1, j.computeFn)
		}
	}
}

// gemmJob is one Gemm call in progress: its arguments, the split between
// workers, and the block of B currently packed.
type gemmJob struct {
	v              *variant
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	bbf            []uint16 // B as bfloat16, when b is nil
	lda, ldb, ldc  int

	kcMax, mcMax, ncMax int
	parts               int  // workers sharing each block
	splitM              bool // workers share C by rows (else by columns)
	firstMode           int  // epilogue mode of the first k slice
	directA             bool // read a row-major A in place instead of packing it
	directAT            bool // read a transposed A in place instead of packing it

	jc, nc, pc, kc int       // the current block of op(B)
	bpack          []float32 // that block, packed

	packBFn, computeFn func(lo, hi int) // j.packB and j.compute
}

// release drops the job's references to the caller's matrices before it
// goes back to the free list.
func (j *gemmJob) release() {
	j.a, j.b, j.bbf, j.c, j.bpack = nil, nil, nil, nil, nil
}

// plan picks how many workers share the work and whether they split C by
// rows or by columns: whichever leaves the workers' tile counts closer to
// even, rows on a tie (splitting by columns makes each worker pack all of A).
func (j *gemmJob) plan(procs int) {
	v := j.v
	j.parts = procs
	if j.m*j.n*j.k < minParallelFlops {
		j.parts = 1
	}
	tilesM := (j.m + v.mr - 1) / v.mr
	tilesN := (j.ncMax + v.nr - 1) / v.nr
	balance := func(tiles int) float64 {
		p := min(j.parts, tiles)
		return float64(tiles) / float64(j.parts*((tiles+p-1)/p))
	}
	j.splitM = balance(tilesM) >= balance(tilesN)
	if j.splitM {
		j.parts = min(j.parts, tilesM)
	} else {
		j.parts = min(j.parts, tilesN)
	}
}

// packB packs panels [lo, hi) of the current block of op(B).
func (j *gemmJob) packB(lo, hi int) {
	nr := j.v.nr
	c0, c1 := lo*nr, min(hi*nr, j.nc)
	if j.bbf != nil {
		packBF16B(j.bpack[lo*nr*j.kc:], j.transB, j.bbf, j.ldb, j.pc, j.jc+c0, j.kc, c1-c0, nr)
		return
	}
	packB(j.bpack[lo*nr*j.kc:], j.transB, j.b, j.ldb, j.pc, j.jc+c0, j.kc, c1-c0, nr)
}

// compute runs workers [lo, hi) on the current block: each packs the rows of
// op(A) it needs and sweeps its share of the tiles.
func (j *gemmJob) compute(lo, hi int) {
	v := j.v
	w := v.getWorkspace(j.mcMax * j.kcMax)
	defer v.abufs.put(w)
	mode := j.firstMode
	if j.pc > 0 {
		mode = 1
	}
	for part := lo; part < hi; part++ {
		r0, r1, c0, c1 := 0, j.m, 0, j.nc
		if j.splitM {
			tiles := (j.m + v.mr - 1) / v.mr
			r0, r1 = part*tiles/j.parts*v.mr, min((part+1)*tiles/j.parts*v.mr, j.m)
		} else {
			tiles := (j.nc + v.nr - 1) / v.nr
			c0, c1 = part*tiles/j.parts*v.nr, min((part+1)*tiles/j.parts*v.nr, j.nc)
		}
		for ic := r0; ic < r1; ic += j.mcMax {
			mc := min(j.mcMax, r1-ic)
			if j.directA || j.directAT {
				if full := mc / v.mr * v.mr; full < mc {
					// The last, partial row panel is packed (zero padded).
					packA(w.a, j.transA, j.a, j.lda, ic+full, j.pc, mc-full, j.kc, v.mr)
				}
				var kern directAKernel
				var aBlock []float32
				rowStride := 1
				if j.directAT {
					kern, aBlock = v.kernAT, j.a[j.pc*j.lda+ic:]
				} else {
					kern, aBlock, rowStride = v.kernA, j.a[ic*j.lda+j.pc:], j.lda
				}
				v.sweepDirectA(w, kern, aBlock, j.lda, rowStride, j.bpack[c0*j.kc:], mc, c1-c0, j.kc, j.alpha, j.beta, mode, j.c[ic*j.ldc+j.jc+c0:], j.ldc)
				continue
			}
			packA(w.a, j.transA, j.a, j.lda, ic, j.pc, mc, j.kc, v.mr)
			v.sweep(w, j.bpack[c0*j.kc:], mc, c1-c0, j.kc, j.alpha, j.beta, mode, j.c[ic*j.ldc+j.jc+c0:], j.ldc)
		}
	}
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

// sweep runs the micro-kernel over every tile of an mc×nc block of C whose
// A and B panels are packed in w. Partial tiles at the right and bottom
// edges are computed into a scratch tile and merged with the same
// arithmetic the kernel uses, so edge and interior elements round alike.
func (v *variant) sweep(w *workspace, bpack []float32, mc, nc, kc int, alpha, beta float32, mode int, c []float32, ldc int) {
	mr, nr := v.mr, v.nr
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		bp := &bpack[jr*kc]
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

// sweepDirectA is sweep with A read in place by kern, the tile at row ir
// starting at a[ir·rowStride] (rowStride is lda for a row-major A, 1 for a
// transposed one); the last, partial row panel, if any, is packed in w.a.
func (v *variant) sweepDirectA(w *workspace, kern directAKernel, a []float32, lda, rowStride int, bpack []float32, mc, nc, kc int, alpha, beta float32, mode int, c []float32, ldc int) {
	mr, nr := v.mr, v.nr
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		bp := &bpack[jr*kc]
		for ir := 0; ir < mc; ir += mr {
			rows := min(mr, mc-ir)
			switch {
			case rows == mr && cols == nr:
				kern(kc, &a[ir*rowStride], lda, bp, &c[ir*ldc+jr], ldc, alpha, beta, mode)
				continue
			case rows == mr:
				kern(kc, &a[ir*rowStride], lda, bp, &w.tile[0], nr, alpha, 0, 0)
			default:
				v.kern(kc, &w.a[0], bp, &w.tile[0], nr, alpha, 0, 0)
			}
			for i := 0; i < rows; i++ {
				mergeRow(c[(ir+i)*ldc+jr:][:cols], w.tile[i*nr:i*nr+cols], beta, mode)
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

// l1SetAliases returns how many of rows consecutive rows of a float32
// matrix with leading dimension ld start in the same set of a 4 KiB-way L1
// cache (Zen 4 and recent Intel: 64 sets of 64 bytes): rows whose starts
// are a multiple of 4 KiB apart compete for the same 8 ways.
func l1SetAliases(ld, rows int) int {
	stride := (ld * 4) % 4096
	if stride == 0 {
		return rows
	}
	period := 4096 / gcd(stride, 4096)
	return (rows + period - 1) / period
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }
