package kernel

// Packing copies a block of A or B into the order the micro-kernels read:
// consecutive panels of mr rows of A (or nr columns of B), each stored
// p-major (all mr values of step p, then step p+1, ...). Rows or columns
// past the edge of the matrix are zero, so the kernels never branch on the
// shape. Transposed operands are handled here and only here.

// packA packs rows [ic, ic+mc) and depth [pc, pc+kc) of op(A) into dst as
// ceil(mc/mr) panels of kc×mr.
func packA(dst []float32, transA bool, a []float32, lda, ic, pc, mc, kc, mr int) {
	if transA {
		// op(A)[i][p] = A[p][i]: step p of every panel comes from one row of A,
		// read once and in order (a column walk would thrash the cache when
		// lda is a large power of two).
		for p := 0; p < kc; p++ {
			src := a[(pc+p)*lda+ic:][:mc]
			for ir := 0; ir < mc; ir += mr {
				d := dst[ir*kc+p*mr:][:mr]
				n := copy(d, src[ir:])
				clear(d[n:])
			}
		}
		return
	}
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		panel := dst[ir*kc : ir*kc+kc*mr]
		// op(A)[i][p] = A[i][p]: rows of A become the columns of the panel.
		gatherPanel(panel, mr, a[(ic+ir)*lda+pc:], lda, rows, kc)
	}
}

// packB packs depth [pc, pc+kc) and columns [jc, jc+nc) of op(B) into dst as
// ceil(nc/nr) panels of kc×nr.
func packB(dst []float32, transB bool, b []float32, ldb, pc, jc, kc, nc, nr int) {
	if !transB {
		// op(B)[p][j] = B[p][j]: step p of every panel comes from one row of B.
		for p := 0; p < kc; p++ {
			src := b[(pc+p)*ldb+jc:][:nc]
			for jr := 0; jr < nc; jr += nr {
				d := dst[jr*kc+p*nr:][:nr]
				n := copy(d, src[jr:])
				clear(d[n:])
			}
		}
		return
	}
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		panel := dst[jr*kc : jr*kc+kc*nr]
		// op(B)[p][j] = B[j][p]: rows of B become the columns of the panel.
		gatherPanel(panel, nr, b[(jc+jr)*ldb+pc:], ldb, cols, kc)
	}
}

// gatherPanelGo transposes rows×kc of src (row stride ld) into panel, which
// is kc×width p-major: panel[p·width+r] = src[r·ld+p]; columns r ≥ rows are
// zero. Four source rows are read side by side so that each step writes a
// contiguous run of the panel instead of one scattered element.
func gatherPanelGo(panel []float32, width int, src []float32, ld, rows, kc int) {
	panel = panel[:kc*width]
	r := 0
	for ; r+4 <= rows; r += 4 {
		s0 := src[r*ld:][:kc]
		s1 := src[(r+1)*ld:][:kc]
		s2 := src[(r+2)*ld:][:kc]
		s3 := src[(r+3)*ld:][:kc]
		for p := range s0 {
			d := panel[p*width+r:][:4:4]
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; r < rows; r++ {
		s0 := src[r*ld:][:kc]
		for p, x := range s0 {
			panel[p*width+r] = x
		}
	}
	if rows < width {
		for p := 0; p < kc; p++ {
			clear(panel[p*width+rows : p*width+width])
		}
	}
}
