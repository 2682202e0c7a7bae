package chain

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

// chainUnderTest is a Chain with a hand-moved clock.
type chainUnderTest interface {
	Chain
	Advancer
}

// implementations returns a constructor for each Chain implementation: the
// embedded Local (float64 and fixed-point epochs), and a Client talking to a
// Local behind NewHandler on an httptest server. All run the same suite.
func implementations() map[string]func(t *testing.T, p Hyperparams) chainUnderTest {
	return map[string]func(t *testing.T, p Hyperparams) chainUnderTest{
		"local": func(t *testing.T, p Hyperparams) chainUnderTest {
			l, err := OpenLocal(LocalOptions{Path: t.TempDir() + "/chain.json", Params: p})
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		"local fixed-point": func(t *testing.T, p Hyperparams) chainUnderTest {
			l, err := OpenLocal(LocalOptions{Params: p, FixedPoint: true})
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		"http": func(t *testing.T, p Hyperparams) chainUnderTest {
			l, err := OpenLocal(LocalOptions{Params: p})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(NewHandler(l, ServerOptions{Authenticate: testAuth, AllowAdvance: true}))
			t.Cleanup(srv.Close)
			return NewClient(srv.URL, testSign, srv.Client())
		},
	}
}

// testAuth trusts the X-Test-Signer header: the suite tests the chain, not
// signatures (the sign package has its own tests, and the crucible command
// wires the two).
func testAuth(r *http.Request, _ []byte) (string, error) {
	if s := r.Header.Get("X-Test-Signer"); s != "" {
		return s, nil
	}
	return "", crucible.Errorf(crucible.EUNAUTHORIZED, "request is not signed")
}

func testSign(r *http.Request, hotkey string) error {
	r.Header.Set("X-Test-Signer", hotkey)
	return nil
}

// devParams are small-network parameters for tests.
func devParams() Hyperparams {
	p := DefaultHyperparams()
	p.Tempo = 10
	p.WeightsRateLimit = 0
	p.MinAllowedWeights = 1
	p.ServingRateLimit = 0
	p.MaxAllowedValidators = 3
	p.ImmunityPeriod = 100
	return p
}

func TestChainSuite(t *testing.T) {
	for name, open := range implementations() {
		t.Run(name, func(t *testing.T) {
			t.Run("register", func(t *testing.T) { testRegister(t, open) })
			t.Run("serve_axon", func(t *testing.T) { testServeAxon(t, open) })
			t.Run("add_stake", func(t *testing.T) { testAddStake(t, open) })
			t.Run("set_weights refusals", func(t *testing.T) { testSetWeightsRefusals(t, open) })
			t.Run("epoch", func(t *testing.T) { testEpochRuns(t, open) })
			t.Run("dishonest validator", func(t *testing.T) { testDishonestValidator(t, open) })
			t.Run("full subnet", func(t *testing.T) { testFullSubnet(t, open) })
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
	var ce *Error
	if w, ok := want.(*Error); ok && (!errors.As(err, &ce) || crucible.ErrorCode(err) != w.Code) {
		t.Fatalf("%s: code %q, want %q", what, crucible.ErrorCode(err), w.Code)
	}
}

func testRegister(t *testing.T, open func(*testing.T, Hyperparams) chainUnderTest) {
	ctx := context.Background()
	c := open(t, devParams())
	for i, hk := range []string{"alice", "bob", "carol"} {
		uid, err := c.Register(ctx, hk, "cold-"+hk)
		must(t, err)
		if uid != i {
			t.Fatalf("%s got uid %d, want %d", hk, uid, i)
		}
	}
	_, err := c.Register(ctx, "bob", "cold-bob")
	wantErr(t, "second registration", err, ErrHotKeyAlreadyRegistered)
	_, err = c.Register(ctx, "has space", "x")
	wantErr(t, "bad hotkey", err, ErrInvalidAddress)
	m, err := c.Metagraph(ctx)
	must(t, err)
	if len(m.Neurons) != 3 || m.Neurons[1].Hotkey != "bob" || m.Neurons[1].Coldkey != "cold-bob" || m.Neurons[1].UID != 1 {
		t.Fatalf("metagraph %+v", m.Neurons)
	}
	n, err := m.Node("carol")
	must(t, err)
	if n.UID != 2 {
		t.Fatalf("carol is uid %d", n.UID)
	}
	if _, err := m.Node("dave"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Fatalf("unknown hotkey: %v", err)
	}
}

func testServeAxon(t *testing.T, open func(*testing.T, Hyperparams) chainUnderTest) {
	ctx := context.Background()
	p := devParams()
	p.ServingRateLimit = 5
	c := open(t, p)
	_, err := c.Register(ctx, "miner", "cold")
	must(t, err)
	must(t, c.Advance(ctx, 1)) // as on Subtensor, a serve at block 0 counts as never served
	must(t, c.ServeAxon(ctx, "miner", "127.0.0.1", 8091))
	m, err := c.Metagraph(ctx)
	must(t, err)
	if got := m.Neurons[0].Addr(); got != "127.0.0.1:8091" {
		t.Fatalf("axon %s", got)
	}
	wantErr(t, "too soon", c.ServeAxon(ctx, "miner", "10.0.0.2", 8091), ErrServingRateLimitExceeded)
	must(t, c.Advance(ctx, 5))
	must(t, c.ServeAxon(ctx, "miner", "10.0.0.2", 9000))
	wantErr(t, "unregistered", c.ServeAxon(ctx, "nobody", "10.0.0.2", 1), ErrHotKeyNotRegistered)
	wantErr(t, "bad ip", c.ServeAxon(ctx, "miner", "not-an-ip", 1), ErrInvalidIPAddress)
	wantErr(t, "unspecified ip", c.ServeAxon(ctx, "miner", "0.0.0.0", 1), ErrInvalidIPAddress)
	wantErr(t, "port 0", c.ServeAxon(ctx, "miner", "10.0.0.2", 0), ErrInvalidPort)
}

func testAddStake(t *testing.T, open func(*testing.T, Hyperparams) chainUnderTest) {
	ctx := context.Background()
	c := open(t, devParams())
	_, err := c.Register(ctx, "v", "cold")
	must(t, err)
	must(t, c.AddStake(ctx, "v", 1000))
	must(t, c.AddStake(ctx, "v", 0.5))
	m, err := c.Metagraph(ctx)
	must(t, err)
	if m.Neurons[0].Stake != 1000.5 {
		t.Fatalf("stake %v", m.Neurons[0].Stake)
	}
	wantErr(t, "unregistered", c.AddStake(ctx, "nobody", 1), ErrHotKeyNotRegistered)
	wantErr(t, "zero", c.AddStake(ctx, "v", 0), ErrAmountTooLow)
	wantErr(t, "negative", c.AddStake(ctx, "v", -3), ErrAmountTooLow)
}

// setupNet registers validators v0..v(nv-1) with the given stakes and miners
// m0..m(nm-1), then runs one epoch so the validators get their permits.
func setupNet(t *testing.T, c chainUnderTest, stakes []float64, nm int) {
	t.Helper()
	ctx := context.Background()
	for i, s := range stakes {
		hk := "v" + string(rune('0'+i))
		_, err := c.Register(ctx, hk, "cold-"+hk)
		must(t, err)
		must(t, c.AddStake(ctx, hk, s))
	}
	for i := range nm {
		hk := "m" + string(rune('0'+i))
		_, err := c.Register(ctx, hk, "cold-"+hk)
		must(t, err)
	}
	p, err := c.Hyperparams(ctx)
	must(t, err)
	must(t, c.Advance(ctx, p.Tempo))
}

func testSetWeightsRefusals(t *testing.T, open func(*testing.T, Hyperparams) chainUnderTest) {
	ctx := context.Background()
	p := devParams()
	p.WeightsRateLimit = 3
	p.MinAllowedWeights = 2
	p.MaxWeightsLimit = 65535 / 2 // no weight above half
	p.WeightsVersionKey = 61_000
	p.StakeThreshold = 10
	c := open(t, p)
	setupNet(t, c, []float64{100, 50}, 3) // v0 v1 m0 m1 m2 (uids 2, 3, 4)
	_, err := c.Register(ctx, "poor", "cold")
	must(t, err)
	must(t, c.AddStake(ctx, "poor", 1))
	must(t, c.AddStake(ctx, "m0", 20)) // enough stake, but no permit before the next epoch
	m, err := c.Metagraph(ctx)
	must(t, err)
	if !m.Neurons[0].Validator || !m.Neurons[1].Validator || m.Neurons[2].Validator {
		t.Fatalf("permits after the first epoch: %v %v %v", m.Neurons[0].Validator, m.Neurons[1].Validator, m.Neurons[2].Validator)
	}
	tests := []struct {
		name    string
		hotkey  string
		uids    []uint16
		weights []uint16
		version uint64
		want    error
	}{
		{"length mismatch", "v0", []uint16{2, 3}, []uint16{1}, 61_000, ErrWeightVecNotEqualSize},
		{"more uids than the subnet", "v0", []uint16{0, 1, 2, 3, 4, 5, 6}, []uint16{1, 1, 1, 1, 1, 1, 1}, 61_000, ErrUidsLengthExceedUids},
		{"unregistered", "nobody", []uint16{2, 3}, []uint16{1, 1}, 61_000, ErrHotKeyNotRegistered},
		{"low stake", "poor", []uint16{2, 3}, []uint16{1, 1}, 61_000, ErrNotEnoughStakeToSetWeights},
		{"old version key", "v0", []uint16{2, 3}, []uint16{1, 1}, 60_999, ErrIncorrectWeightVersionKey},
		{"no permit", "m0", []uint16{3, 4}, []uint16{1, 1}, 61_000, ErrNeuronNoValidatorPermit},
		{"duplicate uids", "v0", []uint16{2, 2}, []uint16{1, 1}, 61_000, ErrDuplicateUids},
		{"uid out of range", "v0", []uint16{2, 9}, []uint16{1, 1}, 61_000, ErrUidVecContainInvalidOne},
		{"too few weights", "v0", []uint16{2}, []uint16{1}, 61_000, ErrWeightVecLengthIsLow},
		{"weight above the limit", "v0", []uint16{2, 3, 4}, []uint16{100, 10, 10}, 61_000, ErrMaxWeightExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.name, c.SetWeights(ctx, tt.hotkey, tt.uids, tt.weights, tt.version), tt.want)
		})
	}
	// The same call succeeds when it follows the rules, and then hits
	// the rate limit until 3 blocks have passed.
	must(t, c.SetWeights(ctx, "v0", []uint16{2, 3, 4}, []uint16{1, 1, 1}, 61_000))
	m, err = c.Metagraph(ctx)
	must(t, err)
	if at, err := m.WeightsAllowedAt("v0"); err != nil || at != m.Block+3 {
		t.Fatalf("WeightsAllowedAt = %d, %v; want %d", at, err, m.Block+3)
	}
	wantErr(t, "rate limit", c.SetWeights(ctx, "v0", []uint16{2, 3, 4}, []uint16{1, 1, 1}, 61_000), ErrSettingWeightsTooFast)
	must(t, c.Advance(ctx, 3))
	must(t, c.SetWeights(ctx, "v0", []uint16{2, 3, 4}, []uint16{1, 2, 2}, 61_001))
	// A miner may always set a single self-weight (after the rate limit).
	must(t, c.Advance(ctx, 3))
	must(t, c.SetWeights(ctx, "m0", []uint16{2}, []uint16{7}, 61_000))
	m, err = c.Metagraph(ctx)
	must(t, err)
	want := []UIDWeight{{2, 32768}, {3, 65535}, {4, 65535}}
	if got := m.Neurons[0].Weights; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("stored weights %v, want %v (max-upscaled)", got, want)
	}
}

func testEpochRuns(t *testing.T, open func(*testing.T, Hyperparams) chainUnderTest) {
	ctx := context.Background()
	c := open(t, devParams())
	setupNet(t, c, []float64{100, 100}, 2) // v0 v1 m0 m1
	for _, v := range []string{"v0", "v1"} {
		must(t, c.SetWeights(ctx, v, []uint16{2, 3}, []uint16{3, 1}, 0))
	}
	before, err := c.Metagraph(ctx)
	must(t, err)
	must(t, c.Advance(ctx, 9))
	if m, _ := c.Metagraph(ctx); m.Neurons[2].Incentive != 0 {
		t.Fatal("an epoch ran before tempo blocks passed")
	}
	must(t, c.Advance(ctx, 1))
	m, err := c.Metagraph(ctx)
	must(t, err)
	if m.Block != 20 || m.LastEpochBlock != 20 {
		t.Fatalf("block %d, last epoch %d", m.Block, m.LastEpochBlock)
	}
	n := m.Neurons
	if d := n[2].Incentive - 0.75; d > 1e-4 || d < -1e-4 {
		t.Errorf("incentive of m0 = %v, want 0.75", n[2].Incentive)
	}
	if d := n[0].Dividends - 0.5; d > 1e-4 || d < -1e-4 {
		t.Errorf("dividends of v0 = %v, want 0.5", n[0].Dividends)
	}
	if n[0].VTrust < 0.999 || n[2].Consensus < 0.74 || !n[0].Active {
		t.Errorf("vtrust %v consensus %v active %v", n[0].VTrust, n[2].Consensus, n[0].Active)
	}
	// 10 blocks of 1 TAO less the owner's 18%: 8.2 TAO, half to miners.
	var total float64
	for _, x := range n {
		total += x.Emission
	}
	if total < 8.19 || total > 8.21 {
		t.Errorf("epoch emission %v TAO, want 8.2", total)
	}
	if got := n[2].Stake - before.Neurons[2].Stake; got < 3.07 || got > 3.08 {
		t.Errorf("m0's stake grew by %v, want 0.75 × 4.1", got)
	}
	if len(n[0].Bonds) == 0 {
		t.Error("validator has no bonds after an epoch with weights")
	}
}

// Three validators with equal stake; two agree on the miners' quality, the
// third (colluding with m2) puts everything on m2. Yuma clips its weight on
// m2 to the consensus 0.1, so it earns less validator trust and fewer
// dividends, and m2's rank is what the honest majority gave it: incentive
// 0.1/0.7 instead of the 0.4 an unclipped average would give.
func testDishonestValidator(t *testing.T, open func(*testing.T, Hyperparams) chainUnderTest) {
	ctx := context.Background()
	c := open(t, devParams())
	setupNet(t, c, []float64{100, 100, 100}, 3) // v0 v1 v2, m0 m1 m2 = uids 3 4 5
	miners := []uint16{3, 4, 5}
	for range 5 {
		must(t, c.SetWeights(ctx, "v0", miners, []uint16{60, 30, 10}, 0))
		must(t, c.SetWeights(ctx, "v1", miners, []uint16{60, 30, 10}, 0))
		must(t, c.SetWeights(ctx, "v2", miners, []uint16{0, 0, 100}, 0))
		must(t, c.Advance(ctx, 10))
	}
	m, err := c.Metagraph(ctx)
	must(t, err)
	n := m.Neurons
	if !(n[2].VTrust < n[0].VTrust-0.5 && n[2].VTrust < n[1].VTrust-0.5) {
		t.Errorf("validator trust honest %.4f %.4f, dishonest %.4f", n[0].VTrust, n[1].VTrust, n[2].VTrust)
	}
	if !(n[2].Dividends < n[0].Dividends && n[2].Dividends < n[1].Dividends) {
		t.Errorf("dividends honest %.4f %.4f, dishonest %.4f", n[0].Dividends, n[1].Dividends, n[2].Dividends)
	}
	// Emission is paid into stake, so by now the honest validators hold a
	// little more than a third each, which moves incentives by ~0.003.
	for uid, want := range map[int]float64{3: 4.0 / 7, 4: 2.0 / 7, 5: 1.0 / 7} {
		if d := n[uid].Incentive - want; d > 0.005 || d < -0.005 {
			t.Errorf("incentive of uid %d = %.4f, want %.4f", uid, n[uid].Incentive, want)
		}
	}
	if d := n[2].VTrust - 0.1; d > 1e-4 || d < -1e-4 {
		t.Errorf("validator trust of the dishonest validator %.4f, want 0.1 (its clipped weight)", n[2].VTrust)
	}
}

func testFullSubnet(t *testing.T, open func(*testing.T, Hyperparams) chainUnderTest) {
	ctx := context.Background()
	p := devParams()
	p.MaxAllowedUIDs = 3
	p.ImmunityPeriod = 20
	c := open(t, p)
	setupNet(t, c, []float64{100}, 2) // v0 m0 m1, block 10
	must(t, c.SetWeights(ctx, "v0", []uint16{1, 2}, []uint16{1, 0}, 0))
	_, err := c.Register(ctx, "late", "cold")
	wantErr(t, "all immune", err, ErrNoNeuronIDAvailable)
	must(t, c.Advance(ctx, 10)) // block 20: epoch; m1 earned nothing
	uid, err := c.Register(ctx, "late", "cold")
	must(t, err)
	if uid != 2 {
		t.Fatalf("replaced uid %d, want m1's uid 2", uid)
	}
	m, err := c.Metagraph(ctx)
	must(t, err)
	if m.Neurons[2].Hotkey != "late" || m.Neurons[2].RegisteredAt != 20 || len(m.Neurons) != 3 {
		t.Fatalf("after replacement: %+v", m.Neurons[2])
	}
	if _, err := m.Node("m1"); err == nil {
		t.Fatal("m1 is still registered")
	}
}
