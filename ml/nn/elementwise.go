package nn

// Small elementwise helpers, parallel over contiguous chunks. They are the
// glue between layers: residual connections, gradient accumulation, scaling
// and zeroing of large buffers (zeroing a gradient buffer is memory-bound and
// worth spreading over the cores).

// Add writes out = a + b (a residual connection). out may alias a or b.
func Add(out, a, b []float32) {
	n := len(out)
	need("Add", "a", a, n)
	need("Add", "b", b, n)
	parallelElems(n, func(lo, hi int) {
		add(out[lo:hi], a[lo:hi], b[lo:hi])
	})
}

// AddTo accumulates dst += src: the backward of a residual connection, whose
// output gradient flows unchanged into both branches.
func AddTo(dst, src []float32) {
	n := len(dst)
	need("AddTo", "src", src, n)
	parallelElems(n, func(lo, hi int) {
		accumulate(dst[lo:hi], src[lo:hi])
	})
}

// AddScaledTo accumulates dst += alpha·src.
func AddScaledTo(dst, src []float32, alpha float32) {
	n := len(dst)
	need("AddScaledTo", "src", src, n)
	parallelElems(n, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += alpha * s[i]
		}
	})
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	parallelElems(len(x), func(lo, hi int) {
		scaleTo(x[lo:hi], x[lo:hi], s)
	})
}

// Zero sets every element of x to 0.
func Zero(x []float32) {
	parallelElems(len(x), func(lo, hi int) {
		clear(x[lo:hi])
	})
}

// Copy copies src into dst (len(dst) elements).
func Copy(dst, src []float32) {
	need("Copy", "src", src, len(dst))
	parallelElems(len(dst), func(lo, hi int) {
		copy(dst[lo:hi], src[lo:hi])
	})
}

// Mul writes out = a ⊙ b (elementwise product). out may alias a or b.
func Mul(out, a, b []float32) {
	n := len(out)
	need("Mul", "a", a, n)
	need("Mul", "b", b, n)
	parallelElems(n, func(lo, hi int) {
		o, x, y := out[lo:hi], a[lo:hi], b[lo:hi]
		for i := range o {
			o[i] = x[i] * y[i]
		}
	})
}

// MulBackward accumulates the gradients of out = a ⊙ b: da += dout ⊙ b and
// db += dout ⊙ a. Either of da, db may be nil.
func MulBackward(da, db, dout, a, b []float32) {
	n := len(dout)
	needOpt("MulBackward", "da", da, n)
	needOpt("MulBackward", "db", db, n)
	need("MulBackward", "a", a, n)
	need("MulBackward", "b", b, n)
	parallelElems(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := dout[i]
			if da != nil {
				da[i] += g * b[i]
			}
			if db != nil {
				db[i] += g * a[i]
			}
		}
	})
}
