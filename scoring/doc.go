// Package scoring is crucible's versioned scoring spec: how one task's
// evaluated submissions become per-miner quality scores, and how a window of
// scored tasks becomes the weight vector a validator sets on chain.
//
// It is pure, deterministic logic on domain types, shared by the validator
// (which computes weights) and the auditor (which recomputes them from the
// published results log and compares). Both must get bit-identical results
// from the same inputs, so every sum runs in a fixed order.
package scoring
