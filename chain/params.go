package chain

import (
	"fmt"
	"math"
)

// Hyperparams are a subnet's parameters. Fractions that Subtensor stores as
// u16 (kappa, bonds penalty, alpha low/high) are given here as float64 in
// [0, 1]. DefaultHyperparams returns Subtensor's defaults.
type Hyperparams struct {
	// Tempo is the number of blocks between epochs.
	Tempo int64 `json:"tempo"`
	// Kappa is the stake fraction that must back a weight for it to count
	// (consensus quantile). Subtensor: 32767/65535.
	Kappa float64 `json:"kappa"`
	// BondsMovingAverage sets the bond EMA: alpha = 1 - value/1e6.
	BondsMovingAverage uint64 `json:"bonds_moving_average"`
	// BondsPenalty β in [0, 1]: bonds follow W + β(W̄ − W).
	BondsPenalty float64 `json:"bonds_penalty"`
	// Yuma3 selects Yuma 3 bonds (proportional, weight-driven EMA).
	Yuma3 bool `json:"yuma3"`
	// LiquidAlpha makes the Yuma 3 bond EMA rate per (validator, miner).
	LiquidAlpha           bool    `json:"liquid_alpha"`
	AlphaLow              float64 `json:"alpha_low"`
	AlphaHigh             float64 `json:"alpha_high"`
	AlphaSigmoidSteepness float64 `json:"alpha_sigmoid_steepness"`
	// ActivityCutoff: a neuron that has not set weights for this many
	// blocks is inactive and its stake does not count.
	ActivityCutoff int64 `json:"activity_cutoff"`
	// MaxAllowedUIDs is the subnet size; registering into a full subnet
	// replaces the lowest-emission neuron past its immunity period.
	MaxAllowedUIDs int `json:"max_allowed_uids"`
	// MaxAllowedValidators is how many top-stake neurons get a permit.
	MaxAllowedValidators int `json:"max_allowed_validators"`
	// MinAllowedWeights is the minimum number of weights (capped at the
	// subnet size).
	MinAllowedWeights int `json:"min_allowed_weights"`
	// MaxWeightsLimit caps max(w)/Σw at value/65535; 65535 means no cap.
	MaxWeightsLimit uint16 `json:"max_weights_limit"`
	// WeightsVersionKey: set_weights must carry a version key at least
	// this; 0 disables the check.
	WeightsVersionKey uint64 `json:"weights_version_key"`
	// WeightsRateLimit is the minimum number of blocks between two
	// set_weights of one neuron.
	WeightsRateLimit int64 `json:"weights_rate_limit"`
	// ImmunityPeriod protects a new registration from being replaced.
	ImmunityPeriod int64 `json:"immunity_period"`
	// StakeThreshold (TAO) is the stake needed to set weights and to count
	// as a validator.
	StakeThreshold float64 `json:"stake_threshold"`
	// ServingRateLimit is the minimum number of blocks between two
	// serve_axon calls of one neuron.
	ServingRateLimit int64 `json:"serving_rate_limit"`
	// EmissionPerBlock (TAO) accrues every block and is paid out at the
	// epoch, after the owner's cut.
	EmissionPerBlock float64 `json:"emission_per_block"`
	// OwnerCut is the fraction of emission that goes to the subnet owner
	// (burned on a local chain, which has no owner).
	OwnerCut float64 `json:"owner_cut"`
}

// DefaultHyperparams returns Subtensor's defaults (pallet Default*/runtime
// Initial* values), with 1 TAO of emission per block.
func DefaultHyperparams() Hyperparams {
	return Hyperparams{
		Tempo:                 360,
		Kappa:                 32767.0 / 65535,
		BondsMovingAverage:    900_000,
		BondsPenalty:          1,
		AlphaLow:              45875.0 / 65535,
		AlphaHigh:             58982.0 / 65535,
		AlphaSigmoidSteepness: 1000,
		ActivityCutoff:        5000,
		MaxAllowedUIDs:        256,
		MaxAllowedValidators:  128,
		MinAllowedWeights:     1024,
		MaxWeightsLimit:       65535,
		WeightsRateLimit:      100,
		ImmunityPeriod:        4096,
		ServingRateLimit:      50,
		EmissionPerBlock:      1,
		OwnerCut:              11796.0 / 65535,
	}
}

// Validate reports the first parameter out of range.
func (p Hyperparams) Validate() error {
	frac := func(name string, v float64) error {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return fmt.Errorf("hyperparameter %s = %v: must be in [0, 1]", name, v)
		}
		return nil
	}
	switch {
	case p.Tempo < 1:
		return fmt.Errorf("hyperparameter tempo = %d: must be at least 1", p.Tempo)
	case p.BondsMovingAverage > 1_000_000:
		return fmt.Errorf("hyperparameter bonds_moving_average = %d: must be at most 1000000", p.BondsMovingAverage)
	case p.ActivityCutoff < 0, p.WeightsRateLimit < 0, p.ImmunityPeriod < 0, p.ServingRateLimit < 0:
		return fmt.Errorf("hyperparameters activity_cutoff, weights_rate_limit, immunity_period and serving_rate_limit must not be negative")
	case p.MaxAllowedUIDs < 1 || p.MaxAllowedUIDs > 65535:
		return fmt.Errorf("hyperparameter max_allowed_uids = %d: must be in [1, 65535]", p.MaxAllowedUIDs)
	case p.MaxAllowedValidators < 0:
		return fmt.Errorf("hyperparameter max_allowed_validators = %d: must not be negative", p.MaxAllowedValidators)
	case p.MinAllowedWeights < 0:
		return fmt.Errorf("hyperparameter min_allowed_weights = %d: must not be negative", p.MinAllowedWeights)
	case p.StakeThreshold < 0 || math.IsNaN(p.StakeThreshold):
		return fmt.Errorf("hyperparameter stake_threshold = %v: must not be negative", p.StakeThreshold)
	case p.EmissionPerBlock < 0 || math.IsNaN(p.EmissionPerBlock) || math.IsInf(p.EmissionPerBlock, 0):
		return fmt.Errorf("hyperparameter emission_per_block = %v: must be a non-negative number", p.EmissionPerBlock)
	}
	for name, v := range map[string]float64{"kappa": p.Kappa, "bonds_penalty": p.BondsPenalty, "alpha_low": p.AlphaLow, "alpha_high": p.AlphaHigh, "owner_cut": p.OwnerCut} {
		if err := frac(name, v); err != nil {
			return err
		}
	}
	if p.AlphaLow > p.AlphaHigh {
		return fmt.Errorf("hyperparameters alpha_low = %v > alpha_high = %v", p.AlphaLow, p.AlphaHigh)
	}
	return nil
}

// bondsAlpha is the constant bond EMA rate.
func (p Hyperparams) bondsAlpha() float64 {
	return 1 - float64(p.BondsMovingAverage)/1e6
}
