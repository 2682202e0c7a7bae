package nn

import "testing"

// cpuBench runs f b.N times and reports, besides wall time, the CPU time
// per operation in ms ("cpu-ms/op"): on a busy shared machine wall time
// mostly measures the wait for a core, CPU time the work done.
func cpuBench(b *testing.B, f func()) {
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		f()
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-c0)*1e3/float64(b.N), "cpu-ms/op")
}

// Benchmarks at GPT-2-small-ish sizes: B=4, T=256, C=384, 6 heads of 64,
// vocabulary 8192.
const (
	benchB, benchT, benchC, benchH, benchV = 4, 256, 384, 6, 8192
)

func benchAttn(b *testing.B, backward bool) {
	benchAttnShape(b, AttnShape{B: benchB, T: benchT, NH: benchH, NKV: benchH, D: benchC / benchH}, backward)
}

func benchAttnShape(b *testing.B, s AttnShape, backward bool) {
	r := newRand(1)
	n, nk := s.B*s.T*s.NH*s.D, s.B*s.T*s.NKV*s.D
	q, k, v, dout := randVec(r, n, 1), randVec(r, nk, 1), randVec(r, nk, 1), randVec(r, n, 1)
	out, lse := make([]float32, n), make([]float32, s.SavedSize())
	scr := make([]float32, s.ScratchSize())
	dq, dk, dv := make([]float32, n), make([]float32, nk), make([]float32, nk)
	AttentionForward(s, out, lse, q, k, v, scr)
	// Causal useful work: QKᵀ and PV over the lower triangle, 2 flops per
	// multiply-add; the backward does 5 such products (with the recompute).
	flops := 2.0 * 2 * float64(s.B*s.NH) * float64(s.T*(s.T+1)/2) * float64(s.D)
	if backward {
		flops *= 2.5
	}
	cpuBench(b, func() {
		if backward {
			AttentionBackward(s, dq, dk, dv, dout, q, k, v, out, lse, scr)
		} else {
			AttentionForward(s, out, lse, q, k, v, scr)
		}
	})
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkAttentionForward(b *testing.B)  { benchAttn(b, false) }
func BenchmarkAttentionBackward(b *testing.B) { benchAttn(b, true) }

// A SmolLM-like grouped-query shape: one sequence, 9 query heads sharing 3
// key/value heads.
func BenchmarkAttentionBackwardGQA(b *testing.B) {
	benchAttnShape(b, AttnShape{B: 1, T: 512, NH: 9, NKV: 3, D: 64}, true)
}

func BenchmarkCrossEntropy(b *testing.B) {
	n := benchB * benchT
	r := newRand(2)
	logits := randVec(r, n*benchV, 5)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(r.IntN(benchV))
	}
	dl := make([]float32, n*benchV)
	b.SetBytes(int64(n * benchV * 8))
	cpuBench(b, func() {
		if _, _, err := CrossEntropy(logits, targets, n, benchV, 1/float32(n), nil, dl, nil); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkLayerNorm(b *testing.B) {
	n, c := benchB*benchT, benchC
	r := newRand(3)
	x, w, bb, dout := randVec(r, n*c, 1), randVec(r, c, 1), randVec(r, c, 1), randVec(r, n*c, 1)
	out, mean, rstd := make([]float32, n*c), make([]float32, n), make([]float32, n)
	dx, dw, db := make([]float32, n*c), make([]float32, c), make([]float32, c)
	b.SetBytes(int64(n * c * 4 * 5))
	cpuBench(b, func() {
		LayerNormForward(out, mean, rstd, x, w, bb, n, c, 1e-5)
		LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd, n, c)
	})
}

func BenchmarkGELU(b *testing.B) {
	n := benchB * benchT * 4 * benchC
	r := newRand(4)
	x, dout := randVec(r, n, 3), randVec(r, n, 1)
	out, dx := make([]float32, n), make([]float32, n)
	b.SetBytes(int64(n * 4 * 5))
	cpuBench(b, func() {
		GELUForward(out, x)
		GELUBackward(dx, dout, x)
	})
}

// BenchmarkCrossEntropyInPlace writes the gradient over the logits, as a
// trainer does to save a [N, V] buffer.
func BenchmarkCrossEntropyInPlace(b *testing.B) {
	n := benchB * benchT
	r := newRand(2)
	logits := randVec(r, n*benchV, 5)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(r.IntN(benchV))
	}
	b.SetBytes(int64(n * benchV * 8))
	cpuBench(b, func() {
		if _, _, err := CrossEntropy(logits, targets, n, benchV, 1/float32(n), nil, logits, nil); err != nil {
			b.Fatal(err)
		}
	})
}
