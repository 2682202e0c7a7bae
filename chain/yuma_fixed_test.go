package chain

import (
	"math"
	"testing"
)

func TestFixedArithmetic(t *testing.T) {
	half, third := fxOne/2, fxOne.div(fxInt(3))
	if third != 1431655765 {
		t.Fatalf("1/3 = %d bits, want 1431655765 (truncated)", third)
	}
	if got := third.mul(fxInt(3)); got != fxOne-1 {
		t.Fatalf("(1/3)·3 = %d, want one less than 1", got)
	}
	if got := (-third).mul(fxInt(3)); got != -(fxOne - 1) {
		t.Fatalf("(−1/3)·3 = %d", got)
	}
	// Products round toward −∞: −ε·½ is −ε, not 0.
	if got := fx(-1).mul(half); got != -1 {
		t.Fatalf("−ε·½ = %d, want −1", got)
	}
	if got := fx(1).mul(half); got != 0 {
		t.Fatalf("ε·½ = %d, want 0", got)
	}
	// Quotients truncate toward zero; division by zero is zero.
	if got := fxInt(-1).div(fxInt(3)); got != -1431655765 {
		t.Fatalf("−1/3 = %d", got)
	}
	if fxOne.div(0) != 0 {
		t.Fatal("x/0 is not 0")
	}
	if got := fxInt(1 << 30).mul(fxInt(1 << 30)); got != math.MaxInt64 {
		t.Fatalf("overflow did not saturate: %d", got)
	}
	if got := fxInt(1 << 30).div(fx(1)); got != math.MaxInt64 {
		t.Fatalf("division overflow did not saturate: %d", got)
	}
	if got := (fxOne - 1).toU16(); got != 65534 {
		t.Fatalf("toU16(1−ε) = %d", got)
	}
	// Stake shares: 1/10 in I64F64 cut to I32F32.
	if got := stakeShares([]uint64{1, 2, 3, 4})[0]; got != 429496729 {
		t.Fatalf("share of 1/10 = %d bits", got)
	}
}

// Subtensor's test_bonds again, in fixed point: now the stored bonds must be
// exactly the chain's, emissions exactly its rao, and dividends agree with
// its trace to within one fixed-point step.
func TestEpochFixedGoldenSubtensorBonds(t *testing.T) {
	p := DefaultHyperparams()
	p.Tempo = 1
	p.MaxAllowedValidators = 8
	s := newSim(t, p, []float64{1, 2, 3, 4, 0, 0, 0, 0})
	s.run = EpochFixed
	s.epoch(1e9)
	s.block = 1
	for uid := range 4 {
		s.setWeights(uid, []int{4, 5, 6, 7}, []uint16{65535 / 4, 65535 / 2, (65535 / 4) * 3, 65535})
	}
	r := s.epoch(1e9)
	near(t, "S", r.StakeWeight, []float64{0.0999999999, 0.2, 0.2999999998, 0.4, 0, 0, 0, 0}, 1e-10)
	near(t, "C", r.Consensus, []float64{0, 0, 0, 0, 0.0999975584, 0.2000012207, 0.2999926754, 0.400008545}, 1e-10)
	near(t, "Tv", r.ValidatorTrust, []float64{0.9999999995, 0.9999999995, 0.9999999995, 0.9999999995, 0, 0, 0, 0}, 1e-10)
	near(t, "I", r.Incentive, []float64{0, 0, 0, 0, 0.0999975582, 0.2000012207, 0.2999926752, 0.4000085455}, 1e-10)
	near(t, "D", r.Dividends, []float64{0.0999999978, 0.1999999983, 0.3000000012, 0.4000000022, 0, 0, 0, 0}, 1e-10)
	near(t, "E", r.TotalEmission, []float64{49999998, 99999999, 150000000, 200000001, 49998779, 100000610, 149996337, 200004272}, 0)
	wantBonds := func(name string, col int, want [4]uint16) {
		t.Helper()
		for i, w := range want {
			if got := s.B[i][col]; got != w {
				t.Errorf("%s: bond[%d][%d] = %d, want %d", name, i, col, got, w)
			}
		}
	}
	wantBonds("first", 4, [4]uint16{16383, 32767, 49151, 65535})
	steps := []struct {
		name  string
		do    func()
		col   int
		bonds [4]uint16
		divs  []float64
		e     []float64
	}{
		{"self-weight val1", func() { s.setWeights(0, []int{0}, []uint16{65535}) }, 4, [4]uint16{14582, 32767, 49151, 65535},
			[]float64{0.0899967032, 0.2022211233, 0.303334432, 0.404447741},
			[]float64{44998351, 101110561, 151667215, 202223870, 49998779, 100000610, 149996337, 200004272}},
		{"self-weight val2", func() { s.setWeights(1, []int{1}, []uint16{65535}) }, 4, [4]uint16{12603, 28321, 49151, 65535},
			[]float64{0.0809936118, 0.1819995677, 0.3158592721, 0.421147548},
			[]float64{40496805, 90999783, 157929636, 210573773, 49998779, 100000610, 149996337, 200004272}},
		{"self-weight val3", func() { s.setWeights(2, []int{2}, []uint16{65535}) }, 7, [4]uint16{12602, 28320, 49150, 65535},
			[]float64{0, 0, 0, 0},
			[]float64{99999999, 199999999, 299999999, 399999999, 0, 0, 0, 0}},
		{"val3 -> srv4", func() { s.setWeights(2, []int{7}, []uint16{65535}) }, 7, [4]uint16{10951, 24609, 49150, 65535},
			[]float64{0.0728874663, 0.1637972582, 0.3271309866, 0.4361842885},
			[]float64{36443733, 81898628, 163565493, 218092144, 0, 0, 0, 500000000}},
		{"hold 1", func() {}, 7, [4]uint16{9559, 21482, 49150, 65535},
			[]float64{0.0655988548, 0.1474132247, 0.3372762585, 0.4497116616},
			[]float64{32799427, 73706612, 168638129, 224855830, 0, 0, 0, 500000000}},
		{"hold 2", func() {}, 7, [4]uint16{8376, 18824, 49150, 65535},
			[]float64{0.0590361361, 0.1326722752, 0.3464062694, 0.4618853189},
			[]float64{29518068, 66336137, 173203134, 230942659, 0, 0, 0, 500000000}},
	}
	for _, st := range steps {
		st.do()
		s.block++
		r := s.epoch(1e9)
		wantBonds(st.name, st.col, st.bonds)
		// The trace prints 10 digits; allow one I32F32 step.
		near(t, st.name+" D", r.Dividends, st.divs, 1.0/(1<<32))
		near(t, st.name+" E", r.TotalEmission, st.e, 0)
	}
}
