//go:build !amd64 || purego

package nn

func sumSq64AVX2(x *float32, n int, shift float64) (sum, sumsq float64)      { panic("nn: no AVX2") }
func normRowAVX2(out, x, w *float32, n int, m, rs float32)                   { panic("nn: no AVX2") }
func normRowBiasAVX2(out, x, w, b *float32, n int, m, rs float32)            { panic("nn: no AVX2") }
func normDotsAVX2(gd, w, x *float32, n int, m, rs float32) (sg, sgx float64) { panic("nn: no AVX2") }
func normDxAVX2(dx, gd, w, x *float32, n int, m, rs, mg, mgx float32)        { panic("nn: no AVX2") }
func normParamAVX2(dw, gd, x *float32, n int, m, rs float32)                 { panic("nn: no AVX2") }
func accAVX2(dst, src *float32, n int)                                       { panic("nn: no AVX2") }
func addAVX2(out, a, b *float32, n int)                                      { panic("nn: no AVX2") }
