//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// useAVX2 selects the vector exponential on CPUs with AVX2 and FMA.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func expShiftAVX2(dst, src *float32, n int, shift float32) (sum float32)

//go:noescape
func scaleAVX2(dst, src *float32, n int, s float32)

//go:noescape
func geluFwdAVX2(out, x *float32, n int)

//go:noescape
func geluBwdAVX2(dx, dout, x *float32, n int)

//go:noescape
func swigluFwdAVX2(h, gate, up *float32, n int)

//go:noescape
func swigluBwdAVX2(dgate, dup, dh, gate, up *float32, n int)

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func mulSubAVX2(d, p *float32, n int, c float32)

//go:noescape
func ropeAVX2(out, x, cos, sin *float32, h int, sign float32, acc int)

//go:noescape
func siluFwdAVX2(out, x *float32, n int)

//go:noescape
func siluBwdAVX2(dx, dout, x *float32, n int)
