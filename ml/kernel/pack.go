package kernel

// Packing copies a block of A or B into the order the micro-kernels read:
// consecutive panels of mr rows of A (or nr columns of B), each stored
// p-major (all mr values of step p, then step p+1, ...). Rows or columns
// past the edge of the matrix are zero, so the kernels never branch on the
// shape. Transposed operands are handled here and only here.

// packA packs rows [ic, ic+mc) and depth [pc, pc+kc) of op(A) into dst as
// ceil(mc/mr) panels of kc×mr.
func packA(dst []float32, transA bool, a []float32, lda, ic, pc, mc, kc, mr int) {
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		panel := dst[ir*kc : ir*kc+kc*mr]
		if transA {
			// op(A)[i][p] = A[p][i]: each step p is a contiguous run of A.
			for p := 0; p < kc; p++ {
				src := a[(pc+p)*lda+ic+ir:][:rows]
				d := panel[p*mr : p*mr+mr]
				copy(d, src)
				clear(d[rows:])
			}
			continue
		}
		// op(A)[i][p] = A[i][p]: each row of A is scattered with stride mr.
		for i := 0; i < rows; i++ {
			src := a[(ic+ir+i)*lda+pc:][:kc]
			for p, x := range src {
				panel[p*mr+i] = x
			}
		}
		for i := rows; i < mr; i++ {
			for p := 0; p < kc; p++ {
				panel[p*mr+i] = 0
			}
		}
	}
}

// packB packs depth [pc, pc+kc) and columns [jc, jc+nc) of op(B) into dst as
// ceil(nc/nr) panels of kc×nr.
func packB(dst []float32, transB bool, b []float32, ldb, pc, jc, kc, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		panel := dst[jr*kc : jr*kc+kc*nr]
		if !transB {
			// op(B)[p][j] = B[p][j]: each step p is a contiguous run of B.
			for p := 0; p < kc; p++ {
				src := b[(pc+p)*ldb+jc+jr:][:cols]
				d := panel[p*nr : p*nr+nr]
				copy(d, src)
				clear(d[cols:])
			}
			continue
		}
		// op(B)[p][j] = B[j][p]: each row of B is scattered with stride nr.
		for j := 0; j < cols; j++ {
			src := b[(jc+jr+j)*ldb+pc:][:kc]
			for p, x := range src {
				panel[p*nr+j] = x
			}
		}
		for j := cols; j < nr; j++ {
			for p := 0; p < kc; p++ {
				panel[p*nr+j] = 0
			}
		}
	}
}
