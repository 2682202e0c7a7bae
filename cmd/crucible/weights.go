package main

import (
	"context"
	"fmt"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
)

// chainWeights sets a node's weights on a chain: hotkeys become uids through
// the metagraph, the vector is capped by the subnet's max weight limit and
// quantized to u16 the way Bittensor's SDK does.
type chainWeights struct {
	chain  chain.Chain
	hotkey string
}

func (c chainWeights) SetWeights(ctx context.Context, weights []scoring.Weight) (int64, error) {
	mg, err := c.chain.Metagraph(ctx)
	if err != nil {
		return 0, err
	}
	uidOf := map[string]uint16{}
	for _, n := range mg.Neurons {
		uidOf[n.Hotkey] = uint16(n.UID)
	}
	var uids []uint16
	var vals []float64
	for _, w := range weights {
		if uid, ok := uidOf[w.Hotkey]; ok {
			uids = append(uids, uid)
			vals = append(vals, w.Weight)
		}
	}
	if len(uids) == 0 {
		return 0, crucible.Errorf(crucible.EINVALID, "none of the %d weighted miners is registered on the chain", len(weights))
	}
	limit := float64(mg.Hyperparams.MaxWeightsLimit) / 65535
	if limit > 0 && limit < 1 {
		vals = chain.NormalizeMaxWeight(vals, limit)
	}
	u, w, err := chain.ConvertWeights(uids, vals)
	if err != nil {
		return 0, err
	}
	if err := c.chain.SetWeights(ctx, c.hotkey, u, w, mg.Hyperparams.WeightsVersionKey); err != nil {
		return 0, fmt.Errorf("set weights: %w", err)
	}
	return c.chain.CurrentBlock(ctx)
}

// weightsOnChain returns the weights hotkey has set on the chain, by miner
// hotkey, normalized to sum 1.
func weightsOnChain(ctx context.Context, c chain.Chain, hotkey string) (map[string]float64, error) {
	mg, err := c.Metagraph(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, n := range mg.Neurons {
		if n.Hotkey != hotkey {
			continue
		}
		total := 0.0
		for _, w := range n.Weights {
			total += float64(w.Value)
		}
		for _, w := range n.Weights {
			if int(w.UID) < len(mg.Neurons) && total > 0 {
				out[mg.Neurons[w.UID].Hotkey] = float64(w.Value) / total
			}
		}
		return out, nil
	}
	return nil, crucible.Errorf(crucible.ENOTFOUND, "%s is not registered on the chain", hotkey)
}
