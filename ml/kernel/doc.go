// Package kernel holds crucible's numeric kernels: matrix multiply in the
// forms training needs, with per-CPU variants chosen at run time, a naive
// reference for tests, and the goroutine pool every parallel kernel shares.
//
// Matrices are row-major float32 slices with a leading dimension (the
// distance between rows). The package knows nothing of models or tasks.
package kernel
