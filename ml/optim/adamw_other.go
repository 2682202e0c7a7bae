//go:build !amd64 || purego

package optim

var useAVX2 = false

func adamwAVX2(data, grad, m, v *float32, n int, k *adamwConsts) { panic("optim: no AVX2") }

func adamwBF16AVX2(data, grad *float32, m, v *uint16, n int, base uint32, k *adamwConsts) {
	panic("optim: no AVX2")
}

func sumSqAVX2(x *float32, n int, acc *[8]float64) { panic("optim: no AVX2") }
