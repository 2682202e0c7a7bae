package chain_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
)

// A fee burns stake once per memo, is refused when the stake does not
// cover it (nothing taken), can be refunded, and survives a restart.
func TestLocalFees(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chain.json")
	opts := chain.LocalOptions{Path: path, Params: chain.DefaultHyperparams()}
	l, err := chain.OpenLocal(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Register(ctx, "miner", "cold"); err != nil {
		t.Fatal(err)
	}
	if err := l.AddStake(ctx, "miner", 1); err != nil {
		t.Fatal(err)
	}
	stake := func(l *chain.Local) float64 {
		mg, _ := l.Metagraph(ctx)
		return mg.Neurons[0].Stake
	}
	b1, err := l.ChargeFee(ctx, "miner", 0.2, "tournament A")
	if err != nil || math.Abs(stake(l)-0.8) > 1e-9 {
		t.Fatalf("charge: %v, stake %g", err, stake(l))
	}
	if b2, err := l.ChargeFee(ctx, "miner", 0.2, "tournament A"); err != nil || b2 != b1 || math.Abs(stake(l)-0.8) > 1e-9 {
		t.Fatalf("charged twice for one memo: %v, stake %g", err, stake(l))
	}
	if _, err := l.ChargeFee(ctx, "miner", 5, "tournament B"); crucible.ErrorCode(err) != crucible.EINVALID || math.Abs(stake(l)-0.8) > 1e-9 {
		t.Fatalf("fee above the stake: %v, stake %g", err, stake(l))
	}
	if _, err := l.ChargeFee(ctx, "nobody", 0.1, "tournament B"); err == nil {
		t.Fatal("fee of an unregistered hotkey charged")
	}
	again, err := chain.OpenLocal(opts)
	if err != nil || len(again.Fees()) != 1 || math.Abs(stake(again)-0.8) > 1e-9 {
		t.Fatalf("after a restart: %v %+v", err, again.Fees())
	}
	if err := again.RefundFee(ctx, "miner", "tournament A"); err != nil || math.Abs(stake(again)-1) > 1e-9 || !again.Fees()[0].Refunded {
		t.Fatalf("refund: %v, stake %g", err, stake(again))
	}
}
