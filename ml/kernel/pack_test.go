package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestGatherPanel checks the transposing pack (assembly where available)
// against the plain Go one on every panel width in use and ragged sizes.
func TestGatherPanel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, width := range []int{4, 6, 14, 16, 32} {
		for _, rows := range []int{1, 3, 4, 5, 8, 9, 13, width} {
			if rows > width {
				continue
			}
			for _, kc := range []int{1, 7, 8, 9, 31, 64} {
				ld := kc + rng.IntN(5)
				src := make([]float32, rows*ld)
				for i := range src {
					src[i] = rng.Float32()
				}
				got := make([]float32, kc*width)
				want := make([]float32, kc*width)
				for i := range got {
					got[i], want[i] = -1, -1 // stale values must be overwritten
				}
				gatherPanel(got, width, src, ld, rows, kc)
				gatherPanelGo(want, width, src, ld, rows, kc)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("width %d rows %d kc %d ld %d:\n got %v\nwant %v", width, rows, kc, ld, got, want)
				}
			}
		}
	}
}

// TestGatherPanelBF16 checks the widening transpose (assembly where
// available) against the plain Go one.
func TestGatherPanelBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, width := range []int{14, 16, 32} {
		for _, rows := range []int{1, 7, 8, 9, 13, 16, width} {
			if rows > width {
				continue
			}
			for _, kc := range []int{1, 7, 8, 9, 64} {
				ld := kc + rng.IntN(5)
				src := make([]uint16, rows*ld)
				for i := range src {
					src[i] = Float32ToBF16(float32(rng.NormFloat64()))
				}
				got := make([]float32, kc*width)
				want := make([]float32, kc*width)
				for i := range got {
					got[i], want[i] = -1, -1
				}
				gatherPanelBF16(got, width, src, ld, rows, kc)
				gatherPanelBF16Go(want, width, src, ld, rows, kc)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("width %d rows %d kc %d ld %d:\n got %v\nwant %v", width, rows, kc, ld, got, want)
				}
			}
		}
	}
}
