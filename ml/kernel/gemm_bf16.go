package kernel

import (
	"fmt"
	"runtime"
	"strings"
)

// Precision is the arithmetic of a matrix product.
type Precision uint8

const (
	// FP32 multiplies float32 values with float32 accumulation (Gemm).
	FP32 Precision = iota
	// BF16 rounds both operands to bfloat16 and multiplies them with
	// float32 accumulation (GemmBF16): the mixed precision of AMX-BF16 and
	// AVX512_BF16, half the memory traffic and several times the speed of
	// FP32 where the CPU has those instructions.
	BF16
)

// String names the precision as the command line spells it.
func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("precision(%d)", uint8(p))
}

// ParsePrecision reads "fp32", "bf16" or "auto" (BF16 where the CPU has
// bf16 instructions, see HasBF16, else FP32).
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fp32", "f32", "float32":
		return FP32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "auto", "":
		return AutoPrecision(), nil
	}
	return FP32, fmt.Errorf("precision %q: want auto, fp32 or bf16", s)
}

// AutoPrecision is BF16 where the CPU multiplies bf16 in hardware (AMX-BF16
// or AVX512_BF16), FP32 elsewhere.
func AutoPrecision() Precision {
	if HasBF16() {
		return BF16
	}
	return FP32
}

// HasBF16 reports whether GemmBF16 runs on bf16 instructions here (AMX-BF16
// or AVX512_BF16) rather than on the portable Go kernel.
func HasBF16() bool { return bf16Variants[0] != goBF16Variant }

// Operand is one input matrix of GemmBF16, row-major with the leading
// dimension passed beside it, stored as float32 (F32) or as bfloat16 bits
// (BF16); exactly one of the two is set.
type Operand struct {
	F32  []float32
	BF16 []uint16
}

// MatF32 is an Operand stored as float32.
func MatF32(x []float32) Operand { return Operand{F32: x} }

// MatBF16 is an Operand stored as bfloat16.
func MatBF16(x []uint16) Operand { return Operand{BF16: x} }

func (o Operand) len() int {
	if o.BF16 != nil {
		return len(o.BF16)
	}
	return len(o.F32)
}

// GemmBF16 computes C = alpha·op(A)·op(B) + beta·C in bf16 arithmetic:
// every element of alpha·op(A) and of op(B) is rounded to bfloat16 (to
// nearest even, subnormals to zero, as the hardware converts), the
// products are exact in float32 and are summed in float32. Arguments and
// errors are Gemm's, with each operand stored as float32 or bfloat16.
//
// The result for given inputs, variant and GOMAXPROCS is bit-identical on
// every call and does not depend on GOMAXPROCS; different variants (AMX,
// AVX512_BF16, Go) sum in different orders and agree only to rounding.
func GemmBF16(transA, transB bool, m, n, k int, alpha float32, a Operand, lda int, b Operand, ldb int, beta float32, c []float32, ldc int) error {
	return GemmBF16Variant("auto", transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmBF16Variant is GemmBF16 computed by the named variant (one of
// BF16Variants(), or "auto" for the fastest).
func GemmBF16Variant(name string, transA, transB bool, m, n, k int, alpha float32, a Operand, lda int, b Operand, ldb int, beta float32, c []float32, ldc int) error {
	v := bf16Variants[0]
	if name != "auto" {
		v = nil
		for _, x := range bf16Variants {
			if x.name == name {
				v = x
			}
		}
		if v == nil {
			return fmt.Errorf("gemm: bf16 variant %q is not available on this CPU (have %v)", name, BF16Variants())
		}
	}
	if (a.F32 == nil) == (a.BF16 == nil) && a.len() > 0 || (b.F32 == nil) == (b.BF16 == nil) && b.len() > 0 {
		return fmt.Errorf("gemm: an operand must be either float32 or bfloat16")
	}
	if err := checkGemmLen(transA, transB, m, n, k, a.len(), lda, b.len(), ldb, len(c), ldc); err != nil {
		return err
	}
	v.run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// GemmPrec is Gemm (FP32) or GemmBF16 (BF16) on float32 operands.
func GemmPrec(p Precision, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if p == BF16 {
		return GemmBF16(transA, transB, m, n, k, alpha, MatF32(a), lda, MatF32(b), ldb, beta, c, ldc)
	}
	return Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// BF16Variants returns the names of the bf16 GEMM implementations usable
// on this CPU, fastest first; "go" (the portable kernel, which emulates
// the bf16 arithmetic) is always last.
func BF16Variants() []string {
	names := make([]string, len(bf16Variants))
	for i, v := range bf16Variants {
		names[i] = v.name
	}
	return names
}

// bf16Block computes one 32×32 block of C from k32 packed chunks of an A
// panel and a B panel (see pack_bf16.go): C = Σ, or C += Σ when load is 1.
// ldc is in elements.
type bf16Block func(k32 int, a, b *uint16, c *float32, ldc int, load int)

// bf16Variant is one bf16 GEMM implementation: a block kernel, what a
// worker does before and after using it, and the cache blocking.
type bf16Variant struct {
	name       string
	kc, mc, nc int // k, rows of A and columns of B per packed block (multiples of 32)
	block      bf16Block
	// begin and end bracket a worker's calls of block on one goroutine
	// (AMX: pin the thread, configure and release its tiles); either may be nil.
	begin, end func()

	abufs freeList[bf16Workspace]
	bbufs freeList[[]uint16]
	jobs  freeList[bf16Job]
}

// bf16Workspace is one worker's packed A block and scratch block.
type bf16Workspace struct {
	a    []uint16
	tile [32 * 32]float32
}

// goBF16Variant emulates the bf16 arithmetic with the portable Go block
// kernel; it is correct everywhere and slow.
var goBF16Variant = &bf16Variant{name: "go", kc: 256, mc: 64, nc: 512, block: goBlockBF16}

// bf16Variants lists the usable variants, fastest first, "go" last.
var bf16Variants = append(asmBF16Variants(), goBF16Variant)

// bf16Job is one GemmBF16 call in progress.
type bf16Job struct {
	v              *bf16Variant
	transA, transB bool
	m, n, k        int
	alpha          float32
	a, b           Operand
	lda, ldb       int
	c              []float32
	ldc            int
	load           int // first k slice: 1 to add onto C, 0 to overwrite it

	kcMax, mcMax, ncMax int
	parts               int
	splitM              bool

	jc, nc, pc, kc int
	bpack          []uint16

	packBFn, computeFn func(lo, hi int)
}

func (j *bf16Job) release() {
	j.a, j.b, j.c, j.bpack = Operand{}, Operand{}, nil, nil
}

// run is the blocked algorithm of variant.run for bf16 panels: B packed in
// kc×nc blocks by all workers, A in mc×kc blocks per worker, 32×32 blocks
// of C by the block kernel. alpha is applied to A while it is packed; a
// beta other than 0 or 1 scales C first. Every element of C gets the same
// k slices in the same order whatever the split, so the result does not
// depend on GOMAXPROCS.
func (v *bf16Variant) run(transA, transB bool, m, n, k int, alpha float32, a Operand, lda int, b Operand, ldb int, beta float32, c []float32, ldc int) {
	v.runPacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, nil, beta, c, ldc)
}

// runPacked is run that takes the blocks of op(B) from pb, packed already
// by PackBF16 for this variant, where pb is not nil.
func (v *bf16Variant) runPacked(transA, transB bool, m, n, k int, alpha float32, a Operand, lda int, b Operand, ldb int, pb *PackedBF16, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	load := 1
	switch beta {
	case 0:
		load = 0
	case 1:
	default:
		scaleC(m, n, beta, c, ldc)
	}
	j := v.jobs.get()
	defer v.jobs.put(j)
	if j.packBFn == nil {
		j.packBFn, j.computeFn = j.packB, j.compute
	}
	defer j.release()
	j.v, j.transA, j.transB, j.m, j.n, j.k = v, transA, transB, m, n, k
	j.alpha, j.a, j.b, j.lda, j.ldb, j.c, j.ldc, j.load = alpha, a, b, lda, ldb, c, ldc, load
	j.kcMax = min(v.kc, roundUp(k, 32))
	j.mcMax = min(v.mc, roundUp(m, 32))
	j.ncMax = min(v.nc, roundUp(n, 32))
	j.plan(runtime.GOMAXPROCS(0))
	if pb == nil {
		bbuf := v.bbufs.get()
		defer v.bbufs.put(bbuf)
		if need := j.ncMax * j.kcMax; len(*bbuf) < need {
			*bbuf = make([]uint16, need)
		}
		j.bpack = *bbuf
	}
	for jc, jb := 0, 0; jc < n; jc, jb = jc+j.ncMax, jb+1 {
		j.jc, j.nc = jc, min(j.ncMax, n-jc)
		for pc, kb := 0, 0; pc < k; pc, kb = pc+j.kcMax, kb+1 {
			j.pc, j.kc = pc, min(j.kcMax, k-pc)
			if pb != nil {
				j.bpack = pb.blocks[jb*pb.kBlocks+kb]
				if j.parts == 1 {
					j.compute(0, 1)
				} else {
					ParallelFor(j.parts, 1, j.computeFn)
				}
				continue
			}
			panels := (j.nc + 31) / 32
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

// plan is gemmJob.plan for 32×32 blocks.
func (j *bf16Job) plan(procs int) {
	j.parts = procs
	if j.m*j.n*j.k < 4*minParallelFlops {
		j.parts = 1
	}
	tilesM := (j.m + 31) / 32
	tilesN := (j.ncMax + 31) / 32
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
func (j *bf16Job) packB(lo, hi int) {
	kc32 := roundUp(j.kc, 32)
	c0, c1 := lo*32, min(hi*32, j.nc)
	packBBF16(j.bpack[lo*32*kc32:], j.transB, j.b, j.ldb, j.pc, j.jc+c0, j.kc, c1-c0)
}

// compute runs workers [lo, hi) on the current block of B.
func (j *bf16Job) compute(lo, hi int) {
	v := j.v
	w := v.abufs.get()
	defer v.abufs.put(w)
	if need := j.mcMax * j.kcMax; len(w.a) < need {
		w.a = make([]uint16, need)
	}
	if v.begin != nil {
		v.begin()
	}
	if v.end != nil {
		defer v.end()
	}
	load := j.load
	if j.pc > 0 {
		load = 1
	}
	for part := lo; part < hi; part++ {
		r0, r1, c0, c1 := 0, j.m, 0, j.nc
		if j.splitM {
			tiles := (j.m + 31) / 32
			r0, r1 = part*tiles/j.parts*32, min((part+1)*tiles/j.parts*32, j.m)
		} else {
			tiles := (j.nc + 31) / 32
			c0, c1 = part*tiles/j.parts*32, min((part+1)*tiles/j.parts*32, j.nc)
		}
		for ic := r0; ic < r1; ic += j.mcMax {
			mc := min(j.mcMax, r1-ic)
			packABF16(w.a, j.transA, j.a, j.lda, ic, j.pc, mc, j.kc, j.alpha)
			j.sweep(w, j.bpack[c0*roundUp(j.kc, 32):], mc, c1-c0, load, j.c[ic*j.ldc+j.jc+c0:])
		}
	}
}

// sweep runs the block kernel over the mc×nc block of C whose A and B
// panels are packed; partial blocks at the edges of C go through the
// scratch block.
func (j *bf16Job) sweep(w *bf16Workspace, bpack []uint16, mc, nc, load int, c []float32) {
	kc32 := roundUp(j.kc, 32)
	k32, ldc := kc32/32, j.ldc
	for jr := 0; jr < nc; jr += 32 {
		cols := min(32, nc-jr)
		bp := &bpack[jr*kc32]
		for ir := 0; ir < mc; ir += 32 {
			rows := min(32, mc-ir)
			ap := &w.a[ir*kc32]
			if rows == 32 && cols == 32 {
				j.v.block(k32, ap, bp, &c[ir*ldc+jr], ldc, load)
				continue
			}
			j.v.block(k32, ap, bp, &w.tile[0], 32, 0)
			for i := 0; i < rows; i++ {
				row := c[(ir+i)*ldc+jr:][:cols]
				t := w.tile[i*32 : i*32+cols]
				if load == 0 {
					copy(row, t)
					continue
				}
				for x := range row {
					row[x] += t[x]
				}
			}
		}
	}
}

// PackedBF16 is the B operand of GemmBF16, op(B) of k rows and n columns,
// rounded and packed once into the panels the fastest bf16 variant reads,
// for a B that many products share unchanged (a frozen weight): products
// with it skip packing B. It holds about as much memory as op(B) in bf16.
type PackedBF16 struct {
	v       *bf16Variant
	transB  bool
	k, n    int
	kBlocks int        // blocks along k per block of columns
	blocks  [][]uint16 // [column block][k block]
}

// Bytes is the memory the packed panels take.
func (p *PackedBF16) Bytes() int {
	s := 0
	for _, b := range p.blocks {
		s += 2 * len(b)
	}
	return s
}

// PackBF16 packs op(B) (k×n; B is n×k with transB) for GemmBF16Packed,
// with GemmBF16's arguments and errors.
func PackBF16(transB bool, k, n int, b Operand, ldb int) (*PackedBF16, error) {
	if (b.F32 == nil) == (b.BF16 == nil) && b.len() > 0 {
		return nil, fmt.Errorf("gemm: an operand must be either float32 or bfloat16")
	}
	// The shape check of a product with a 1×k A.
	if err := checkGemmLen(false, transB, 1, n, k, k, max(k, 1), b.len(), ldb, n, max(n, 1)); err != nil {
		return nil, err
	}
	return packBF16With(bf16Variants[0], transB, k, n, b, ldb), nil
}

// packBF16With is PackBF16 for variant v.
func packBF16With(v *bf16Variant, transB bool, k, n int, b Operand, ldb int) *PackedBF16 {
	p := &PackedBF16{v: v, transB: transB, k: k, n: n}
	if k == 0 || n == 0 {
		return p
	}
	kcMax, ncMax := min(v.kc, roundUp(k, 32)), min(v.nc, roundUp(n, 32))
	p.kBlocks = (k + kcMax - 1) / kcMax
	for jc := 0; jc < n; jc += ncMax {
		nc := min(ncMax, n-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			buf := make([]uint16, roundUp(nc, 32)*roundUp(kc, 32))
			packBBF16(buf, transB, b, ldb, pc, jc, kc, nc)
			p.blocks = append(p.blocks, buf)
		}
	}
	return p
}

// GemmBF16Packed is GemmBF16 with op(B) packed by PackBF16: C =
// alpha·op(A)·op(B) + beta·C, op(A) m×k, bit-identical to GemmBF16 on the
// B that was packed.
func GemmBF16Packed(transA bool, m int, alpha float32, a Operand, lda int, b *PackedBF16, beta float32, c []float32, ldc int) error {
	if b == nil {
		return fmt.Errorf("gemm: no packed B")
	}
	if (a.F32 == nil) == (a.BF16 == nil) && a.len() > 0 {
		return fmt.Errorf("gemm: an operand must be either float32 or bfloat16")
	}
	// The shape check with a B that fits op(B) exactly.
	ldb, lenB := b.n, b.k*b.n
	if b.transB {
		ldb = b.k
	}
	if err := checkGemmLen(transA, b.transB, m, b.n, b.k, a.len(), lda, lenB, max(ldb, 1), len(c), ldc); err != nil {
		return err
	}
	b.v.runPacked(transA, b.transB, m, b.n, b.k, alpha, a, lda, Operand{}, 0, b, beta, c, ldc)
	return nil
}
