package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/model"
)

// DefaultBeta is the DPO temperature TRL and Gradients use.
const DefaultBeta = 0.1

// LogProbs holds a model's summed log-probabilities of each pair's chosen
// and rejected answer tokens.
type LogProbs struct {
	Chosen, Rejected []float64
}

// PairLogProbs evaluates m on both sides of every pair.
func PairLogProbs(ctx context.Context, m *model.Model, pairs []Pair, opt Options) (LogProbs, error) {
	for i, p := range pairs {
		if err := check([]Sequence{p.Chosen, p.Rejected}); err != nil {
			return LogProbs{}, fmt.Errorf("pair %d: %w", i, err)
		}
	}
	return PairLogProbsOf(ctx, m, PairsOf(pairs), opt)
}

// PairLogProbsOf is PairLogProbs over a pair Source (see PairsOf).
func PairLogProbsOf(ctx context.Context, m *model.Model, src Source, opt Options) (LogProbs, error) {
	sums, _, err := SourceLosses(ctx, m, src, opt)
	if err != nil {
		return LogProbs{}, err
	}
	n := Pairs(src)
	lp := LogProbs{Chosen: make([]float64, n), Rejected: make([]float64, n)}
	for i := range n {
		lp.Chosen[i], lp.Rejected[i] = -sums[2*i], -sums[2*i+1]
	}
	return lp, nil
}

// DPOResult is the DPO objective of a policy against a reference.
type DPOResult struct {
	// Loss is the mean over pairs of −log σ(margin); ln 2 ≈ 0.6931 means
	// no preference learned.
	Loss float64 `json:"loss"`
	// Accuracy is the share of pairs whose margin is positive (the chosen
	// answer's implicit reward exceeds the rejected one's).
	Accuracy float64 `json:"reward_accuracy"`
	// Margin is the mean margin β·((log πc − log rc) − (log πr − log rr)).
	Margin float64 `json:"reward_margin"`
	// ChosenReward and RejectedReward are the mean implicit rewards
	// β·(log π − log r) of each side.
	ChosenReward   float64 `json:"chosen_reward"`
	RejectedReward float64 `json:"rejected_reward"`
	Pairs          int     `json:"pairs"`
	// Margins holds each pair's margin, in input order.
	Margins []float64 `json:"-"`
}

// Margins returns each pair's DPO margin β·((πc − rc) − (πr − rr)) in
// log-probabilities.
func Margins(policy, ref LogProbs, beta float64) []float64 {
	out := make([]float64, len(policy.Chosen))
	for i := range out {
		out[i] = beta * ((policy.Chosen[i] - ref.Chosen[i]) - (policy.Rejected[i] - ref.Rejected[i]))
	}
	return out
}

// Softplus is log(1 + eˣ), computed without overflow; the DPO loss of a
// margin m is Softplus(−m).
func Softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// DPO computes the DPO loss, reward accuracy and margins of policy
// log-probabilities against reference ones.
func DPO(policy, ref LogProbs, beta float64) (*DPOResult, error) {
	n := len(policy.Chosen)
	if n == 0 {
		return nil, fmt.Errorf("dpo: no pairs")
	}
	if len(policy.Rejected) != n || len(ref.Chosen) != n || len(ref.Rejected) != n {
		return nil, fmt.Errorf("dpo: policy has %d/%d and reference %d/%d log-probabilities", n, len(policy.Rejected), len(ref.Chosen), len(ref.Rejected))
	}
	r := &DPOResult{Pairs: n, Margins: Margins(policy, ref, beta)}
	correct := 0
	for i, m := range r.Margins {
		r.Loss += Softplus(-m)
		r.Margin += m
		r.ChosenReward += beta * (policy.Chosen[i] - ref.Chosen[i])
		r.RejectedReward += beta * (policy.Rejected[i] - ref.Rejected[i])
		if m > 0 {
			correct++
		}
	}
	f := float64(n)
	r.Loss /= f
	r.Margin /= f
	r.ChosenReward /= f
	r.RejectedReward /= f
	r.Accuracy = float64(correct) / f
	return r, nil
}
