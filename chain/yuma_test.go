package chain

import (
	"math"
	"testing"
)

// sim replays Subtensor's epoch tests: it stores weights and bonds as the
// chain does (u16), calls Epoch directly (no coinbase), and, like those
// tests, leaves LastMechansimStepBlock at 0 so that the bond mask uses
// block − tempo.
type sim struct {
	t      *testing.T
	p      Hyperparams
	block  int64
	stake  []float64
	lu     []int64
	reg    []int64
	permit []bool
	W      [][]uint16
	B      [][]uint16
}

func newSim(t *testing.T, p Hyperparams, stake []float64) *sim {
	n := len(stake)
	s := &sim{t: t, p: p, stake: stake, lu: make([]int64, n), reg: make([]int64, n), permit: make([]bool, n)}
	s.W = make([][]uint16, n)
	s.B = make([][]uint16, n)
	for i := range n {
		s.W[i] = make([]uint16, n)
		s.B[i] = make([]uint16, n)
	}
	return s
}

// setWeights stores uid's weights max-upscaled, as set_weights does.
func (s *sim) setWeights(uid int, uids []int, vals []uint16) {
	up := MaxUpscale(vals)
	for j := range s.W[uid] {
		s.W[uid][j] = 0
	}
	for k, j := range uids {
		s.W[uid][j] = up[k]
	}
	s.lu[uid] = s.block
}

func (s *sim) epoch(emission float64) *EpochResult {
	s.t.Helper()
	n := len(s.stake)
	in := EpochInput{Block: s.block, Stake: s.stake, LastUpdate: s.lu, RegisteredAt: s.reg,
		Permit: s.permit, OwnerUID: -1, Emission: emission,
		Weights: newMatrix(n), Bonds: newMatrix(n)}
	for i := range n {
		for j := range n {
			in.Weights[i][j] = float64(s.W[i][j])
			in.Bonds[i][j] = float64(s.B[i][j]) / 65535
		}
	}
	r, err := Epoch(in, s.p)
	if err != nil {
		s.t.Fatal(err)
	}
	s.permit = r.Permit
	for i := range n {
		for j := range n {
			s.B[i][j] = ToU16(r.Bonds[i][j])
		}
	}
	return r
}

func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s[%d] = %.10f, want %.10f (±%g)\n got %v\nwant %v", what, i, got[i], want[i], tol, got, want)
			return
		}
	}
}

// Subtensor tests/epoch.rs test_bonds: Yuma 2, 4 validators with stakes
// 1:2:3:4 and 4 servers weighted 1:2:3:4; validators then switch to
// self-weights one by one, and validator 3 moves to server 7. The stored
// bonds (u16) are the test's assertions; D and emissions come from its
// logged trace. Fixed-point rounding may move a u16 by one.
func TestEpochGoldenSubtensorBonds(t *testing.T) {
	p := DefaultHyperparams()
	p.Tempo = 1
	p.MaxAllowedValidators = 8
	s := newSim(t, p, []float64{1, 2, 3, 4, 0, 0, 0, 0})
	s.epoch(1e9) // block 0: permits
	s.block = 1
	for uid := range 4 {
		s.setWeights(uid, []int{4, 5, 6, 7}, []uint16{65535 / 4, 65535 / 2, (65535 / 4) * 3, 65535})
	}
	r := s.epoch(1e9)
	near(t, "C", r.Consensus, []float64{0, 0, 0, 0, 0.0999975584, 0.2000012207, 0.2999926754, 0.400008545}, 1e-7)
	near(t, "Tv", r.ValidatorTrust, []float64{1, 1, 1, 1, 0, 0, 0, 0}, 1e-7)
	near(t, "I", r.Incentive, []float64{0, 0, 0, 0, 0.0999975582, 0.2000012207, 0.2999926752, 0.4000085455}, 1e-7)
	near(t, "D", r.Dividends, []float64{0.0999999978, 0.1999999983, 0.3000000012, 0.4000000022, 0, 0, 0, 0}, 1e-7)
	near(t, "E", r.TotalEmission, []float64{49999998, 99999999, 150000000, 200000001, 49998779, 100000610, 149996337, 200004272}, 2)
	type step struct {
		name   string
		do     func()
		col    int
		bonds  [4]uint16
		divs   []float64
		incent []float64
	}
	steps := []step{
		{"self-weight val1", func() { s.setWeights(0, []int{0}, []uint16{65535}) }, 4, [4]uint16{14582, 32767, 49151, 65535},
			[]float64{0.0899967032, 0.2022211233, 0.303334432, 0.404447741}, nil},
		{"self-weight val2", func() { s.setWeights(1, []int{1}, []uint16{65535}) }, 4, [4]uint16{12603, 28321, 49151, 65535},
			[]float64{0.0809936118, 0.1819995677, 0.3158592721, 0.421147548}, nil},
		{"self-weight val3", func() { s.setWeights(2, []int{2}, []uint16{65535}) }, 7, [4]uint16{12602, 28320, 49150, 65535},
			[]float64{0, 0, 0, 0}, []float64{0, 0, 0, 0, 0, 0, 0, 0}},
		{"val3 -> srv4", func() { s.setWeights(2, []int{7}, []uint16{65535}) }, 7, [4]uint16{10951, 24609, 49150, 65535},
			[]float64{0.0728874663, 0.1637972582, 0.3271309866, 0.4361842885}, []float64{0, 0, 0, 0, 0, 0, 0, 1}},
		{"hold 1", func() {}, 7, [4]uint16{9559, 21482, 49150, 65535},
			[]float64{0.0655988548, 0.1474132247, 0.3372762585, 0.4497116616}, nil},
		{"hold 2", func() {}, 7, [4]uint16{8376, 18824, 49150, 65535},
			[]float64{0.0590361361, 0.1326722752, 0.3464062694, 0.4618853189}, nil},
	}
	for _, st := range steps {
		st.do()
		s.block++
		r := s.epoch(1e9)
		for i, want := range st.bonds {
			if got := s.B[i][st.col]; int(got)-int(want) > 1 || int(want)-int(got) > 1 {
				t.Errorf("%s: bond[%d][%d] = %d, want %d", st.name, i, st.col, got, want)
			}
		}
		// The chain's fixed-point arithmetic rounds stored bonds down
		// where float64 may not; a u16 step moves D by ~5e-6.
		near(t, st.name+" D", r.Dividends, st.divs, 1e-5)
		if st.incent != nil {
			near(t, st.name+" I", r.Incentive, st.incent, 1e-6)
		}
	}
	// At "self-weight val3" only validator 3 (40% of stake) weights
	// servers: no consensus, and emission goes to validators by stake.
}

// yuma3Setup is Subtensor's setup_yuma_3_scenario: κ = 32767/65535, β = 0,
// bonds moving average 975 000, liquid alpha on with α in [0.1, 0.3] and
// steepness 1000, three validator permits, and a first epoch for permits.
func yuma3Setup(t *testing.T, stake []float64, liquid bool) *sim {
	p := DefaultHyperparams()
	p.Tempo = 1
	p.Kappa = 32767.0 / 65535
	p.BondsPenalty = 0
	p.BondsMovingAverage = 975_000
	p.AlphaSigmoidSteepness = 1000
	p.LiquidAlpha = liquid
	p.AlphaLow, p.AlphaHigh = 0.1, 0.3
	p.Yuma3 = true
	p.MaxAllowedValidators = 3
	s := newSim(t, p, stake)
	s.block = 1
	s.epoch(1e9)
	return s
}

// weightsAll sets each validator's weights on the servers.
func (s *sim) weightsAll(servers []int, rows ...[]uint16) {
	for v, row := range rows {
		s.setWeights(v, servers, row)
	}
}

const M = 65535

// Subtensor test_yuma_3_liquid_alpha_disabled, also the worked vector of
// the reference notes: validator 2 switches from server 3 to server 4 at
// epoch 2 and loses dividends while its bonds catch up.
func TestEpochGoldenYuma3LiquidAlphaDisabled(t *testing.T) {
	s := yuma3Setup(t, []float64{33, 33, 34, 0, 0}, false)
	divs := [][]float64{
		{0.3300, 0.3300, 0.3400, 0, 0},
		{0.3300, 0.3300, 0.3400, 0, 0},
		{0.3734, 0.3734, 0.2532, 0, 0},
		{0.3611, 0.3611, 0.2779, 0, 0},
		{0.3541, 0.3541, 0.2919, 0, 0},
		{0.3495, 0.3495, 0.3009, 0, 0},
	}
	bonds := [][3][2]float64{ // validator × (server 3, server 4)
		{{0.0250, 0}, {0.0250, 0}, {0.0250, 0}},
		{{0.0494, 0}, {0.0494, 0}, {0.0494, 0}},
		{{0.0731, 0}, {0.0731, 0}, {0.0481, 0.0250}},
		{{0.0963, 0}, {0.0963, 0}, {0.0719, 0.0244}},
		{{0.1189, 0}, {0.1189, 0}, {0.0951, 0.0238}},
		{{0.1409, 0}, {0.1409, 0}, {0.1178, 0.0232}},
	}
	for e := range divs {
		if e == 2 {
			s.weightsAll([]int{3, 4}, []uint16{M, 0}, []uint16{M, 0}, []uint16{0, M})
		} else {
			s.weightsAll([]int{3, 4}, []uint16{M, 0}, []uint16{M, 0}, []uint16{M, 0})
		}
		s.block++
		r := s.epoch(1e9)
		near(t, "D epoch "+string(rune('0'+e)), r.Dividends, divs[e], 1e-3)
		for v := range 3 {
			near(t, "bonds epoch "+string(rune('0'+e)), []float64{float64(s.B[v][3]) / M, float64(s.B[v][4]) / M}, bonds[e][v][:], 1e-3)
		}
	}
}

// Subtensor test_yuma_3_one_epoch_switch (liquid alpha on).
func TestEpochGoldenYuma3OneEpochSwitch(t *testing.T) {
	s := yuma3Setup(t, []float64{33, 33, 34, 0, 0}, true)
	divs := [][]float64{
		{0.3300, 0.3300, 0.3400, 0, 0},
		{0.3300, 0.3300, 0.3400, 0, 0},
		{0.3782, 0.3782, 0.2436, 0, 0},
		{0.3628, 0.3628, 0.2745, 0, 0},
		{0.3541, 0.3541, 0.2917, 0, 0},
		{0.3487, 0.3487, 0.3026, 0, 0},
	}
	bonds := [][3][2]float64{
		{{0.1013, 0}, {0.1013, 0}, {0.1013, 0}},
		{{0.1924, 0}, {0.1924, 0}, {0.1924, 0}},
		{{0.2742, 0}, {0.2742, 0}, {0.1715, 0.2987}},
		{{0.3478, 0}, {0.3478, 0}, {0.2554, 0.2618}},
		{{0.4139, 0}, {0.4139, 0}, {0.3309, 0.2312}},
		{{0.4733, 0}, {0.4733, 0}, {0.3987, 0.2051}},
	}
	for e := range divs {
		if e == 2 {
			s.weightsAll([]int{3, 4}, []uint16{M, 0}, []uint16{M, 0}, []uint16{0, M})
		} else {
			s.weightsAll([]int{3, 4}, []uint16{M, 0}, []uint16{M, 0}, []uint16{M, 0})
		}
		s.block++
		r := s.epoch(1e9)
		near(t, "D epoch "+string(rune('0'+e)), r.Dividends, divs[e], 1e-3)
		for v := range 3 {
			near(t, "bonds epoch "+string(rune('0'+e)), []float64{float64(s.B[v][3]) / M, float64(s.B[v][4]) / M}, bonds[e][v][:], 1e-3)
		}
	}
}

// Subtensor test_yuma_3_kappa_moves_first: the big validator (80%) moves to
// server 4 first, the eager small one follows, the lazy one last.
func TestEpochGoldenYuma3KappaMovesFirst(t *testing.T) {
	s := yuma3Setup(t, []float64{8, 1, 1, 0, 0}, true)
	divs := [][]float64{
		{0.8000, 0.1000, 0.1000, 0, 0},
		{1.0000, 0.0000, 0.0000, 0, 0},
		{0.9382, 0.0618, 0.0000, 0, 0},
		{0.8819, 0.0773, 0.0407, 0, 0},
		{0.8564, 0.0844, 0.0592, 0, 0},
		{0.8418, 0.0884, 0.0697, 0, 0},
	}
	for e := range divs {
		switch e {
		case 0:
			s.weightsAll([]int{3, 4}, []uint16{M, 0}, []uint16{M, 0}, []uint16{M, 0})
		case 1:
			s.weightsAll([]int{3, 4}, []uint16{0, M}, []uint16{M, 0}, []uint16{M, 0})
		case 2:
			s.weightsAll([]int{3, 4}, []uint16{0, M}, []uint16{0, M}, []uint16{M, 0})
		case 3:
			s.weightsAll([]int{3, 4}, []uint16{0, M}, []uint16{0, M}, []uint16{0, M})
		}
		s.block++
		r := s.epoch(1e9)
		near(t, "D epoch "+string(rune('0'+e)), r.Dividends, divs[e], 1e-3)
	}
}

// Subtensor test_yuma_3_stable_miner: weights split over three servers.
func TestEpochGoldenYuma3StableMiner(t *testing.T) {
	s := yuma3Setup(t, []float64{8, 1, 1, 0, 0, 0}, true)
	h := uint16(M / 2)
	divs := [][]float64{
		{0.8000, 0.1000, 0.1000, 0, 0, 0},
		{0.8226, 0.0745, 0.1028, 0, 0, 0},
		{0.7750, 0.1685, 0.0565, 0, 0, 0},
		{0.7864, 0.1372, 0.0764, 0, 0, 0},
		{0.7912, 0.1241, 0.0847, 0, 0, 0},
		{0.7937, 0.1173, 0.0890, 0, 0, 0},
	}
	srv := []int{3, 4, 5}
	for e := range divs {
		switch e {
		case 0:
			s.weightsAll(srv, []uint16{h, 0, h}, []uint16{h, 0, h}, []uint16{h, 0, h})
		case 1:
			s.weightsAll(srv, []uint16{h, 0, h}, []uint16{0, h, h}, []uint16{h, 0, h})
		case 2:
			s.weightsAll(srv, []uint16{0, h, h}, []uint16{0, h, h}, []uint16{h, 0, h})
		case 3:
			s.weightsAll(srv, []uint16{0, h, h}, []uint16{0, h, h}, []uint16{0, h, h})
		}
		s.block++
		r := s.epoch(1e9)
		near(t, "D epoch "+string(rune('0'+e)), r.Dividends, divs[e], 1e-3)
	}
}
