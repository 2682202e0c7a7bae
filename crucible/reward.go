package crucible

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"regexp"
)

// Reward is one reward function of a grpo task with its weight: a
// built-in, named by Name and set up by Args, or a customer's function in
// Starlark (Code), which must define reward(prompt, completion, extra)
// returning a number. A task's reward is the weighted sum of its rewards;
// higher is better.
type Reward struct {
	Name   string         `json:"name"`
	Weight float64        `json:"weight"`
	Args   map[string]any `json:"args,omitempty"` // a built-in's settings
	Code   string         `json:"code,omitempty"` // Starlark source; empty for a built-in
}

// Limits on a task's rewards.
const (
	MaxRewards        = 16
	MaxRewardCodeSize = 64 << 10
)

var rewardName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

// Validate checks the form of one reward (whether a built-in exists and
// whether code compiles and runs is the reward package's business).
func (r *Reward) Validate() error {
	switch {
	case !rewardName.MatchString(r.Name):
		return Errorf(EINVALID, "reward name %q: want 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or '_'", r.Name)
	case math.IsNaN(r.Weight) || math.IsInf(r.Weight, 0) || r.Weight < 0:
		return Errorf(EINVALID, "reward %s: weight %v must be a finite number ≥ 0", r.Name, r.Weight)
	case len(r.Code) > MaxRewardCodeSize:
		return Errorf(EINVALID, "reward %s: code of %d bytes is over the %d-byte limit", r.Name, len(r.Code), MaxRewardCodeSize)
	case r.Code != "" && len(r.Args) > 0:
		return Errorf(EINVALID, "reward %s: args are for built-in rewards; a Starlark reward reads its settings from its own code", r.Name)
	}
	return nil
}

// ValidateRewards checks a task's rewards: one to MaxRewards, each valid,
// names unique, weights summing to more than zero.
func ValidateRewards(rs []Reward) error {
	if len(rs) == 0 {
		return Errorf(EINVALID, "a grpo task needs at least one reward function").
			WithHint("name a built-in reward or give a Starlark one, e.g. --reward numeric_answer")
	}
	if len(rs) > MaxRewards {
		return Errorf(EINVALID, "%d reward functions: at most %d", len(rs), MaxRewards)
	}
	seen := map[string]bool{}
	var sum float64
	for i := range rs {
		if err := rs[i].Validate(); err != nil {
			return err
		}
		if seen[rs[i].Name] {
			return Errorf(EINVALID, "reward %s is named twice; give each reward its own name", rs[i].Name)
		}
		seen[rs[i].Name] = true
		sum += rs[i].Weight
	}
	if sum <= 0 {
		return Errorf(EINVALID, "the reward weights sum to 0: at least one reward must count")
	}
	return nil
}

// RewardResult is a grpo evaluation of one model on a task's hidden
// prompts: Score ranks submissions, higher is better (a grpo task is never
// ranked by a loss).
type RewardResult struct {
	// Score is Reward less the KL guard (0.5 × KL) for a fine-tune; the
	// base's Score is its Reward.
	Score float64 `json:"score"`
	// Reward is the mean weighted reward over every sampled completion.
	Reward float64 `json:"reward"`
	// KL is the mean per-position KL(base‖model) over the prompts; nil
	// for the base itself.
	KL *float64 `json:"kl,omitempty"`
	// Parts is each reward function's mean raw value, in the task's
	// Rewards order.
	Parts       []float64 `json:"parts"`
	Completions int       `json:"completions"`
}

// EvalSeed is the seed a grpo task's evaluation samples completions
// with: derived from the task ID alone, so that every submission answers
// the same draws and an auditor re-runs them exactly.
func EvalSeed(taskID string) uint64 {
	h := sha256.Sum256([]byte("crucible grpo evaluation\x00" + taskID))
	return binary.LittleEndian.Uint64(h[:8])
}
