package nn

import (
	"fmt"
	"math"
	"testing"
)

func TestLinear(t *testing.T) {
	for _, tc := range []struct {
		n, in, out int
		bias       bool
		layout     Layout
	}{
		{1, 1, 1, false, OutIn}, {1, 7, 3, true, OutIn}, {5, 3, 9, true, OutIn},
		{4, 8, 5, false, InOut}, {3, 5, 7, true, InOut}, {1, 9, 2, true, InOut},
	} {
		t.Run(fmt.Sprintf("n%d_in%d_out%d_bias%v_%s", tc.n, tc.in, tc.out, tc.bias, tc.layout), func(t *testing.T) {
			r := newRand(uint64(tc.n*100 + tc.in*10 + tc.out))
			x, w := randVec(r, tc.n*tc.in, 1), randVec(r, tc.in*tc.out, 1)
			var b []float32
			if tc.bias {
				b = randVec(r, tc.out, 1)
			}
			y := randVec(r, tc.n*tc.out, 9) // garbage: forward must overwrite
			LinearForward(y, x, w, b, tc.n, tc.in, tc.out, tc.layout)
			f := func(in [][]float64) []float64 {
				var bb []float64
				if tc.bias {
					bb = in[2]
				}
				return refLinear(in[0], in[1], bb, tc.n, tc.in, tc.out, tc.layout)
			}
			in := [][]float64{to64(x), to64(w), to64(b)}
			if e := maxAbsErr(y, f(in)); e > 1e-5 {
				t.Fatalf("forward max error %.3g", e)
			}
			dy := randVec(r, tc.n*tc.out, 1)
			dx, dx0 := prefilled(r, tc.n*tc.in)
			dw, dw0 := prefilled(r, tc.in*tc.out)
			var db, db0 []float32
			if tc.bias {
				db, db0 = prefilled(r, tc.out)
			}
			LinearBackward(dx, dw, db, dy, x, w, tc.n, tc.in, tc.out, tc.layout)
			wt := to64(dy)
			checkGrad(t, "dx", dx, dx0, fdGrad(f, in, wt, 0), 1e-3)
			checkGrad(t, "dw", dw, dw0, fdGrad(f, in, wt, 1), 1e-3)
			if tc.bias {
				checkGrad(t, "db", db, db0, fdGrad(f, in, wt, 2), 1e-3)
			}
			// nil gradients are skipped, the others unchanged.
			dx2 := append([]float32(nil), dx0...)
			LinearBackward(dx2, nil, nil, dy, x, w, tc.n, tc.in, tc.out, tc.layout)
			for i := range dx2 {
				if dx2[i] != dx[i] {
					t.Fatalf("dx with nil dw differs at %d", i)
				}
			}
		})
	}
}

func TestLinearAdd(t *testing.T) {
	for _, layout := range []Layout{OutIn, InOut} {
		r := newRand(31)
		const n, in, out, alpha = 3, 5, 4, 0.7
		x, w := randVec(r, n*in, 1), randVec(r, in*out, 1)
		y, y0 := prefilled(r, n*out)
		LinearForwardAdd(y, x, w, n, in, out, layout, alpha)
		f := func(in64 [][]float64) []float64 {
			o := refLinear(in64[0], in64[1], nil, n, in, out, layout)
			for i := range o {
				o[i] *= alpha
			}
			return o
		}
		in64 := [][]float64{to64(x), to64(w)}
		want := f(in64)
		for i := range want {
			want[i] += float64(y0[i])
		}
		if e := maxAbsErr(y, want); e > 1e-5 {
			t.Fatalf("%s: forward max error %.3g", layout, e)
		}
		dy := randVec(r, n*out, 1)
		dx, dx0 := prefilled(r, n*in)
		dw, dw0 := prefilled(r, in*out)
		LinearAddBackward(dx, dw, dy, x, w, n, in, out, layout, alpha)
		checkGrad(t, layout.String()+" dx", dx, dx0, fdGrad(f, in64, to64(dy), 0), 1e-3)
		checkGrad(t, layout.String()+" dw", dw, dw0, fdGrad(f, in64, to64(dy), 1), 1e-3)
	}
}

func TestEmbedding(t *testing.T) {
	r := newRand(1)
	const vocab, c = 7, 5
	table := randVec(r, vocab*c, 1)
	ids := []int32{3, 0, 6, 3, 3, 1}
	out := make([]float32, len(ids)*c)
	if err := EmbeddingForward(out, table, ids, vocab, c); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		for j := 0; j < c; j++ {
			if out[i*c+j] != table[int(id)*c+j] {
				t.Fatalf("row %d col %d: got %v want %v", i, j, out[i*c+j], table[int(id)*c+j])
			}
		}
	}
	dout := randVec(r, len(ids)*c, 1)
	dt, dt0 := prefilled(r, vocab*c)
	EmbeddingBackward(dt, dout, ids, vocab, c)
	want := to64(dt0)
	for i, id := range ids {
		for j := 0; j < c; j++ {
			want[int(id)*c+j] += float64(dout[i*c+j])
		}
	}
	if e := maxAbsErr(dt, want); e > 1e-6 {
		t.Fatalf("backward max error %.3g", e)
	}
	for _, bad := range [][]int{{0, 7}, {-1}} {
		if err := EmbeddingForward(out, table, bad, vocab, c); err == nil {
			t.Errorf("ids %v: want an error", bad)
		}
	}
}

func TestPosition(t *testing.T) {
	r := newRand(2)
	const batch, tt, c, maxPos, start = 3, 4, 5, 9, 2
	x := randVec(r, batch*tt*c, 1)
	x0 := append([]float32(nil), x...)
	wpe := randVec(r, maxPos*c, 1)
	if err := PositionForward(x, wpe, batch, tt, c, start, maxPos); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < batch; b++ {
		for j := 0; j < tt; j++ {
			for e := 0; e < c; e++ {
				i := (b*tt+j)*c + e
				if want := x0[i] + wpe[(start+j)*c+e]; x[i] != want {
					t.Fatalf("x[%d]=%v want %v", i, x[i], want)
				}
			}
		}
	}
	dx := randVec(r, batch*tt*c, 1)
	dw, dw0 := prefilled(r, maxPos*c)
	PositionBackward(dw, dx, batch, tt, c, start)
	want := to64(dw0)
	for b := 0; b < batch; b++ {
		for j := 0; j < tt; j++ {
			for e := 0; e < c; e++ {
				want[(start+j)*c+e] += float64(dx[(b*tt+j)*c+e])
			}
		}
	}
	if e := maxAbsErr(dw, want); e > 1e-6 {
		t.Fatalf("backward max error %.3g", e)
	}
	if err := PositionForward(x, wpe, batch, tt, c, 6, maxPos); err == nil {
		t.Error("positions past the table: want an error")
	}
}

func TestNorms(t *testing.T) {
	for _, sh := range []struct{ n, c int }{{1, 1}, {1, 7}, {3, 5}, {6, 130}} {
		t.Run(fmt.Sprintf("n%d_c%d", sh.n, sh.c), func(t *testing.T) {
			n, c := sh.n, sh.c
			r := newRand(uint64(n*1000 + c))
			x := randVec(r, n*c, 2)
			for i := range x {
				x[i] += 0.5 // a non-zero mean
			}
			w, b := randVec(r, c, 1), randVec(r, c, 1)
			const eps = 1e-5
			in := [][]float64{to64(x), to64(w), to64(b)}
			dout := randVec(r, n*c, 1)
			wt := to64(dout)

			// LayerNorm.
			out, mean, rstd := make([]float32, n*c), make([]float32, n), make([]float32, n)
			LayerNormForward(out, mean, rstd, x, w, b, n, c, eps)
			fl := func(in [][]float64) []float64 { return refLayerNorm(in[0], in[1], in[2], n, c, eps) }
			if e := maxAbsErr(out, fl(in)); e > 1e-5 {
				t.Fatalf("layernorm forward max error %.3g", e)
			}
			re := make([]float32, n*c)
			LayerNormRecompute(re, x, w, b, mean, rstd, n, c)
			sameBits(t, "layernorm recompute", re, out)
			dx, dx0 := prefilled(r, n*c)
			dw, dw0 := prefilled(r, c)
			db, db0 := prefilled(r, c)
			LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd, n, c)
			if c > 1 { // with c == 1 the output is constant and dx is 0
				checkGrad(t, "layernorm dx", dx, dx0, fdGrad(fl, in, wt, 0), 1e-3)
			}
			checkGrad(t, "layernorm dw", dw, dw0, fdGrad(fl, in, wt, 1), 1e-3)
			checkGrad(t, "layernorm db", db, db0, fdGrad(fl, in, wt, 2), 1e-3)

			// RMSNorm.
			RMSNormForward(out, rstd, x, w, n, c, eps)
			fr := func(in [][]float64) []float64 { return refRMSNorm(in[0], in[1], n, c, eps) }
			if e := maxAbsErr(out, fr(in)); e > 1e-5 {
				t.Fatalf("rmsnorm forward max error %.3g", e)
			}
			RMSNormRecompute(re, x, w, rstd, n, c)
			sameBits(t, "rmsnorm recompute", re, out)
			dx, dx0 = prefilled(r, n*c)
			dw, dw0 = prefilled(r, c)
			RMSNormBackward(dx, dw, dout, x, w, rstd, n, c)
			if c > 1 { // with c == 1 the output is ±w and dx nearly 0
				checkGrad(t, "rmsnorm dx", dx, dx0, fdGrad(fr, in, wt, 0), 1e-3)
			}
			checkGrad(t, "rmsnorm dw", dw, dw0, fdGrad(fr, in, wt, 1), 1e-3)
		})
	}
}

func TestActivations(t *testing.T) {
	r := newRand(3)
	const n = 257
	x := randVec(r, n, 6)
	x[0], x[1], x[2] = 0, -30, 30 // saturated ends
	y := randVec(r, n, 3)
	dout := randVec(r, n, 1)
	wt := to64(dout)
	elem := func(f func(float64) float64) func(in [][]float64) []float64 {
		return func(in [][]float64) []float64 {
			o := make([]float64, len(in[0]))
			for i, v := range in[0] {
				o[i] = f(v)
			}
			return o
		}
	}
	out := make([]float32, n)
	for _, a := range []struct {
		name string
		fwd  func(out, x []float32)
		bwd  func(dx, dout, x []float32)
		ref  func(float64) float64
	}{
		{"gelu", GELUForward, GELUBackward, refGELU},
		{"silu", SiLUForward, SiLUBackward, refSiLU},
	} {
		a.fwd(out, x)
		f := elem(a.ref)
		in := [][]float64{to64(x)}
		if e := maxAbsErr(out, f(in)); e > 1e-5 {
			t.Errorf("%s forward max error %.3g", a.name, e)
		}
		dx, dx0 := prefilled(r, n)
		a.bwd(dx, dout, x)
		checkGrad(t, a.name+" dx", dx, dx0, fdGrad(f, in, wt, 0), 1e-3)
	}

	// SwiGLU, flat and in the fused [gate | up] row layout.
	fs := func(in [][]float64) []float64 {
		o := make([]float64, len(in[0]))
		for i := range o {
			o[i] = refSiLU(in[0][i]) * in[1][i]
		}
		return o
	}
	in := [][]float64{to64(x), to64(y)}
	SwiGLUForward(out, x, y)
	if e := maxAbsErr(out, fs(in)); e > 1e-5 {
		t.Errorf("swiglu forward max error %.3g", e)
	}
	dg, dg0 := prefilled(r, n)
	du, du0 := prefilled(r, n)
	SwiGLUBackward(dg, du, dout, x, y)
	checkGrad(t, "swiglu dgate", dg, dg0, fdGrad(fs, in, wt, 0), 1e-3)
	checkGrad(t, "swiglu dup", du, du0, fdGrad(fs, in, wt, 1), 1e-3)

	const rows, inter = 3, 5
	gu := randVec(r, rows*2*inter, 4)
	h := make([]float32, rows*inter)
	SwiGLURowsForward(h, gu, rows, inter)
	dh := randVec(r, rows*inter, 1)
	dgu := make([]float32, rows*2*inter)
	SwiGLURowsBackward(dgu, dh, gu, rows, inter)
	for rr := 0; rr < rows; rr++ {
		g, u := gu[2*rr*inter:(2*rr+1)*inter], gu[(2*rr+1)*inter:(2*rr+2)*inter]
		hw := make([]float32, inter)
		SwiGLUForward(hw, g, u)
		dgw, duw := make([]float32, inter), make([]float32, inter)
		SwiGLUBackward(dgw, duw, dh[rr*inter:(rr+1)*inter], g, u)
		for i := 0; i < inter; i++ {
			if h[rr*inter+i] != hw[i] || dgu[2*rr*inter+i] != dgw[i] || dgu[(2*rr+1)*inter+i] != duw[i] {
				t.Fatalf("row layout differs from flat at row %d col %d", rr, i)
			}
		}
	}
}

func TestExpf(t *testing.T) {
	var worst float64
	for x := -87.0; x <= 88.0; x += 0.0137 {
		got := float64(expf(float32(x)))
		want := math.Exp(float64(float32(x)))
		if e := math.Abs(got-want) / want; e > worst {
			worst = e
		}
	}
	if worst > 3e-7 {
		t.Fatalf("expf relative error %.3g", worst)
	}
	if expf(-100) != 0 || !math.IsInf(float64(expf(100)), 1) || !math.IsNaN(float64(expf(float32(math.NaN())))) {
		t.Fatal("expf edge cases")
	}
}

func TestElementwise(t *testing.T) {
	r := newRand(4)
	const n = 100003 // more than one parallel chunk, odd
	a, b := randVec(r, n, 1), randVec(r, n, 1)
	out := make([]float32, n)
	Add(out, a, b)
	for i := range out {
		if out[i] != a[i]+b[i] {
			t.Fatalf("Add at %d", i)
		}
	}
	Mul(out, a, b)
	for i := range out {
		if out[i] != a[i]*b[i] {
			t.Fatalf("Mul at %d", i)
		}
	}
	d := append([]float32(nil), a...)
	AddTo(d, b)
	AddScaledTo(d, b, -1)
	Scale(d, 2)
	for i := range d {
		if want := 2 * ((a[i] + b[i]) - b[i]); d[i] != want {
			t.Fatalf("AddTo/AddScaledTo/Scale at %d: %v want %v", i, d[i], want)
		}
	}
	Copy(d, b)
	da, db := make([]float32, n), make([]float32, n)
	MulBackward(da, db, d, a, b)
	Zero(d)
	for i := range d {
		if d[i] != 0 || da[i] != b[i]*b[i] || db[i] != b[i]*a[i] {
			t.Fatalf("Copy/MulBackward/Zero at %d", i)
		}
	}
}

func TestExpShift(t *testing.T) {
	r := newRand(8)
	for _, n := range []int{1, 7, 8, 9, 64, 1000} {
		src := randVec(r, n, 80)
		src[0] = -1e30
		if n > 3 {
			src[1], src[2] = 87.5, -87.2
		}
		dst := make([]float32, n)
		sum := expShift(dst, src, 0.25)
		var want float64
		for i, x := range src {
			w := math.Exp(float64(x + 0.25))
			if x+0.25 < expMin {
				w = 0
			}
			want += float64(dst[i])
			if e := math.Abs(float64(dst[i])-w) / math.Max(w, 1e-30); e > 3e-7 && !(w < 2e-38 && dst[i] < 2e-38) {
				t.Fatalf("n=%d: exp(%v) = %v, want %v", n, x+0.25, dst[i], w)
			}
		}
		if math.Abs(float64(sum)-want) > 1e-6*want {
			t.Fatalf("n=%d: sum %v want %v", n, sum, want)
		}
	}
}

// TestLayerNormLargeMean checks the statistics of rows whose mean is far
// larger than their spread.
func TestLayerNormLargeMean(t *testing.T) {
	r := newRand(13)
	const n, c = 3, 203
	x := randVec(r, n*c, 1e-2)
	for i := range x {
		x[i] += 100
	}
	w, b := make([]float32, c), make([]float32, c)
	for i := range w {
		w[i] = 1
	}
	out, mean, rstd := make([]float32, n*c), make([]float32, n), make([]float32, n)
	LayerNormForward(out, mean, rstd, x, w, b, n, c, 1e-12)
	want := refLayerNorm(to64(x), to64(w), to64(b), n, c, 1e-12)
	// The mean is stored in float32 (an error up to ulp(100)/2 = 4e-6
	// against a spread of 6e-3), so the normalized values may be off by 7e-4.
	if e := maxAbsErr(out, want); e > 1.5e-3 {
		t.Fatalf("max error %.3g", e)
	}
}

func TestRowMax(t *testing.T) {
	r := newRand(14)
	for _, n := range []int{1, 15, 16, 17, 40, 1000} {
		for trial := 0; trial < 5; trial++ {
			x := randVec(r, n, 50)
			at := r.IntN(n)
			x[at] = 60 + float32(trial)
			if got := rowMax(x); got != x[at] {
				t.Fatalf("n=%d: max %v at %d, got %v", n, x[at], at, got)
			}
		}
	}
	if got := rowMax(nil); !math.IsInf(float64(got), -1) {
		t.Fatalf("empty row: %v", got)
	}
}

// TestNormRowVectorMatchesScalar checks that the vector norm row kernels do
// the scalar code's elementwise operations exactly (the float64 sums are
// allowed to differ in their last bits: they are added in another order).
func TestNormRowVectorMatchesScalar(t *testing.T) {
	if !useAVX2 {
		t.Skip("no vector path on this CPU")
	}
	r := newRand(17)
	const c = 77
	x, w, b, g := randVec(r, c, 3), randVec(r, c, 1), randVec(r, c, 1), randVec(r, c, 1)
	const m, rs, mg, mgx = 0.3, 1.7, -0.2, 0.45
	run := func() ([]float32, float64, float64) {
		out := make([]float32, 4*c)
		normRow(out[:c], x, w, b, m, rs)
		normRow(out[c:2*c], x, w, nil, m, rs)
		dx, _ := prefilled(newRand(18), c)
		normDx(dx, g, w, x, m, rs, mg, mgx)
		copy(out[2*c:], dx)
		dw, _ := prefilled(newRand(19), c)
		normParam(dw, g, x, m, rs)
		copy(out[3*c:], dw)
		sg, sgx := normDots(g, w, x, m, rs)
		return out, sg, sgx
	}
	vec, vsg, vsgx := run()
	useAVX2 = false
	scalar, ssg, ssgx := run()
	useAVX2 = true
	sameBits(t, "vector vs scalar", vec, scalar)
	if math.Abs(vsg-ssg) > 1e-12*math.Max(1, math.Abs(ssg)) || math.Abs(vsgx-ssgx) > 1e-12*math.Max(1, math.Abs(ssgx)) {
		t.Fatalf("dots differ: %v %v vs %v %v", vsg, vsgx, ssg, ssgx)
	}
}
