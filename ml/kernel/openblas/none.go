//go:build !openblas || !cgo

package openblas

// Available reports whether this build links OpenBLAS.
const Available = false
