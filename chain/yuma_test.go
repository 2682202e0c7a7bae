package chain

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
)

// sim replays Subtensor's epoch tests: it stores weights and bonds as the
// chain does (u16), calls Epoch directly (no coinbase), and, like those
// tests, leaves LastMechansimStepBlock at 0 so that the bond mask uses
// block − tempo.
type sim struct {
	t      *testing.T
	run    func(EpochInput, Hyperparams) (*EpochResult, error) // Epoch or EpochFixed
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
	s := &sim{t: t, run: Epoch, p: p, stake: stake, lu: make([]int64, n), reg: make([]int64, n), permit: make([]bool, n)}
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
	r, err := s.run(in, s.p)
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
func yuma3Setup(t *testing.T, stake []float64, liquid bool, run func(EpochInput, Hyperparams) (*EpochResult, error)) *sim {
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
	s.run = run
	s.block = 1
	s.epoch(1e9)
	return s
}

// yuma3Golden is testdata/yuma3_scenarios.json.
type yuma3Golden struct {
	Source    string `json:"source"`
	Scenarios []struct {
		Name        string       `json:"name"`
		Stakes      []float64    `json:"stakes"`
		LiquidAlpha bool         `json:"liquid_alpha"`
		Epochs      []yuma3Epoch `json:"epochs"`
	} `json:"scenarios"`
}

type yuma3Epoch struct {
	Weights   [][]uint16  `json:"weights"` // per validator, on the servers; absent: unchanged
	Dividends []float64   `json:"dividends"`
	Bonds     [][]float64 `json:"bonds"` // per validator, to the servers
}

// Subtensor's Yuma 3 scenarios (see the file's source note): validators
// move their weight between servers at different times, and dividends and
// bonds follow to within Subtensor's own tolerance of 1e-3.
func TestEpochGoldenYuma3(t *testing.T) {
	b, err := os.ReadFile("testdata/yuma3_scenarios.json")
	if err != nil {
		t.Fatal(err)
	}
	var g yuma3Golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Scenarios) < 6 {
		t.Fatalf("%d scenarios in the golden file", len(g.Scenarios))
	}
	modes := map[string]func(EpochInput, Hyperparams) (*EpochResult, error){"float": Epoch, "fixed": EpochFixed}
	for _, sc := range g.Scenarios {
		for mode, run := range modes {
			t.Run(sc.Name+"/"+mode, func(t *testing.T) {
				yuma3Scenario(t, sc.Stakes, sc.LiquidAlpha, run, sc.Epochs)
			})
		}
	}
}

// yuma3Scenario plays one golden scenario: validators 0–2, servers after
// them, weights set before each epoch.
func yuma3Scenario(t *testing.T, stakes []float64, liquid bool, run func(EpochInput, Hyperparams) (*EpochResult, error), epochs []yuma3Epoch) {
	s := yuma3Setup(t, stakes, liquid, run)
	var servers []int
	for j := 3; j < len(stakes); j++ {
		servers = append(servers, j)
	}
	for e, ep := range epochs {
		for v, row := range ep.Weights {
			s.setWeights(v, servers, row)
		}
		s.block++
		r := s.epoch(1e9)
		near(t, fmt.Sprintf("epoch %d dividends", e), r.Dividends, ep.Dividends, 1e-3)
		for v, want := range ep.Bonds {
			got := make([]float64, len(servers))
			for k, j := range servers {
				got[k] = float64(s.B[v][j]) / 65535
			}
			near(t, fmt.Sprintf("epoch %d bonds of validator %d", e, v), got, want, 1e-3)
		}
	}
}
