//go:build amd64 && !purego

package nn

//go:noescape
func sumSq64AVX2(x *float32, n int, shift float64) (sum, sumsq float64)

//go:noescape
func normRowAVX2(out, x, w *float32, n int, m, rs float32)

//go:noescape
func normRowBiasAVX2(out, x, w, b *float32, n int, m, rs float32)

//go:noescape
func normDotsAVX2(gd, w, x *float32, n int, m, rs float32) (sg, sgx float64)

//go:noescape
func normDxAVX2(dx, gd, w, x *float32, n int, m, rs, mg, mgx float32)

//go:noescape
func normParamAVX2(dw, gd, x *float32, n int, m, rs float32)

//go:noescape
func accAVX2(dst, src *float32, n int)

//go:noescape
func addAVX2(out, a, b *float32, n int)
