package chain

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// Random subnets: whatever the weights, stakes and parameters, an epoch
// gives proportions in [0, 1], incentive and dividends that sum to 1 (or
// are all 0), and pays out exactly the emission.
func TestEpochInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 300 {
		n := 1 + rng.IntN(24)
		p := DefaultHyperparams()
		p.Tempo = 1 + int64(rng.IntN(20))
		p.Kappa = rng.Float64()
		p.BondsPenalty = rng.Float64()
		p.BondsMovingAverage = uint64(rng.IntN(1_000_001))
		p.Yuma3 = rng.IntN(2) == 0
		p.LiquidAlpha = rng.IntN(2) == 0
		p.MaxAllowedValidators = 1 + rng.IntN(n+2)
		p.ActivityCutoff = int64(rng.IntN(50))
		p.StakeThreshold = float64(rng.IntN(3))
		in := EpochInput{Block: 100, LastEpochBlock: int64(rng.IntN(100)), Stake: make([]float64, n),
			LastUpdate: make([]int64, n), RegisteredAt: make([]int64, n), Permit: make([]bool, n),
			Weights: newMatrix(n), Bonds: newMatrix(n), OwnerUID: rng.IntN(n+1) - 1, Emission: 1e9}
		for i := range n {
			if rng.IntN(3) > 0 {
				in.Stake[i] = float64(rng.IntN(1000))
			}
			in.LastUpdate[i] = int64(rng.IntN(101))
			in.RegisteredAt[i] = int64(rng.IntN(101))
			in.Permit[i] = rng.IntN(2) == 0
			for j := range n {
				if rng.IntN(2) == 0 {
					in.Weights[i][j] = float64(rng.IntN(65536))
				}
				if rng.IntN(2) == 0 {
					in.Bonds[i][j] = rng.Float64()
				}
			}
		}
		r, err := Epoch(in, p)
		if err != nil {
			t.Fatal(err)
		}
		where := fmt.Sprintf("trial %d (n %d, yuma3 %v)", trial, n, p.Yuma3)
		for name, v := range map[string][]float64{"C": r.Consensus, "I": r.Incentive, "D": r.Dividends,
			"Tv": r.ValidatorTrust, "T": r.Trust, "S": r.StakeWeight, "Sa": r.ActiveStake} {
			for i, x := range v {
				if math.IsNaN(x) || x < 0 || x > 1+1e-9 {
					t.Fatalf("%s: %s[%d] = %v", where, name, i, x)
				}
			}
		}
		for name, v := range map[string][]float64{"I": r.Incentive, "D": r.Dividends} {
			if s := sum(v); s != 0 && math.Abs(s-1) > 1e-9 {
				t.Fatalf("%s: Σ%s = %v", where, name, s)
			}
		}
		if s := sum(r.TotalEmission); sum(in.Stake) > 0 && math.Abs(s-in.Emission) > 1e-3 {
			t.Fatalf("%s: paid %v of %v", where, s, in.Emission)
		}
		for i := range n {
			for j := range n {
				if b := r.Bonds[i][j]; math.IsNaN(b) || b < 0 || b > 1+1e-9 {
					t.Fatalf("%s: bond[%d][%d] = %v", where, i, j, b)
				}
			}
		}
	}
}

// Many nodes using one chain at once, with the clock running.
func TestLocalConcurrentUse(t *testing.T) {
	ctx := context.Background()
	l, err := OpenLocal(LocalOptions{Path: t.TempDir() + "/chain.json", Params: devParams()})
	must(t, err)
	setupNet(t, l, []float64{100, 100, 100}, 5)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for v := range 3 {
		wg.Go(func() {
			for k := range 20 {
				if err := l.SetWeights(ctx, fmt.Sprintf("v%d", v), []uint16{3, 4, 5, 6, 7}, []uint16{1, 2, 3, 4, uint16(k)}, 0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if err := l.Advance(ctx, 1); err != nil {
				errs <- err
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 20 {
				m, err := l.Metagraph(ctx)
				if err != nil {
					errs <- err
					return
				}
				if len(m.Neurons) != 8 {
					errs <- fmt.Errorf("metagraph has %d neurons", len(m.Neurons))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if b, _ := l.CurrentBlock(ctx); b != 60 {
		t.Fatalf("block %d, want 60", b)
	}
}

// The float64 and fixed-point epochs agree on random subnets whose inputs
// are what the chain stores (u16 weights and bonds, whole stakes), to well
// within a u16 step.
func TestEpochFixedAgreesWithFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for trial := range 200 {
		n := 2 + rng.IntN(16)
		p := DefaultHyperparams()
		p.Yuma3 = rng.IntN(2) == 0
		p.MaxAllowedValidators = 1 + rng.IntN(n)
		in := EpochInput{Block: 100, Stake: make([]float64, n), LastUpdate: make([]int64, n), RegisteredAt: make([]int64, n),
			Permit: make([]bool, n), Weights: newMatrix(n), Bonds: newMatrix(n), OwnerUID: -1, Emission: 1e9}
		for i := range n {
			in.Stake[i] = float64(rng.IntN(1000))
			in.LastUpdate[i] = 50
			in.Permit[i] = rng.IntN(3) > 0
			for j := range n {
				if rng.IntN(2) == 0 {
					in.Weights[i][j] = float64(rng.IntN(65536))
					in.Bonds[i][j] = float64(rng.IntN(65536)) / 65535
				}
			}
		}
		a, err := Epoch(in, p)
		must(t, err)
		b, err := EpochFixed(in, p)
		must(t, err)
		where := fmt.Sprintf("trial %d (n %d, yuma3 %v)", trial, n, p.Yuma3)
		for name, pair := range map[string][2][]float64{
			"C": {a.Consensus, b.Consensus}, "I": {a.Incentive, b.Incentive}, "D": {a.Dividends, b.Dividends},
			"Tv": {a.ValidatorTrust, b.ValidatorTrust}, "S": {a.StakeWeight, b.StakeWeight},
		} {
			for i := range pair[0] {
				if d := math.Abs(pair[0][i] - pair[1][i]); d > 1e-6 {
					t.Fatalf("%s: %s[%d] float %v, fixed %v", where, name, i, pair[0][i], pair[1][i])
				}
			}
		}
		for i := range n {
			for j := range n {
				if d := math.Abs(a.Bonds[i][j] - b.Bonds[i][j]); d > 2.0/65535 {
					t.Fatalf("%s: bond[%d][%d] float %v, fixed %v", where, i, j, a.Bonds[i][j], b.Bonds[i][j])
				}
			}
			if d := math.Abs(a.TotalEmission[i] - b.TotalEmission[i]); d > 1e3 {
				t.Fatalf("%s: emission[%d] float %v, fixed %v", where, i, a.TotalEmission[i], b.TotalEmission[i])
			}
		}
	}
}
