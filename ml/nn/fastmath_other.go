//go:build !amd64 || purego

package nn

var useAVX2 = false

func expShiftAVX2(dst, src *float32, n int, shift float32) float32 {
	panic("nn: expShiftAVX2 without AVX2")
}

func scaleAVX2(dst, src *float32, n int, s float32) {
	panic("nn: scaleAVX2 without AVX2")
}

func geluFwdAVX2(out, x *float32, n int)                     { panic("nn: no AVX2") }
func geluBwdAVX2(dx, dout, x *float32, n int)                { panic("nn: no AVX2") }
func swigluFwdAVX2(h, gate, up *float32, n int)              { panic("nn: no AVX2") }
func swigluBwdAVX2(dgate, dup, dh, gate, up *float32, n int) { panic("nn: no AVX2") }

func maxAVX2(x *float32, n int) float32 { panic("nn: no AVX2") }

func mulSubAVX2(d, p *float32, n int, c float32) { panic("nn: no AVX2") }

func ropeAVX2(out, x, cos, sin *float32, h int, sign float32, acc int) { panic("nn: no AVX2") }

func siluFwdAVX2(out, x *float32, n int)      { panic("nn: no AVX2") }
func siluBwdAVX2(dx, dout, x *float32, n int) { panic("nn: no AVX2") }
