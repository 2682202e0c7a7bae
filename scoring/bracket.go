package scoring

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/crucible-net/crucible/crucible"
)

// Tournament rules: how a round's field is split into matches and how each
// match is decided. They are pure and seeded from what the results log
// publishes, so that an auditor rebuilds every bracket and decision.

// BracketRules are the parts of a tournament's settings that shape a round.
type BracketRules struct {
	KnockoutMax  int // at most this many play knockout pairs; more play groups
	GroupSize    int // the size a group aims for
	MinGroupSize int // the smallest group made (fewer, larger groups otherwise)
	Advance      int // how many of a group go on
}

// RulesOf returns the bracket rules of a tournament's settings.
func RulesOf(s crucible.TournamentSettings) BracketRules {
	return BracketRules{KnockoutMax: s.KnockoutMax, GroupSize: s.GroupSize, MinGroupSize: s.MinGroupSize, Advance: s.Advance}
}

// PlanRound splits a round's field into matches. At most KnockoutMax
// entrants play knockout pairs (an odd one out gets a bye: a pair of one
// that goes on without playing). A larger field plays a group stage:
// ⌈n/GroupSize⌉ groups, one fewer when that leaves groups under
// MinGroupSize, sizes differing by at most one; when a group would be no
// larger than Advance (it would eliminate nobody) the round is played as
// pairs instead. Who meets whom is a shuffle seeded by seed (the
// tournament's ID and the round number) over the sorted field, so that the
// order entrants arrived in changes nothing and anyone can recompute it.
func PlanRound(field []string, seed string, r BracketRules) (crucible.MatchKind, [][]string) {
	order := slices.Clone(field)
	sort.Strings(order)
	h := sha256.Sum256([]byte("crucible-bracket/v1\n" + seed))
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16])))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	n := len(order)
	if n > r.KnockoutMax && r.GroupSize > 0 {
		g := (n + r.GroupSize - 1) / r.GroupSize
		if g > 1 && n/g < r.MinGroupSize {
			g--
		}
		if n/g > r.Advance {
			groups := make([][]string, g)
			base, extra := n/g, n%g
			at := 0
			for i := range groups {
				size := base
				if i < extra {
					size++
				}
				groups[i] = order[at : at+size]
				at += size
			}
			return crucible.MatchGroup, groups
		}
	}
	var pairs [][]string
	for i := 0; i < n; i += 2 {
		pairs = append(pairs, order[i:min(i+2, n)])
	}
	return crucible.MatchPair, pairs
}

// SeedOf is the seed of a tournament's round.
func SeedOf(tournamentID string, round int) string { return fmt.Sprintf("%s/%d", tournamentID, round) }

// metric returns the value a result ranks by, whether higher is better,
// and whether it is a valid result at all (no failure, a finite value).
func metric(r crucible.MatchResult) (v float64, higher, ok bool) {
	if r.Failure != "" {
		return 0, false, false
	}
	switch {
	case r.Reward != nil:
		v, higher = *r.Reward, true
	case r.Loss != nil:
		v = *r.Loss
	default:
		return 0, false, false
	}
	return v, higher, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// resultOf finds a member's result on a task; a member without one failed.
func resultOf(t crucible.MatchTask, hotkey string) crucible.MatchResult {
	for _, r := range t.Results {
		if r.Hotkey == hotkey {
			return r
		}
	}
	return crucible.MatchResult{Hotkey: hotkey, Failure: "no result"}
}

// positions ranks the members on one task: 1 for the best valid result,
// ties broken by the members' order; every member without a valid result
// gets one place past the last valid one. It also returns the best member
// ("" when nobody has a valid result).
func positions(t crucible.MatchTask, members []string) (map[string]int, string) {
	type scored struct {
		hotkey string
		v      float64
		at     int
	}
	var valid []scored
	higher := false
	for i, m := range members {
		if v, hi, ok := metric(resultOf(t, m)); ok {
			valid = append(valid, scored{m, v, i})
			higher = hi
		}
	}
	sort.SliceStable(valid, func(a, b int) bool {
		if valid[a].v != valid[b].v {
			if higher {
				return valid[a].v > valid[b].v
			}
			return valid[a].v < valid[b].v
		}
		return valid[a].at < valid[b].at
	})
	pos := map[string]int{}
	for i, s := range valid {
		pos[s.hotkey] = i + 1
	}
	for _, m := range members {
		if _, ok := pos[m]; !ok {
			pos[m] = len(valid) + 1
		}
	}
	best := ""
	if len(valid) > 0 {
		best = valid[0].hotkey
	}
	return pos, best
}

// TaskWinner is the member with the best valid result on a group or pair
// task (the lowest loss, or the highest reward), ties going to the member
// listed first; "" when every member failed.
func TaskWinner(t crucible.MatchTask, members []string) string {
	_, best := positions(t, members)
	return best
}

// GroupAdvance ranks a group's members over its tasks by the sum of their
// places (a member without a valid result on a task takes the place after
// the last valid one), then by tasks won, then by the group's order, and
// returns the first advance among those with at least one valid result.
func GroupAdvance(tasks []crucible.MatchTask, members []string, advance int) []string {
	sum, wins, played := map[string]int{}, map[string]int{}, map[string]bool{}
	for _, t := range tasks {
		pos, best := positions(t, members)
		for _, m := range members {
			sum[m] += pos[m]
			if _, _, ok := metric(resultOf(t, m)); ok {
				played[m] = true
			}
		}
		if best != "" {
			wins[best]++
		}
	}
	order := slices.Clone(members)
	at := map[string]int{}
	for i, m := range members {
		at[m] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := order[a], order[b]
		if sum[x] != sum[y] {
			return sum[x] < sum[y]
		}
		if wins[x] != wins[y] {
			return wins[x] > wins[y]
		}
		return at[x] < at[y]
	})
	var out []string
	for _, m := range order {
		if played[m] && len(out) < advance {
			out = append(out, m)
		}
	}
	return out
}

// PairWinner decides a knockout pair: a bye (one member) goes on; else the
// member that won more of the tasks, then the one that failed fewer, then
// the first listed; nobody when neither has a single valid result.
func PairWinner(tasks []crucible.MatchTask, members []string) string {
	if len(members) == 1 {
		return members[0]
	}
	wins, fails := map[string]int{}, map[string]int{}
	any := false
	for _, t := range tasks {
		if w := TaskWinner(t, members); w != "" {
			wins[w]++
			any = true
		}
		for _, m := range members {
			if _, _, ok := metric(resultOf(t, m)); !ok {
				fails[m]++
			}
		}
	}
	if !any {
		return ""
	}
	best := members[0]
	for _, m := range members[1:] {
		if wins[m] > wins[best] || (wins[m] == wins[best] && fails[m] < fails[best]) {
			best = m
		}
	}
	return best
}
