package kernel

import "fmt"

// Gemm computes C = alpha·op(A)·op(B) + beta·C, where op(X) is X or Xᵀ.
//
// op(A) is m×k, op(B) is k×n and C is m×n, all row-major. A is stored as
// m×k (lda ≥ k) or, when transA, as k×m (lda ≥ m); likewise B as k×n or n×k.
// With beta == 0, C is overwritten without being read (NaNs in C do not
// propagate); with alpha == 0 or k == 0, A and B are not read (C = beta·C). The result for given inputs and GOMAXPROCS is bit-identical on
// every call.
//
// Gemm returns an error when a dimension is negative, a leading dimension is
// too small, or a slice is too short for the shape it is given.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if err := checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); err != nil {
		return err
	}
	gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// MatMul computes C = A·B for contiguous A (m×k), B (k×n) and C (m×n).
func MatMul(m, n, k int, a, b, c []float32) error {
	return Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
}

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
	return checkGemmLen(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
}

// checkGemmLen is checkGemm given the slices' lengths, for any element type.
func checkGemmLen(transA, transB bool, m, n, k int, lenA, lda, lenB, ldb, lenC, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("gemm: negative dimension m=%d n=%d k=%d", m, n, k)
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if err := checkMatrix("A", lenA, ar, ac, lda); err != nil {
		return err
	}
	if err := checkMatrix("B", lenB, br, bc, ldb); err != nil {
		return err
	}
	return checkMatrix("C", lenC, m, n, ldc)
}

func checkMatrix(name string, length, rows, cols, ld int) error {
	if ld < max(cols, 1) {
		return fmt.Errorf("gemm: %s is %d×%d but its leading dimension is %d (want ≥ %d)", name, rows, cols, ld, max(cols, 1))
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if need := (rows-1)*ld + cols; length < need {
		return fmt.Errorf("gemm: %s is %d×%d with leading dimension %d and needs %d elements, has %d", name, rows, cols, ld, need, length)
	}
	return nil
}

// gemm is the unchecked entry point, dispatching to the fastest variant.
// It is replaced per CPU; this portable version is correct everywhere.
var gemm = GemmRef
