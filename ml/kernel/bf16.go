package kernel

import "math"

// BF16ToFloat32 widens a bfloat16 (the top half of a float32's bits) to
// float32; the conversion is exact.
func BF16ToFloat32(x uint16) float32 { return math.Float32frombits(uint32(x) << 16) }

// Float32ToBF16 rounds f to the nearest bfloat16, ties to even, as
// PyTorch's .to(torch.bfloat16) does; NaNs stay NaN.
func Float32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40 // quiet NaN, sign kept
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// packBF16B is packB for B stored as bfloat16: the values are widened to
// float32 as they are laid out, so the micro-kernels are the float32 ones.
func packBF16B(dst []float32, transB bool, b []uint16, ldb, pc, jc, kc, nc, nr int) {
	if !transB {
		for p := 0; p < kc; p++ {
			src := b[(pc+p)*ldb+jc:][:nc]
			for jr := 0; jr < nc; jr += nr {
				d := dst[jr*kc+p*nr:][:nr]
				s := src[jr:min(jr+nr, nc)]
				for j, x := range s {
					d[j] = math.Float32frombits(uint32(x) << 16)
				}
				clear(d[len(s):])
			}
		}
		return
	}
	// op(B)[p][j] = B[j][p]: rows of B become the columns of each panel.
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		gatherPanelBF16(dst[jr*kc:][:kc*nr], nr, b[(jc+jr)*ldb+pc:], ldb, cols, kc)
	}
}

// gatherPanelBF16Go is gatherPanelGo for a bfloat16 source, widening each
// value: panel[p·width+r] = float32(src[r·ld+p]); columns r ≥ rows are zero.
func gatherPanelBF16Go(panel []float32, width int, src []uint16, ld, rows, kc int) {
	panel = panel[:kc*width]
	r := 0
	for ; r+4 <= rows; r += 4 {
		s0 := src[r*ld:][:kc]
		s1 := src[(r+1)*ld:][:kc]
		s2 := src[(r+2)*ld:][:kc]
		s3 := src[(r+3)*ld:][:kc]
		for p := range s0 {
			d := panel[p*width+r:][:4:4]
			d[0] = math.Float32frombits(uint32(s0[p]) << 16)
			d[1] = math.Float32frombits(uint32(s1[p]) << 16)
			d[2] = math.Float32frombits(uint32(s2[p]) << 16)
			d[3] = math.Float32frombits(uint32(s3[p]) << 16)
		}
	}
	for ; r < rows; r++ {
		for p, x := range src[r*ld:][:kc] {
			panel[p*width+r] = math.Float32frombits(uint32(x) << 16)
		}
	}
	if rows < width {
		for p := 0; p < kc; p++ {
			clear(panel[p*width+rows : p*width+width])
		}
	}
}
