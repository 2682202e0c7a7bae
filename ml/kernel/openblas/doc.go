// Package openblas exposes OpenBLAS's sgemm as one more GEMM variant, for
// comparing crucible's kernels against it. It is empty unless built with the
// openblas tag and cgo (Debian: libopenblas-dev); importing it then registers
// the variant "openblas" with kernel.AddComparisonVariant. crucible itself
// never computes with it.
package openblas
