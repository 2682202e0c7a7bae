package scoring

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// TournamentSpec is the tournament part of a scoring spec: the boss
// round's threshold, and how a finished tournament becomes weights.
// Defaults follow Gradients' tournament rules (see SpecV3).
type TournamentSpec struct {
	// The champion's advantage in the boss round:
	// max(ThresholdMin, ThresholdBase·ThresholdDecay^(wins−1)), where wins
	// is how many tournaments in a row the champion has won.
	ThresholdBase  float64 `json:"threshold_base"`  // 0.10
	ThresholdDecay float64 `json:"threshold_decay"` // 0.8
	ThresholdMin   float64 `json:"threshold_min"`   // 0.03
	// DecayBase is the geometric decline of weight with rank: rank r gets
	// DecayBase^(r−1), normalised over the ranked field.
	DecayBase float64 `json:"decay_base"` // 0.3
	// BaseShare is the share of the weight vector the tournament's ranks
	// share out; the champion draws from a pool boosted by its boss-round
	// margin: min(BaseShare + boost, MaxShare), boost = BoostRate·(margin −
	// BoostAbove) when the margin is above BoostAbove, less
	// BoostDecayPerWin for each consecutive win after the first.
	BaseShare        float64 `json:"base_share"`          // 0.15
	MaxShare         float64 `json:"max_share"`           // 0.6
	BoostAbove       float64 `json:"boost_above"`         // 0.05
	BoostRate        float64 `json:"boost_rate"`          // 2
	BoostDecayPerWin float64 `json:"boost_decay_per_win"` // 0.01
	// Participation is what every participant of the tournament gets.
	Participation float64 `json:"participation"` // 0.0001
	// PerTaskShare is the share per-task competitions (open tasks, scored
	// by the spec's per-task rules) keep beside tournaments.
	PerTaskShare float64 `json:"per_task_share"` // 0.25
}

// Threshold is the margin a challenger must beat the champion by on a boss
// round task, given the champion's consecutive wins (a seeded champion, or
// one with none recorded, counts as one).
func (s TournamentSpec) Threshold(wins int) float64 {
	return math.Max(s.ThresholdMin, s.ThresholdBase*math.Pow(s.ThresholdDecay, float64(max(wins, 1)-1)))
}

// BossTask decides one boss-round task between the challenger and the
// defending champion. With both results valid, the challenger wins when
// its loss is below the champion's by more than threshold (loss_c <
// loss_b·(1−threshold)), or for a grpo task when its reward is above the
// champion's by more than threshold of the champion's magnitude (reward_c >
// reward_b + threshold·|reward_b|; Gradients' reward_b·(1+threshold) would
// ask less of a challenger against a negative reward). A side whose
// training or evaluation failed loses the task to the other; when both
// failed the champion keeps it. Margin is the challenger's relative margin,
// positive when it was better: (loss_b−loss_c)/loss_c, or
// (reward_c−reward_b)/|reward_b|; nil unless both have results.
func (s TournamentSpec) BossTask(t crucible.MatchTask, challenger, champion string, threshold float64) (winner string, margin *float64, note string) {
	c, cHigher, cOK := metric(resultOf(t, challenger))
	b, _, bOK := metric(resultOf(t, champion))
	switch {
	case !cOK && !bOK:
		return champion, nil, "both failed: the champion keeps the task"
	case !cOK:
		return champion, nil, "the challenger failed: the champion wins the task"
	case !bOK:
		return challenger, nil, "the champion failed: the challenger wins the task"
	}
	// edge is the challenger's advantage in the threshold's terms: its
	// loss below the champion's, or its reward above, as a fraction of
	// the champion's.
	var m, edge float64
	var won bool
	what := "loss"
	if cHigher {
		what = "reward"
		if b != 0 {
			m = (c - b) / math.Abs(b)
			edge = m
		}
		won = c > b+threshold*math.Abs(b)
	} else {
		if c > 0 {
			m = (b - c) / c
		}
		if b != 0 {
			edge = (b - c) / math.Abs(b)
		}
		won = c < b*(1-threshold)
	}
	dir, worse := "below", "higher"
	if cHigher {
		dir, worse = "above", "lower"
	}
	if !won && edge <= 0 {
		return champion, &m, fmt.Sprintf("the challenger's %s is not better than the champion's (%s)", what, worse)
	}
	if won {
		return challenger, &m, fmt.Sprintf("the challenger's %s is %.2f%% %s the champion's, more than the %.2f%% threshold", what, 100*edge, dir, 100*threshold)
	}
	return champion, &m, fmt.Sprintf("the challenger's %s is %.2f%% %s the champion's, not more than the %.2f%% threshold", what, 100*edge, dir, 100*threshold)
}

// BossOutcome decides the boss round from its decided tasks: the
// challenger takes the title only with a strict majority of all the
// round's tasks. Margin is the median of the tasks' margins (nil when no
// task had both results).
func BossOutcome(tasks []crucible.MatchTask, challenger, champion string) (winner string, margin *float64) {
	wins := 0
	var margins []float64
	for _, t := range tasks {
		if t.Winner == challenger {
			wins++
		}
		if t.Margin != nil {
			margins = append(margins, *t.Margin)
		}
	}
	if len(margins) > 0 {
		sort.Float64s(margins)
		m := margins[len(margins)/2]
		if len(margins)%2 == 0 {
			m = (margins[len(margins)/2-1] + m) / 2
		}
		margin = &m
	}
	if 2*wins > len(tasks) {
		return challenger, margin
	}
	return champion, margin
}

// TournamentOutcome is what a finished tournament contributes to weights.
type TournamentOutcome struct {
	ID string `json:"id"`
	// Participants are the entrants and the defending champion.
	Participants []string `json:"participants"`
	// Winner is the champion the tournament left ("" for none).
	Winner string `json:"winner,omitempty"`
	// Points are round points: each group, pair or boss task won earns its
	// round's number, except for the winner, who ranks first regardless.
	Points map[string]float64 `json:"points"`
	// Margin is the champion's margin when it first won the title (kept
	// while it defends), Wins its tournaments won in a row.
	Margin *float64 `json:"margin,omitempty"`
	Wins   int      `json:"wins"`
}

// Points counts round points from a bracket's decided tasks: every task's
// winner earns the task's round number, except the tournament's winner and
// the defending champion (who is ranked by holding the title, not by
// points).
func Points(matches []*crucible.TournamentMatch, winner, defender string) map[string]float64 {
	p := map[string]float64{}
	for _, m := range matches {
		for _, t := range m.Tasks {
			if t.Winner == "" || t.Winner == winner || t.Winner == defender {
				continue
			}
			p[t.Winner] += float64(m.Round)
		}
	}
	return p
}

// BurnKey names the burned share in a weight vector: the validator sets it
// on its burn hotkey when it has one (on Bittensor, the subnet owner's
// hotkey, whose incentive is recycled).
const BurnKey = "burn"

// TournamentWeights ranks a tournament's field: the winner first, then
// everyone with points by points (ties share the average of their ranks),
// and gives rank r DecayBase^(r−1) normalised over the ranked field.
// Participants without points are not ranked.
func (s TournamentSpec) TournamentWeights(o *TournamentOutcome) map[string]float64 {
	type entry struct {
		hotkey string
		points float64
	}
	var ranked []entry
	if o.Winner != "" {
		ranked = append(ranked, entry{o.Winner, math.Inf(1)})
	}
	var keys []string
	for h, p := range o.Points {
		if p > 0 && h != o.Winner {
			keys = append(keys, h)
		}
	}
	sort.Strings(keys)
	for _, h := range keys {
		ranked = append(ranked, entry{h, o.Points[h]})
	}
	sort.SliceStable(ranked, func(a, b int) bool { return ranked[a].points > ranked[b].points })
	n := len(ranked)
	total := 0.0
	for r := 1; r <= n; r++ {
		total += math.Pow(s.DecayBase, float64(r-1))
	}
	out := map[string]float64{}
	for i := 0; i < n; {
		j := i
		for j < n && ranked[j].points == ranked[i].points {
			j++
		}
		avg := float64(i+1) + float64(j-i-1)/2
		w := math.Pow(s.DecayBase, avg-1) / total
		for k := i; k < j; k++ {
			out[ranked[k].hotkey] = w
		}
		i = j
	}
	return out
}

// ChampionShare is the share of the vector the champion draws its rank's
// weight from: BaseShare plus the boost of its margin, less the boost's
// decay over its consecutive wins, at most MaxShare.
func (s TournamentSpec) ChampionShare(margin *float64, wins int) float64 {
	boost := 0.0
	if margin != nil && *margin > s.BoostAbove {
		boost = s.BoostRate * (*margin - s.BoostAbove)
	}
	boost = math.Max(0, boost-s.BoostDecayPerWin*float64(max(wins, 1)-1))
	return math.Min(s.BaseShare+boost, s.MaxShare)
}

// Vector is the weight vector: with no tournament spec or no finished
// tournament, the per-task rule's weights (Weights); otherwise every
// participant of the latest tournament gets Participation, the rest is
// scaled by 1 − n·Participation and shared as the champion's boosted
// pool (its rank's weight), the base pool (everyone else's rank weight),
// PerTaskShare of per-task weights, and what is left over is burned (under
// BurnKey). The vector sums to 1 and is ordered by hotkey.
func (s Spec) Vector(scores []*crucible.Score, last *TournamentOutcome, now time.Time) ([]Weight, error) {
	perTask, err := s.Weights(scores, now)
	if err != nil || s.Tournament == nil || last == nil {
		return perTask, err
	}
	ts := *s.Tournament
	total := map[string]float64{}
	parts := map[string]bool{}
	for _, h := range last.Participants {
		parts[h] = true
	}
	scale := 1 - float64(len(parts))*ts.Participation
	if scale < 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "tournament %s: %d participants at %g each exceed the whole vector", last.ID, len(parts), ts.Participation)
	}
	for h := range parts {
		total[h] += ts.Participation
	}
	champShare := ts.ChampionShare(last.Margin, last.Wins)
	ranks := ts.TournamentWeights(last)
	hotkeys := make([]string, 0, len(ranks))
	for h := range ranks {
		hotkeys = append(hotkeys, h)
	}
	sort.Strings(hotkeys)
	for _, h := range hotkeys {
		share := ts.BaseShare
		if h == last.Winner {
			share = champShare
		}
		total[h] += ranks[h] * share * scale
	}
	for _, w := range perTask {
		total[w.Hotkey] += w.Weight * ts.PerTaskShare * scale
	}
	keys := make([]string, 0, len(total))
	for h := range total {
		keys = append(keys, h)
	}
	sort.Strings(keys)
	sum := 0.0
	var out []Weight
	for _, h := range keys {
		if total[h] > 0 {
			out = append(out, Weight{Hotkey: h, Weight: total[h]})
			sum += total[h]
		}
	}
	if burn := 1 - sum; burn > 1e-12 {
		out = append(out, Weight{Hotkey: BurnKey, Weight: burn})
		sort.Slice(out, func(a, b int) bool { return out[a].Hotkey < out[b].Hotkey })
	}
	return out, nil
}

// OutcomeOf summarises a finished tournament for Vector: its participants
// (the entrants and the defender), the champion it left, the round points
// its matches earned, and the champion's margin and consecutive wins.
func OutcomeOf(id string, entrants []string, defender, winner string, matches []*crucible.TournamentMatch, margin *float64, wins int) *TournamentOutcome {
	o := &TournamentOutcome{ID: id, Winner: winner, Margin: margin, Wins: wins}
	seen := map[string]bool{}
	for _, h := range append(append([]string(nil), entrants...), defender) {
		if h != "" && !seen[h] {
			seen[h] = true
			o.Participants = append(o.Participants, h)
		}
	}
	sort.Strings(o.Participants)
	o.Points = Points(matches, winner, defender)
	return o
}
