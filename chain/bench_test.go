package chain

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkEpoch256 runs one epoch of a full default subnet: 256 uids, 64
// validators weighting every miner.
func BenchmarkEpoch256(b *testing.B) { benchEpoch(b, Epoch) }

// BenchmarkEpochFixed256 is the same epoch in fixed point.
func BenchmarkEpochFixed256(b *testing.B) { benchEpoch(b, EpochFixed) }

func benchEpoch(b *testing.B, run func(EpochInput, Hyperparams) (*EpochResult, error)) {
	const n, nv = 256, 64
	rng := rand.New(rand.NewPCG(1, 2))
	in := EpochInput{Block: 1000, Stake: make([]float64, n), LastUpdate: make([]int64, n), RegisteredAt: make([]int64, n),
		Permit: make([]bool, n), Weights: newMatrix(n), Bonds: newMatrix(n), OwnerUID: -1, Emission: 1e9}
	for i := range n {
		in.LastUpdate[i] = 999
		if i < nv {
			in.Stake[i] = rng.Float64() * 1000
			in.Permit[i] = true
			for j := nv; j < n; j++ {
				in.Weights[i][j] = float64(rng.IntN(65536))
				in.Bonds[i][j] = float64(rng.IntN(65536)) / 65535
			}
		}
	}
	p := DefaultHyperparams()
	for b.Loop() {
		if _, err := run(in, p); err != nil {
			b.Fatal(err)
		}
	}
}
