package validator

import (
	"context"
	"encoding/json"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
)

// WeightSetter puts a weight vector on the chain and returns the block it
// was set at.
type WeightSetter interface {
	SetWeights(ctx context.Context, weights []scoring.Weight) (block int64, err error)
}

// ComputeWeights aggregates the scores of the spec's longest window before
// now and the latest finished tournament into weights, with the scoring
// spec (scoring.Spec.Vector); a burned share is under scoring.BurnKey.
func (v *Validator) ComputeWeights(ctx context.Context, now time.Time) ([]scoring.Weight, error) {
	longest := 0.0
	for _, p := range v.spec.Periods {
		longest = max(longest, p.Days)
	}
	scores, err := v.Store.FindScoresSince(ctx, now.Add(-time.Duration(longest*24*float64(time.Hour))))
	if err != nil {
		return nil, err
	}
	if scores, err = v.loggedOnly(ctx, scores); err != nil {
		return nil, err
	}
	last, err := v.LastTournament(ctx)
	if err != nil {
		return nil, err
	}
	return v.spec.Vector(scores, last, now)
}

// SetWeights computes the weights, sets them on the chain (when a setter is
// wired), and records them in the store and in the results log, so auditors
// can compare. It returns the weights; an empty vector (nobody has earned
// anything yet) is recorded but not set.
func (v *Validator) SetWeights(ctx context.Context) ([]scoring.Weight, error) {
	v.outcomeMu.Lock()
	defer v.outcomeMu.Unlock()
	now := v.Now().UTC().Truncate(time.Microsecond)
	w, err := v.ComputeWeights(ctx, now)
	if err != nil {
		return nil, err
	}
	var block int64
	if onChain := v.onChain(w); v.Weights != nil && len(onChain) > 0 {
		if block, err = v.Weights.SetWeights(ctx, onChain); err != nil {
			return w, err
		}
	}
	m := make(map[string]float64, len(w))
	for _, x := range w {
		m[x.Hotkey] = x.Weight
	}
	rec := &crucible.WeightsRecord{Weights: m, Block: block, Note: v.spec.Version}
	if err := v.Store.AddWeights(ctx, rec); err != nil {
		return w, err
	}
	if v.Signer != nil {
		p := resultlog.Weights{SpecVersion: v.spec.Version, Weights: m, Block: block, ComputedAt: now, BurnHotkey: v.cfg.BurnHotkey}
		if err := v.appendLog(ctx, resultlog.KindWeights, p, ""); err != nil {
			return w, err
		}
	}
	v.Log.Info("weights", "miners", len(w), "block", block)
	return w, nil
}

// onChain is the vector as set on chain: the burned share on the burn
// hotkey, or left off when there is none (the chain then shares the
// miners' weights out in proportion).
func (v *Validator) onChain(w []scoring.Weight) []scoring.Weight {
	out := make([]scoring.Weight, 0, len(w))
	for _, x := range w {
		if x.Hotkey == scoring.BurnKey {
			if v.cfg.BurnHotkey == "" {
				continue
			}
			x.Hotkey = v.cfg.BurnHotkey
		}
		out = append(out, x)
	}
	return out
}

// loggedOnly drops the scores of tasks that the results log does not hold
// yet. A validator stopped between storing a task's scores and logging its
// results logs them when the task's lifecycle resumes; weights set in
// between must not count what auditors cannot see in the log before them.
// Without a log (no Signer) every score counts.
func (v *Validator) loggedOnly(ctx context.Context, scores []*crucible.Score) ([]*crucible.Score, error) {
	if v.Signer == nil || len(scores) == 0 {
		return scores, nil
	}
	pending := map[string]bool{}
	for _, s := range scores {
		pending[s.TaskID] = true
	}
	logged := map[string]bool{}
	const page = 1000
	for after := int64(0); ; {
		entries, err := v.Store.FindResults(ctx, after, page)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			after = e.Seq
			if e.Kind != resultlog.KindTaskResult {
				continue
			}
			var r struct {
				TaskID string `json:"task_id"`
			}
			if json.Unmarshal(e.Payload, &r) == nil && pending[r.TaskID] {
				logged[r.TaskID] = true
			}
		}
		if len(entries) < page || len(logged) == len(pending) {
			break
		}
	}
	if len(logged) == len(pending) {
		return scores, nil
	}
	out := make([]*crucible.Score, 0, len(scores))
	for _, s := range scores {
		if logged[s.TaskID] {
			out = append(out, s)
		}
	}
	return out, nil
}
