package nn

import (
	"fmt"
	"math"
	"testing"
)

func TestCrossEntropy(t *testing.T) {
	for _, tc := range []struct {
		n, v     int
		targets  []int32
		rowScale bool
	}{
		{1, 1, []int32{0}, false},
		{1, 5, []int32{IgnoreIndex}, false},
		{4, 7, []int32{3, IgnoreIndex, 0, 6}, false},
		{37, 11, nil, true},  // several rows per loss range
		{70, 45, nil, false}, // vector paths (row max, exponentials, scaling)
	} {
		t.Run(fmt.Sprintf("n%d_v%d", tc.n, tc.v), func(t *testing.T) {
			r := newRand(uint64(tc.n*100 + tc.v))
			n, v := tc.n, tc.v
			targets := tc.targets
			if targets == nil {
				targets = make([]int32, n)
				for i := range targets {
					targets[i] = int32(r.IntN(v))
					if i%5 == 2 {
						targets[i] = IgnoreIndex
					}
				}
			}
			logits := randVec(r, n*v, 4)
			var rs []float32
			if tc.rowScale {
				rs = randVec(r, n, 2)
			}
			const scale = 0.37
			dl := randVec(r, n*v, 9) // overwritten
			rowLoss := make([]float64, n)
			sum, count, err := CrossEntropy(logits, targets, n, v, scale, rs, dl, rowLoss)
			if err != nil {
				t.Fatal(err)
			}
			want := refCrossEntropy(to64(logits), targets, n, v)
			var wsum float64
			wcount := 0
			for i, l := range want {
				wsum += l
				if targets[i] != IgnoreIndex {
					wcount++
				}
				if math.Abs(rowLoss[i]-l) > 1e-5*math.Max(1, l) {
					t.Errorf("row %d loss %v want %v", i, rowLoss[i], l)
				}
			}
			if count != wcount || math.Abs(sum-wsum) > 1e-5*math.Max(1, wsum) {
				t.Fatalf("sum, count = %v, %d want %v, %d", sum, count, wsum, wcount)
			}
			// dlogits is the gradient of Σ scale·rowScale·loss.
			f := func(in [][]float64) []float64 {
				l := refCrossEntropy(in[0], targets, n, v)
				for i := range l {
					l[i] *= scale
					if rs != nil {
						l[i] *= float64(rs[i])
					}
				}
				return l
			}
			ones := make([]float64, n)
			for i := range ones {
				ones[i] = 1
			}
			checkGrad(t, "dlogits", dl, make([]float32, n*v), fdGrad(f, [][]float64{to64(logits)}, ones, 0), 1e-3)
			// In place (dlogits aliasing logits) gives the same numbers, and
			// loss-only gives the same loss.
			in := append([]float32(nil), logits...)
			sum2, _, _ := CrossEntropy(in, targets, n, v, scale, rs, in, nil)
			sum3, _, _ := CrossEntropy(logits, targets, n, v, scale, rs, nil, nil)
			if sum2 != sum || sum3 != sum {
				t.Fatalf("sums differ: %v %v %v", sum, sum2, sum3)
			}
			for i := range in {
				if in[i] != dl[i] {
					t.Fatalf("in-place dlogits differs at %d", i)
				}
			}
		})
	}
	if _, _, err := CrossEntropy(make([]float32, 6), []int32{1, 3}, 2, 3, 1, nil, nil, nil); err == nil {
		t.Error("target out of range: want an error")
	}
}

func TestSoftmax(t *testing.T) {
	r := newRand(7)
	const n, v = 3, 9
	x := randVec(r, n*v, 5)
	x[4] = 80 // large values must not overflow
	in := [][]float64{to64(x)}
	sm := func(in [][]float64) []float64 {
		var o []float64
		for i := 0; i < n; i++ {
			o = append(o, refSoftmax(in[0][i*v:(i+1)*v])...)
		}
		return o
	}
	lsm := func(in [][]float64) []float64 {
		o := sm(in)
		for i := range o {
			o[i] = math.Log(o[i])
		}
		return o
	}
	y, ly := make([]float32, n*v), make([]float32, n*v)
	SoftmaxForward(y, x, n, v)
	LogSoftmaxForward(ly, x, n, v)
	if e := maxAbsErr(y, sm(in)); e > 1e-6 {
		t.Fatalf("softmax max error %.3g", e)
	}
	if e := maxAbsErr(ly, lsm(in)); e > 1e-5 {
		t.Fatalf("log-softmax max error %.3g", e)
	}
	dy := randVec(r, n*v, 1)
	dx, dx0 := prefilled(r, n*v)
	SoftmaxBackward(dx, dy, y, n, v)
	checkGrad(t, "softmax dx", dx, dx0, fdGrad(sm, in, to64(dy), 0), 1e-3)
	dx, dx0 = prefilled(r, n*v)
	LogSoftmaxBackward(dx, dy, ly, n, v)
	checkGrad(t, "log-softmax dx", dx, dx0, fdGrad(lsm, in, to64(dy), 0), 1e-3)
}
