package tuning

import (
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// FingerprintDims is the length of a weight-delta fingerprint.
const FingerprintDims = 64

// fingerprintSeed fixes the projection: every validator computes the same
// fingerprints.
const fingerprintSeed = 0x63727563_69626c65

// fingerprintChunk is the number of elements whose projections are summed
// into one partial; partials are added in chunk order, so the result does
// not depend on the number of cores.
const fingerprintChunk = 1 << 15

// fingerprintMax is the most delta elements a fingerprint projects.
const fingerprintMax = 1 << 24

// Fingerprint projects a weight delta onto FingerprintDims fixed random
// ±1 directions (a Johnson–Lindenstrauss sketch): the cosine similarity of
// two fingerprints approximates that of the deltas, so near-duplicate
// submissions (the same weights, or one rescaled or lightly perturbed)
// stand out, while the delta itself never has to be kept. The signs of
// element i are the bits of a hash of i, the same on every machine. The
// result is normalized by √(elements projected). Deltas of more than
// fingerprintMax elements are sampled at a fixed stride, which keeps the
// cost bounded for large models and the sketch the same everywhere.
func Fingerprint(delta []float32) []float32 {
	if stride := (len(delta) + fingerprintMax - 1) / fingerprintMax; stride > 1 {
		sampled := make([]float32, 0, fingerprintMax)
		for i := 0; i < len(delta); i += stride {
			sampled = append(sampled, delta[i])
		}
		delta = sampled
	}
	n := len(delta)
	chunks := (n + fingerprintChunk - 1) / fingerprintChunk
	partial := make([][FingerprintDims]float64, chunks)
	kernel.ParallelFor(chunks, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			p := &partial[c]
			end := min((c+1)*fingerprintChunk, n)
			for i := c * fingerprintChunk; i < end; i++ {
				d := float64(delta[i])
				if d == 0 {
					continue
				}
				h := mix(fingerprintSeed ^ uint64(i))
				for j := range FingerprintDims {
					if h>>j&1 == 1 {
						p[j] += d
					} else {
						p[j] -= d
					}
				}
			}
		}
	})
	var sum [FingerprintDims]float64
	for c := range partial {
		for j := range sum {
			sum[j] += partial[c][j]
		}
	}
	out := make([]float32, FingerprintDims)
	scale := 1 / math.Sqrt(float64(max(n, 1)))
	for j := range out {
		out[j] = float32(sum[j] * scale)
	}
	return out
}

// mix is the SplitMix64 finalizer.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
