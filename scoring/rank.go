package scoring

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Result is one miner's outcome on one task, as evaluation left it.
type Result struct {
	Hotkey string  `json:"hotkey"`
	Loss   float64 `json:"loss"` // test loss; NaN or ±Inf counts as the worst
	// Reward is a grpo task's score (mean weighted reward less the KL
	// guard). When set the result ranks by it, HIGHEST first (NaN or ±Inf
	// counts as the worst), and Loss is not used: the direction is the
	// metric's, never a negated loss.
	Reward      *float64  `json:"reward,omitempty"`
	Failure     string    `json:"failure"`          // non-empty when the submission failed (late, corrupt, not a fine-tune, ...)
	SHA256      string    `json:"sha256,omitempty"` // hash of the submitted artifact
	SubmittedAt time.Time `json:"submitted_at"`
}

// Ranked is a Result with its per-task score and the reason for it.
type Ranked struct {
	Result
	Rank   int     `json:"rank"` // 1 for the winner; 0 for failures
	Score  float64 `json:"score"`
	Reason string  `json:"reason"`
}

// RankSpec is the per-task scoring rule. The zero value is not useful; use
// Spec.Rank, whose defaults follow Gradients' on-demand rule.
type RankSpec struct {
	FirstPlace     float64 `json:"first_place"`     // score of the winner (3)
	Others         float64 `json:"others"`          // score of every other valid submission (0)
	Penalty        float64 `json:"penalty"`         // score of the bottom quarter and of failures (-1)
	PenaltyAbove   int     `json:"penalty_above"`   // the bottom quarter is penalised only when more than this many are valid (8)
	BottomFraction float64 `json:"bottom_fraction"` // the share of valid submissions penalised (0.25)
}

// RankTask turns one task's results into scores.
//
// Valid submissions are ordered by loss, lowest first, or for grpo by
// reward, highest first (NaN and infinities last, ties by earlier
// submission, then hotkey). A submission whose SHA256 equals an
// earlier one's is a duplicate and fails. The best valid submission gets
// FirstPlace, the others get Others, and when more than PenaltyAbove are
// valid the bottom max(1, ⌊BottomFraction·n⌋) get Penalty. Failures get
// Penalty when the task has at least one valid submission, else 0. The
// result is ordered by rank, failures last.
func (s RankSpec) RankTask(results []Result) []Ranked {
	all := make([]Ranked, len(results))
	for i, r := range results {
		all[i] = Ranked{Result: r}
	}
	// Duplicates: identical artifacts, the earliest keeps its place.
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ra, rb := all[order[a]], all[order[b]]
		if !ra.SubmittedAt.Equal(rb.SubmittedAt) {
			return ra.SubmittedAt.Before(rb.SubmittedAt)
		}
		return ra.Hotkey < rb.Hotkey
	})
	first := map[string]string{}
	for _, i := range order {
		r := &all[i]
		if r.Failure != "" || r.SHA256 == "" {
			continue
		}
		if owner, ok := first[r.SHA256]; ok {
			r.Failure = fmt.Sprintf("duplicate of %s's earlier submission", owner)
			continue
		}
		first[r.SHA256] = r.Hotkey
	}

	var valid, failed []*Ranked
	for i := range all {
		if all[i].Failure != "" {
			failed = append(failed, &all[i])
		} else {
			valid = append(valid, &all[i])
		}
	}
	sort.SliceStable(valid, func(a, b int) bool {
		if ka, kb := valid[a].order(), valid[b].order(); ka != kb {
			return ka < kb
		}
		if !valid[a].SubmittedAt.Equal(valid[b].SubmittedAt) {
			return valid[a].SubmittedAt.Before(valid[b].SubmittedAt)
		}
		return valid[a].Hotkey < valid[b].Hotkey
	})
	n := len(valid)
	bottom := 0
	if n > s.PenaltyAbove {
		bottom = max(1, int(s.BottomFraction*float64(n)))
	}
	for i, r := range valid {
		r.Rank = i + 1
		switch {
		case i == 0:
			r.Score, r.Reason = s.FirstPlace, "lowest test loss"
			if r.Reward != nil {
				r.Reason = "highest reward"
			}
		case i >= n-bottom:
			r.Score, r.Reason = s.Penalty, fmt.Sprintf("in the bottom %d of %d valid submissions", bottom, n)
		default:
			r.Score, r.Reason = s.Others, fmt.Sprintf("rank %d of %d", i+1, n)
		}
		if m := r.metric(); math.IsNaN(m) || math.IsInf(m, 0) {
			r.Reason += fmt.Sprintf(" (%s is not finite)", r.metricName())
		}
	}
	sort.SliceStable(failed, func(a, b int) bool { return failed[a].Hotkey < failed[b].Hotkey })
	for _, r := range failed {
		r.Rank = 0
		r.Reason = r.Failure
		if n > 0 {
			r.Score = s.Penalty
		}
	}
	out := make([]Ranked, 0, len(all))
	for _, r := range valid {
		out = append(out, *r)
	}
	for _, r := range failed {
		out = append(out, *r)
	}
	return out
}

// metric is the value the result ranks by: its reward (grpo) or loss.
func (r Result) metric() float64 {
	if r.Reward != nil {
		return *r.Reward
	}
	return r.Loss
}

func (r Result) metricName() string {
	if r.Reward != nil {
		return "reward"
	}
	return "loss"
}

// order is the result's place in the ranking, smaller first: the loss, or
// the reward negated (higher rewards rank first), non-finite values last.
func (r Result) order() float64 {
	if r.Reward != nil {
		v := *r.Reward
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.Inf(1)
		}
		return -v
	}
	return sortKey(r.Loss)
}

// sortKey orders losses with every non-finite value after every finite one.
func sortKey(l float64) float64 {
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return math.Inf(1)
	}
	return l
}
