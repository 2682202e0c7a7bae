package nn

import (
	"runtime"
	"testing"
)

// runAll runs a representative set of forward and backward operations on
// fixed inputs and returns every output, concatenated.
func runAll(withGemm bool) []float32 {
	r := newRand(99)
	var res []float32
	keep := func(x ...[]float32) {
		for _, v := range x {
			res = append(res, v...)
		}
	}
	const n, c, v = 67, 130, 301
	x, w, b, dout := randVec(r, n*c, 2), randVec(r, c, 1), randVec(r, c, 1), randVec(r, n*c, 1)
	out, mean, rstd := make([]float32, n*c), make([]float32, n), make([]float32, n)
	dx, dw, db := make([]float32, n*c), make([]float32, c), make([]float32, c)
	LayerNormForward(out, mean, rstd, x, w, b, n, c, 1e-5)
	LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd, n, c)
	keep(out, dx, dw, db)
	RMSNormForward(out, rstd, x, w, n, c, 1e-5)
	RMSNormBackward(dx, dw, dout, x, w, rstd, n, c)
	keep(out, dx, dw)
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(5)) // many repeats: the scatter-add order matters
	}
	table := make([]float32, 5*c)
	EmbeddingBackward(table, dout, ids, 5, c)
	keep(table)
	db = make([]float32, c)
	sumRowsInto(db, dout, n, c, c)
	keep(db)
	// Elementwise ops over more than one chunk, with a ragged end.
	const ne = 3*elemGrain + 13
	ex, ey, eg := randVec(r, ne, 4), randVec(r, ne, 4), randVec(r, ne, 1)
	eo, ed1, ed2 := make([]float32, ne), make([]float32, ne), make([]float32, ne)
	GELUForward(eo, ex)
	GELUBackward(ed1, eg, ex)
	keep(eo, ed1)
	SwiGLUForward(eo, ex, ey)
	SwiGLUBackward(ed1, ed2, eg, ex, ey)
	keep(eo, ed1, ed2)
	logits := randVec(r, n*v, 5)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(r.IntN(v))
	}
	dl := make([]float32, n*v)
	sum, _, _ := CrossEntropy(logits, targets, n, v, 0.01, nil, dl, nil)
	keep(dl, []float32{float32(sum), float32(sum - float64(float32(sum)))})
	if withGemm {
		s := AttnShape{B: 2, T: 70, NH: 4, NKV: 2, D: 8}
		nq, nk := s.B*s.T*s.NH*s.D, s.B*s.T*s.NKV*s.D
		q, k, vv, do := randVec(r, nq, 1), randVec(r, nk, 1), randVec(r, nk, 1), randVec(r, nq, 1)
		o, lse := make([]float32, nq), make([]float32, s.SavedSize())
		scr := make([]float32, s.ScratchSize())
		dq, dk, dv := make([]float32, nq), make([]float32, nk), make([]float32, nk)
		AttentionForward(s, o, lse, q, k, vv, scr)
		AttentionBackward(s, dq, dk, dv, do, q, k, vv, o, lse, scr)
		keep(o, lse, dq, dk, dv)
	}
	return res
}

func sameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: lengths %d and %d", what, len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			t.Fatalf("%s: element %d differs: %v vs %v", what, i, a[i], b[i])
		}
	}
}

func TestDeterminism(t *testing.T) {
	sameBits(t, "two runs", runAll(true), runAll(true))
	// Outside the matrix multiplies, results do not depend on GOMAXPROCS.
	old := runtime.GOMAXPROCS(1)
	one := runAll(false)
	runtime.GOMAXPROCS(7)
	seven := runAll(false)
	runtime.GOMAXPROCS(old)
	sameBits(t, "GOMAXPROCS 1 vs 7", one, seven)
}

// TestAttentionWorkers checks that attention gives the same bits whatever
// number of workers its scratch buffer allows.
func TestAttentionWorkers(t *testing.T) {
	s := AttnShape{B: 2, T: 70, NH: 6, NKV: 2, D: 8}
	r := newRand(98)
	nq, nk := s.B*s.T*s.NH*s.D, s.B*s.T*s.NKV*s.D
	q, k, v, do := randVec(r, nq, 1), randVec(r, nk, 1), randVec(r, nk, 1), randVec(r, nq, 1)
	run := func(workers int) []float32 {
		scr := make([]float32, s.partialSize()+workers*s.perWorker())
		o, lse := make([]float32, nq), make([]float32, s.SavedSize())
		dq, dk, dv := make([]float32, nq), make([]float32, nk), make([]float32, nk)
		AttentionForward(s, o, lse, q, k, v, scr)
		AttentionBackward(s, dq, dk, dv, do, q, k, v, o, lse, scr)
		return append(append(append(append(o, lse...), dq...), dk...), dv...)
	}
	one := run(1)
	for _, w := range []int{2, 5} {
		sameBits(t, "workers", run(w), one)
	}
}
