//go:build amd64 && !purego

package optim

import "golang.org/x/sys/cpu"

// useAVX2 selects the vector update and sum of squares (bit-identical to
// the Go loops; see adamw_amd64.s).
var useAVX2 = cpu.X86.HasAVX2

//go:noescape
func adamwAVX2(data, grad, m, v *float32, n int, k *adamwConsts)

//go:noescape
func adamwBF16AVX2(data, grad *float32, m, v *uint16, n int, base uint32, k *adamwConsts)

//go:noescape
func sumSqAVX2(x *float32, n int, acc *[8]float64)
