package scoring

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Spec is a versioned scoring spec. Results and weights always name the
// version that produced them, so an auditor applies the same rules.
type Spec struct {
	Version string   `json:"version"`
	Rank    RankSpec `json:"rank"`
	// Periods are the look-back windows and their weights (1, 3 and 7 days
	// weighted 0.3, 0.3 and 0.4 by default).
	Periods []Period `json:"periods"`
	// TypeWeights is the share of weight each task type's results carry.
	TypeWeights map[crucible.TaskType]float64 `json:"type_weights"`
	// Sigmoid shaping of normalised scores: s = (1/(1+e^(-Steepness(x-Midpoint))))^Power,
	// weight = SigmoidShare·s + LinearShare·x.
	Steepness    float64 `json:"steepness"`
	Midpoint     float64 `json:"midpoint"`
	Power        float64 `json:"power"`
	SigmoidShare float64 `json:"sigmoid_share"`
	LinearShare  float64 `json:"linear_share"`
	// SelfMiningStd: a miner whose organic average score exceeds its
	// synthetic average by more than this many synthetic standard deviations
	// earns nothing from organic tasks of that type (0 disables the check).
	SelfMiningStd float64 `json:"self_mining_std"`
	// MaxParamsB and MinParamsB clamp the model size (billions) in Work.
	MinParamsB float64 `json:"min_params_b"`
	MaxParamsB float64 `json:"max_params_b"`
	// Tournament holds the tournament rules (nil before SpecV3: weights
	// come from per-task competitions only).
	Tournament *TournamentSpec `json:"tournament,omitempty"`
}

// Period is one look-back window.
type Period struct {
	Days   float64 `json:"days"`
	Weight float64 `json:"weight"`
}

// SpecV1 is the first spec: Gradients' on-demand rules (winner 3, others 0,
// bottom quarter -1 above 8 valid, failures -1; 1/3/7-day windows weighted
// 0.3/0.3/0.4; sigmoid shaping with steepness 9 and power 0.75; organic vs
// synthetic split), with type weights for crucible's four task types.
const SpecV1 = "crucible-scoring-v1"

// Specs holds every published spec by version.
var Specs = map[string]Spec{
	SpecV1: {
		Version: SpecV1,
		Rank:    RankSpec{FirstPlace: 3, Others: 0, Penalty: -1, PenaltyAbove: 8, BottomFraction: 0.25},
		Periods: []Period{{Days: 1, Weight: 0.3}, {Days: 3, Weight: 0.3}, {Days: 7, Weight: 0.4}},
		TypeWeights: map[crucible.TaskType]float64{
			crucible.TaskInstruct: 0.35, crucible.TaskChat: 0.2, crucible.TaskDPO: 0.3, crucible.TaskText: 0.15,
		},
		Steepness: 9, Midpoint: 0.5, Power: 0.75, SigmoidShare: 0.7, LinearShare: 0.05,
		SelfMiningStd: 0.5,
		MinParamsB:    1, MaxParamsB: 40,
	},
}

// SpecV2 is SpecV1 with a share for grpo tasks (ranked by reward, highest
// first): instruct 0.3, chat 0.15, dpo 0.25, text 0.1, grpo 0.2.
const SpecV2 = "crucible-scoring-v2"

func init() {
	v2 := Specs[SpecV1]
	v2.Version = SpecV2
	v2.TypeWeights = map[crucible.TaskType]float64{
		crucible.TaskInstruct: 0.3, crucible.TaskChat: 0.15, crucible.TaskDPO: 0.25, crucible.TaskText: 0.1, crucible.TaskGRPO: 0.2,
	}
	Specs[SpecV2] = v2
	v3 := v2
	v3.Version = SpecV3
	v3.Tournament = &TournamentSpec{
		ThresholdBase: 0.10, ThresholdDecay: 0.8, ThresholdMin: 0.03,
		DecayBase: 0.3, BaseShare: 0.15, MaxShare: 0.6,
		BoostAbove: 0.05, BoostRate: 2, BoostDecayPerWin: 0.01,
		Participation: 0.0001, PerTaskShare: 0.25,
	}
	Specs[SpecV3] = v3
}

// SpecV3 is SpecV2 with tournaments (Gradients' tournament rules): the
// boss round's threshold max(0.03, 0.10·0.8^(wins−1)); ranks weighted
// 0.3^(rank−1); a base pool of 0.15 and the champion's pool boosted by
// 2·(margin−0.05), less 0.01 per consecutive win after the first, capped at
// 0.6; 0.0001 per participant; per-task competitions keep 0.25 (crucible
// keeps open tasks beside tournaments); the rest is burned. Without a
// finished tournament the per-task rules of SpecV2 decide everything.
const SpecV3 = "crucible-scoring-v3"

// Default returns the current spec.
func Default() Spec { return Specs[SpecV3] }

// Lookup returns the spec with version v or an EINVALID error.
func Lookup(v string) (Spec, error) {
	s, ok := Specs[v]
	if !ok {
		return Spec{}, crucible.Errorf(crucible.EINVALID, "unknown scoring spec %q", v)
	}
	return s, nil
}

// Work is how much a task counts: max(1, 2·sqrt(hours · clamp(params in
// billions, MinParamsB, MaxParamsB))). Bigger models and longer budgets are
// worth more.
func (s Spec) Work(hours float64, params int64) float64 {
	b := math.Min(math.Max(float64(params)/1e9, s.MinParamsB), s.MaxParamsB)
	return math.Max(1, 2*math.Sqrt(math.Max(hours, 0)*b))
}

// Shape maps a normalised score x in [0,1] to its weight.
func (s Spec) Shape(x float64) float64 {
	if x <= 0 {
		return 0
	}
	sig := math.Pow(1/(1+math.Exp(-s.Steepness*(x-s.Midpoint))), s.Power)
	return s.SigmoidShare*sig + s.LinearShare*x
}

// Weight is one miner's share of the weight vector.
type Weight struct {
	Hotkey string  `json:"hotkey"`
	Weight float64 `json:"weight"`
}

// Weights aggregates per-task scores into a weight vector that sums to 1
// (or is empty when nobody earned anything), ordered by hotkey. Scores older
// than the longest period before now are ignored.
func (s Spec) Weights(scores []*crucible.Score, now time.Time) ([]Weight, error) {
	longest := 0.0
	for _, p := range s.Periods {
		longest = math.Max(longest, p.Days)
	}
	horizon := now.Add(-days(longest))
	var window []*crucible.Score
	for _, sc := range scores {
		if sc.CreatedAt.After(horizon) && !sc.CreatedAt.After(now) {
			if math.IsNaN(sc.QualityScore) || math.IsNaN(sc.Work) {
				return nil, crucible.Errorf(crucible.EINVALID, "score of %s on task %s is not a number", sc.Hotkey, sc.TaskID)
			}
			window = append(window, sc)
		}
	}
	sort.SliceStable(window, func(a, b int) bool {
		if window[a].TaskID != window[b].TaskID {
			return window[a].TaskID < window[b].TaskID
		}
		return window[a].Hotkey < window[b].Hotkey
	})

	suspicious := s.selfMiners(window)
	total := map[string]float64{}
	types := make([]crucible.TaskType, 0, len(s.TypeWeights))
	for t := range s.TypeWeights {
		types = append(types, t)
	}
	sort.Slice(types, func(a, b int) bool { return types[a] < types[b] })
	for _, t := range types {
		share := organicShare(window, t)
		if share < 0 {
			continue // no tasks of this type in the window
		}
		for _, p := range s.Periods {
			from := now.Add(-days(p.Days))
			for _, organic := range []bool{true, false} {
				mult := p.Weight * s.TypeWeights[t]
				if organic {
					mult *= share
				} else {
					mult *= 1 - share
				}
				if mult == 0 {
					continue
				}
				for h, w := range s.groupWeights(window, t, organic, from, suspicious) {
					total[h] += w * mult
				}
			}
		}
	}
	hotkeys := make([]string, 0, len(total))
	sum := 0.0
	for h := range total {
		hotkeys = append(hotkeys, h)
	}
	sort.Strings(hotkeys)
	for _, h := range hotkeys {
		sum += total[h]
	}
	var out []Weight
	if sum <= 0 {
		return out, nil
	}
	for _, h := range hotkeys {
		if total[h] > 0 {
			out = append(out, Weight{Hotkey: h, Weight: total[h] / sum})
		}
	}
	return out, nil
}

// groupWeights scores one group (task type × organic) within one period:
// per miner q = Σ(score·work) · mean(score) when the mean is not negative,
// normalised by the best q and shaped by the sigmoid.
func (s Spec) groupWeights(window []*crucible.Score, t crucible.TaskType, organic bool, from time.Time, suspicious map[string]bool) map[string]float64 {
	type acc struct {
		summed, sum float64
		n           int
	}
	per := map[string]*acc{}
	var order []string
	for _, sc := range window {
		if sc.TaskType != t || sc.IsOrganic != organic || !sc.CreatedAt.After(from) {
			continue
		}
		if organic && suspicious[string(t)+"\x00"+sc.Hotkey] {
			continue
		}
		a := per[sc.Hotkey]
		if a == nil {
			a = &acc{}
			per[sc.Hotkey] = a
			order = append(order, sc.Hotkey)
		}
		a.summed += sc.QualityScore * sc.Work
		a.sum += sc.QualityScore
		a.n++
	}
	sort.Strings(order)
	q := map[string]float64{}
	best := 0.0
	for _, h := range order {
		a := per[h]
		if avg := a.sum / float64(a.n); avg >= 0 {
			q[h] = a.summed * avg
			best = math.Max(best, q[h])
		}
	}
	out := map[string]float64{}
	if best <= 0 {
		return out
	}
	for _, h := range order {
		if w := s.Shape(q[h] / best); w > 0 {
			out[h] = w
		}
	}
	return out
}

// organicShare is the fraction of distinct tasks of type t in the window that
// are organic, or -1 when there are none.
func organicShare(window []*crucible.Score, t crucible.TaskType) float64 {
	seen := map[string]bool{}
	organic := 0
	for _, sc := range window {
		if sc.TaskType != t || seen[sc.TaskID] {
			continue
		}
		seen[sc.TaskID] = true
		if sc.IsOrganic {
			organic++
		}
	}
	if len(seen) == 0 {
		return -1
	}
	return float64(organic) / float64(len(seen))
}

// selfMiners finds (type, hotkey) pairs whose organic average beats their
// synthetic average by more than SelfMiningStd synthetic standard deviations:
// the pattern of a miner submitting organic tasks it then wins.
func (s Spec) selfMiners(window []*crucible.Score) map[string]bool {
	out := map[string]bool{}
	if s.SelfMiningStd <= 0 {
		return out
	}
	type stats struct{ org, syn []float64 }
	per := map[string]*stats{}
	var keys []string
	for _, sc := range window {
		k := string(sc.TaskType) + "\x00" + sc.Hotkey
		st := per[k]
		if st == nil {
			st = &stats{}
			per[k] = st
			keys = append(keys, k)
		}
		if sc.IsOrganic {
			st.org = append(st.org, sc.QualityScore)
		} else {
			st.syn = append(st.syn, sc.QualityScore)
		}
	}
	for _, k := range keys {
		st := per[k]
		if len(st.org) == 0 || len(st.syn) == 0 {
			continue
		}
		mo, ms := mean(st.org), mean(st.syn)
		if mo > ms+s.SelfMiningStd*stddev(st.syn, ms) {
			out[k] = true
		}
	}
	return out
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func stddev(x []float64, m float64) float64 {
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return math.Sqrt(s / float64(len(x)))
}

func days(d float64) time.Duration { return time.Duration(d * 24 * float64(time.Hour)) }

// String describes the spec briefly.
func (s Spec) String() string {
	return fmt.Sprintf("%s (winner %g, others %g, penalty %g)", s.Version, s.Rank.FirstPlace, s.Rank.Others, s.Rank.Penalty)
}
