//go:build amd64 && !purego

package kernel

// transpose8AVX2 sets dst[p·dstStride+r] = src[r·srcStride+p] for r < 8 and
// p < n, n a multiple of 8 (see pack_amd64.s).
//
//go:noescape
func transpose8AVX2(dst *float32, dstStride int, src *float32, srcStride int, n int)

// transpose4AVX2 is transpose8AVX2 for four rows.
//
//go:noescape
func transpose4AVX2(dst *float32, dstStride int, src *float32, srcStride int, n int)

// transposeBF16x8AVX2 is transpose8AVX2 for a bfloat16 source, widened to
// float32 (see pack_amd64.s).
//
//go:noescape
func transposeBF16x8AVX2(dst *float32, dstStride int, src *uint16, srcStride int, n int)

var packAVX2 = hasAVX2()

// gatherPanelBF16 is gatherPanelBF16Go with groups of eight rows and eight
// columns widened and transposed by AVX2; the rest is left to the Go loop.
func gatherPanelBF16(panel []float32, width int, src []uint16, ld, rows, kc int) {
	kc8 := kc &^ 7
	if !packAVX2 || kc8 == 0 || rows < 8 {
		gatherPanelBF16Go(panel, width, src, ld, rows, kc)
		return
	}
	panel = panel[:kc*width]
	_ = src[(rows-1)*ld+kc-1] // every source element read below exists
	r := 0
	for ; r+8 <= rows; r += 8 {
		transposeBF16x8AVX2(&panel[r], width, &src[r*ld], ld, kc8)
	}
	if kc8 < kc {
		for i := 0; i < r; i++ {
			for p := kc8; p < kc; p++ {
				panel[p*width+i] = BF16ToFloat32(src[i*ld+p])
			}
		}
	}
	// The remaining rows, all columns, and the zero padding.
	for ; r < rows; r++ {
		for p := 0; p < kc; p++ {
			panel[p*width+r] = BF16ToFloat32(src[r*ld+p])
		}
	}
	if rows < width {
		for p := 0; p < kc; p++ {
			clear(panel[p*width+rows : p*width+width])
		}
	}
}

// gatherPanel is gatherPanelGo with the bulk done by AVX2 8×8 and 4×8
// register transposes; the last rows (fewer than four) and the last
// columns (fewer than eight) are left to gatherPanelGo.
func gatherPanel(panel []float32, width int, src []float32, ld, rows, kc int) {
	kc8 := kc &^ 7
	if !packAVX2 || kc8 == 0 || rows < 4 {
		gatherPanelGo(panel, width, src, ld, rows, kc)
		return
	}
	panel = panel[:kc*width]
	_ = src[(rows-1)*ld+kc-1] // every source element read below exists
	r := 0
	for ; r+8 <= rows; r += 8 {
		transpose8AVX2(&panel[r], width, &src[r*ld], ld, kc8)
	}
	for ; r+4 <= rows; r += 4 {
		transpose4AVX2(&panel[r], width, &src[r*ld], ld, kc8)
	}
	// Columns [kc8, kc) of the rows done above, then the remaining rows.
	if kc8 < kc {
		for i := 0; i < r; i++ {
			for p := kc8; p < kc; p++ {
				panel[p*width+i] = src[i*ld+p]
			}
		}
	}
	for ; r < rows; r++ {
		for p := 0; p < kc; p++ {
			panel[p*width+r] = src[r*ld+p]
		}
	}
	if rows < width {
		for p := 0; p < kc; p++ {
			clear(panel[p*width+rows : p*width+width])
		}
	}
}
