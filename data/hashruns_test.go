package data

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHashRunsCount checks the duplicate count against sorting every hash
// in memory, with runs spilled to disk (small spill sizes) or not, and
// duplicates within a run, across runs and between runs and the buffer.
func TestHashRunsCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ n, distinct, max int }{
		{0, 1, 0}, {1, 1, 0}, {10, 3, 0}, {1000, 1000000, 7}, {1000, 50, 7}, {5000, 4000, 64}, {4096, 100, 4096}, {4097, 100, 4096},
	} {
		var r hashRuns
		r.max = tc.max
		var all []uint64
		for range tc.n {
			h := rng.Uint64N(uint64(tc.distinct))
			r.add(h)
			all = append(all, h)
		}
		slices.Sort(all)
		want := 0
		for i := 1; i < len(all); i++ {
			if all[i] == all[i-1] {
				want++
			}
		}
		spilled := len(r.runs)
		got, ok := r.repeats()
		if !ok || got != want {
			t.Errorf("%+v: %d repeats (ok %v, %d runs), want %d", tc, got, ok, spilled, want)
		}
		if tc.max > 0 && tc.n > tc.max && spilled == 0 {
			t.Errorf("%+v: nothing spilled", tc)
		}
	}
}

// TestLengthCounts checks the summary against the sorted lengths.
func TestLengthCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 99, 100, 101, 1000} {
		var l lengthCounts
		var all []int
		for range n {
			v := 1 + rng.IntN(300)
			l.add(v)
			all = append(all, v)
		}
		slices.Sort(all)
		rank := func(p int) int { return all[max(1, (p*len(all)+99)/100)-1] }
		var total int64
		over := 0
		for _, v := range all {
			total += int64(v)
			if v > 200 {
				over++
			}
		}
		ts := l.stats(200)
		want := TokenStats{Min: all[0], Max: all[len(all)-1], Total: total, OverMax: over, Mean: float64(total) / float64(n), P50: rank(50), P95: rank(95)}
		if *ts != want {
			t.Errorf("%d lengths: %+v, want %+v", n, *ts, want)
		}
	}
	var empty lengthCounts
	if empty.stats(10) != nil {
		t.Error("stats of no lengths")
	}
}
