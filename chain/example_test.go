package chain_test

import (
	"context"
	"fmt"

	"github.com/crucible-net/crucible/chain"
)

// A subnet on an embedded local chain: a validator scores two miners and
// the epoch turns its weights into incentive.
func Example() {
	ctx := context.Background()
	p := chain.DefaultHyperparams()
	p.Tempo, p.WeightsRateLimit, p.MinAllowedWeights = 10, 0, 1
	c, err := chain.OpenLocal(chain.LocalOptions{Params: p}) // Path: keep state in a file
	if err != nil {
		panic(err)
	}
	for _, hk := range []string{"validator", "miner-a", "miner-b"} {
		if _, err := c.Register(ctx, hk, "owner"); err != nil {
			panic(err)
		}
	}
	c.AddStake(ctx, "validator", 1000)
	c.Advance(ctx, p.Tempo) // an epoch hands out validator permits by stake

	// Scores become u16 weights as Bittensor's SDK makes them.
	uids, weights, _ := chain.ConvertWeights([]uint16{1, 2}, []float64{0.9, 0.3})
	if err := c.SetWeights(ctx, "validator", uids, weights, 0); err != nil {
		panic(err)
	}
	c.Advance(ctx, p.Tempo)

	m, _ := c.Metagraph(ctx)
	for _, n := range m.Neurons {
		fmt.Printf("%-9s permit=%-5v incentive=%.2f dividends=%.2f\n", n.Hotkey, n.Validator, n.Incentive, n.Dividends)
	}
	// Output:
	// validator permit=true  incentive=0.00 dividends=1.00
	// miner-a   permit=false incentive=0.75 dividends=0.00
	// miner-b   permit=false incentive=0.25 dividends=0.00
}
