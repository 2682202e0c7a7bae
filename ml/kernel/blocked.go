package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// minParallelFlops is the size (m·n·k) below which a GEMM runs on one
// goroutine: under it, waking a second worker costs more than it saves
// (measured on 2 cores: 64³ and 96³ ran faster on one, 128³ on two).
const minParallelFlops = 1 << 20

// gemm runs the blocked algorithm (GotoBLAS/BLIS loop nest): for each
// nc-wide block of op(B) and kc-deep slice of k, the workers pack the B block
// together, then take units of its products — bands of at most mc rows of C,
// or a share of its columns when C is too short to share by rows — packing
// the rows of op(A) a unit needs (or reading A in place, see run) and
// sweeping its register tiles. The workers are started once per call and
// share the blocks through counters (see work): packing the next block
// overlaps the end of the current one, and a worker the scheduler delays
// leaves its units to the others. The first k slice applies beta and the
// later ones accumulate, so every element of C goes through the same
// operations in the same order whatever the split: the result does not
// depend on GOMAXPROCS.
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
	if j.workFn == nil {
		// Bound once per pooled job, so that handing it to ParallelFor
		// does not allocate on every call.
		j.workFn = func(int, int) { j.work() }
		j.cond.L = &j.mu
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

	j.nbuf = 1
	if j.parts > 1 {
		// Two packed blocks of B, so that packing the next one overlaps
		// the end of the current one's products.
		j.nbuf = 2
	}
	j.blockSize = j.ncMax * j.kcMax
	bbuf := v.getBBuf(j.nbuf * j.blockSize)
	defer v.bbufs.put(bbuf)
	j.bpack = *bbuf
	j.firstMode = 2
	switch j.beta {
	case 0:
		j.firstMode = 0
	case 1:
		j.firstMode = 1
	}
	j.layout()
	if j.parts == 1 {
		j.work()
		return
	}
	ParallelFor(j.parts, 1, j.workFn)
}

// layout numbers the blocks of op(B) and splits each block's products into
// units, and resets the counters through which the workers share them.
//
// Splitting C by rows, a unit is a band of at most mc rows: the bands are
// even (a last band of one tile would stream all of B for little work), and
// their count is a multiple of the workers' so that they come out even when
// no worker is delayed, while a delayed worker's bands are taken by the
// others. Splitting by columns, a unit is one worker's share of the panels.
func (j *gemmJob) layout() {
	v := j.v
	j.blocksN = (j.n + j.ncMax - 1) / j.ncMax
	j.blocksK = (j.k + j.kcMax - 1) / j.kcMax
	if j.splitM {
		tiles := (j.m + v.mr - 1) / v.mr
		bands := (tiles*v.mr + j.mcMax - 1) / j.mcMax
		bands = min(roundUp(bands, j.parts), tiles)
		j.units = bands
	} else {
		j.units = j.parts
	}
	nb := j.blocksN * j.blocksK
	if cap(j.blocks) < nb {
		j.blocks = make([]blockState, nb)
	}
	j.blocks = j.blocks[:nb]
	for i := range j.blocks {
		b := &j.blocks[i]
		b.packNext.Store(0)
		b.packDone.Store(0)
		b.unitNext.Store(0)
		b.unitDone.Store(0)
	}
}

// blockState is how far the workers are with one block of op(B): chunks of
// its panels claimed and packed, units of its products claimed and done.
type blockState struct {
	packNext, packDone atomic.Int32
	unitNext, unitDone atomic.Int32
	_                  [48]byte // one cache line per block
}

// work is one worker's part of the call. Blocks go in order; in each, the
// worker packs chunks of panels of B until none is left, waits until the
// block is packed and the previous block's products are done (the next k
// slice accumulates into the same C, and the B buffer is reused two blocks
// later), then takes units of products until none is left. Who packs or
// computes what does not change any arithmetic, so the result is the same
// whatever the number of workers and however the scheduler delays them.
func (j *gemmJob) work() {
	v := j.v
	w := v.getWorkspace(j.mcMax * j.kcMax)
	defer v.abufs.put(w)
	blk := 0
	for jc := 0; jc < j.n; jc += j.ncMax {
		nc := min(j.ncMax, j.n-jc)
		panels := (nc + v.nr - 1) / v.nr
		chunk := max(1, panels/(4*j.parts))
		for pc := 0; pc < j.k; pc += j.kcMax {
			kc := min(j.kcMax, j.k-pc)
			bs := &j.blocks[blk]
			bpack := j.bpack[(blk%j.nbuf)*j.blockSize:]
			for {
				lo := int(bs.packNext.Add(int32(chunk))) - chunk
				if lo >= panels {
					break
				}
				hi := min(lo+chunk, panels)
				j.packB(bpack, jc, nc, pc, kc, lo, hi)
				j.signal(&bs.packDone, hi-lo, panels)
			}
			j.wait(&bs.packDone, panels)
			if blk > 0 {
				j.wait(&j.blocks[blk-1].unitDone, j.units)
			}
			mode := j.firstMode
			if pc > 0 {
				mode = 1
			}
			for {
				u := int(bs.unitNext.Add(1)) - 1
				if u >= j.units {
					break
				}
				j.compute(w, bpack, jc, nc, pc, kc, mode, u)
				j.signal(&bs.unitDone, 1, j.units)
			}
			blk++
		}
	}
}

// signal adds n to a block's counter and wakes the waiting workers when
// it reaches target.
func (j *gemmJob) signal(c *atomic.Int32, n, target int) {
	if int(c.Add(int32(n))) == target && j.parts > 1 {
		j.mu.Lock()
		j.cond.Broadcast()
		j.mu.Unlock()
	}
}

// wait returns once a block's counter has reached target.
func (j *gemmJob) wait(c *atomic.Int32, target int) {
	if int(c.Load()) >= target {
		return
	}
	j.mu.Lock()
	for int(c.Load()) < target {
		j.cond.Wait()
	}
	j.mu.Unlock()
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

	bpack     []float32 // nbuf packed blocks of op(B), blockSize apart
	nbuf      int
	blockSize int

	blocksN, blocksK int          // blocks of op(B) along n and along k
	units            int          // units of products per block (see layout)
	blocks           []blockState // per block, in the order they are done
	mu               sync.Mutex   // with cond, wakes workers waiting on blocks
	cond             sync.Cond

	workFn func(lo, hi int) // runs j.work, for ParallelFor
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

// packB packs panels [lo, hi) of the block of op(B) at rows pc..pc+kc and
// columns jc..jc+nc into bpack.
func (j *gemmJob) packB(bpack []float32, jc, nc, pc, kc, lo, hi int) {
	nr := j.v.nr
	c0, c1 := lo*nr, min(hi*nr, nc)
	if j.bbf != nil {
		packBF16B(bpack[lo*nr*kc:], j.transB, j.bbf, j.ldb, pc, jc+c0, kc, c1-c0, nr)
		return
	}
	packB(bpack[lo*nr*kc:], j.transB, j.b, j.ldb, pc, jc+c0, kc, c1-c0, nr)
}

// compute runs unit u of the products of a packed block of op(B): it packs
// the rows of op(A) it needs (or reads A in place) and sweeps its tiles.
func (j *gemmJob) compute(w *workspace, bpack []float32, jc, nc, pc, kc, mode, u int) {
	v := j.v
	r0, r1, c0, c1 := 0, j.m, 0, nc
	if j.splitM {
		tiles := (j.m + v.mr - 1) / v.mr
		r0, r1 = u*tiles/j.units*v.mr, min((u+1)*tiles/j.units*v.mr, j.m)
	} else {
		tiles := (nc + v.nr - 1) / v.nr
		c0, c1 = u*tiles/j.units*v.nr, min((u+1)*tiles/j.units*v.nr, nc)
	}
	for ic := r0; ic < r1; ic += j.mcMax {
		mc := min(j.mcMax, r1-ic)
		if j.directA || j.directAT {
			if full := mc / v.mr * v.mr; full < mc {
				// The last, partial row panel is packed (zero padded).
				packA(w.a, j.transA, j.a, j.lda, ic+full, pc, mc-full, kc, v.mr)
			}
			var kern directAKernel
			var aBlock []float32
			rowStride := 1
			if j.directAT {
				kern, aBlock = v.kernAT, j.a[pc*j.lda+ic:]
			} else {
				kern, aBlock, rowStride = v.kernA, j.a[ic*j.lda+pc:], j.lda
			}
			v.sweepDirectA(w, kern, aBlock, j.lda, rowStride, bpack[c0*kc:], mc, c1-c0, kc, j.alpha, j.beta, mode, j.c[ic*j.ldc+jc+c0:], j.ldc)
			continue
		}
		packA(w.a, j.transA, j.a, j.lda, ic, pc, mc, kc, v.mr)
		v.sweep(w, bpack[c0*kc:], mc, c1-c0, kc, j.alpha, j.beta, mode, j.c[ic*j.ldc+jc+c0:], j.ldc)
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
