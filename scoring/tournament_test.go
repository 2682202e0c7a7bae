package scoring_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
)

var gradients = scoring.BracketRules{KnockoutMax: 14, GroupSize: 32, MinGroupSize: 20, Advance: 8}

func field(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("5Miner%02d", i)
	}
	return out
}

// Every field of 2 to 40 entrants is split into matches that hold each
// entrant once: up to 14 knockout pairs with one bye for an odd field,
// above that groups whose sizes differ by at most one and that each
// eliminate somebody; the split does not depend on the order entrants
// came in, and a different seed gives a different draw.
func TestPlanRound(t *testing.T) {
	small := scoring.BracketRules{KnockoutMax: 4, GroupSize: 3, MinGroupSize: 3, Advance: 1}
	for _, rules := range []scoring.BracketRules{gradients, small} {
		for n := 2; n <= 40; n++ {
			f := field(n)
			kind, matches := scoring.PlanRound(f, "t/1", rules)
			seen := map[string]int{}
			for _, m := range matches {
				for _, h := range m {
					seen[h]++
				}
			}
			for _, h := range f {
				if seen[h] != 1 {
					t.Fatalf("n=%d %v: %s appears %d times in %v", n, rules, h, seen[h], matches)
				}
			}
			switch {
			case n <= rules.KnockoutMax:
				if kind != crucible.MatchPair {
					t.Fatalf("n=%d: %s, want pairs", n, kind)
				}
			case kind == crucible.MatchGroup:
				lo, hi := n, 0
				for _, m := range matches {
					lo, hi = min(lo, len(m)), max(hi, len(m))
				}
				if hi-lo > 1 || lo <= rules.Advance {
					t.Fatalf("n=%d: group sizes %d..%d with advance %d", n, lo, hi, rules.Advance)
				}
				if len(matches) > 1 && lo < rules.MinGroupSize {
					t.Fatalf("n=%d: %d groups, smallest %d under %d", n, len(matches), lo, rules.MinGroupSize)
				}
			}
			if kind == crucible.MatchPair {
				byes := 0
				for _, m := range matches {
					if len(m) == 1 {
						byes++
					} else if len(m) != 2 {
						t.Fatalf("n=%d: a pair of %d", n, len(m))
					}
				}
				if byes != n%2 {
					t.Fatalf("n=%d: %d byes", n, byes)
				}
			}
			rev := slices.Clone(f)
			slices.Reverse(rev)
			if _, again := scoring.PlanRound(rev, "t/1", rules); fmt.Sprint(again) != fmt.Sprint(matches) {
				t.Fatalf("n=%d: the draw depends on the entrants' order", n)
			}
			if n >= 6 {
				if _, other := scoring.PlanRound(f, "t/2", rules); fmt.Sprint(other) == fmt.Sprint(matches) {
					t.Errorf("n=%d: seeds t/1 and t/2 draw alike", n)
				}
			}
		}
	}
	// Gradients' numbers: 15 to 40 entrants play one or two groups.
	if kind, m := scoring.PlanRound(field(15), "x", gradients); kind != crucible.MatchGroup || len(m) != 1 {
		t.Errorf("15 entrants: %s × %d", kind, len(m))
	}
	if _, m := scoring.PlanRound(field(40), "x", gradients); len(m) != 2 || len(m[0]) != 20 {
		t.Errorf("40 entrants: %d groups", len(m))
	}
	if _, m := scoring.PlanRound(field(33), "x", gradients); len(m) != 1 {
		t.Errorf("33 entrants: %d groups (two would be under 20)", len(m))
	}
}

// A bracket of any size, played with random results and random failures,
// ends with at most one winner in a bounded number of rounds.
func TestBracketTerminates(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 2; n <= 40; n++ {
		for _, rules := range []scoring.BracketRules{gradients, {KnockoutMax: 4, GroupSize: 3, MinGroupSize: 3, Advance: 1}} {
			f := field(n)
			for round := 1; len(f) > 1; round++ {
				if round > 12 {
					t.Fatalf("n=%d: still %d left after 12 rounds", n, len(f))
				}
				kind, matches := scoring.PlanRound(f, fmt.Sprintf("r/%d", round), rules)
				var next []string
				for _, m := range matches {
					task := crucible.MatchTask{}
					for _, h := range m {
						r := crucible.MatchResult{Hotkey: h}
						if rng.IntN(6) == 0 {
							r.Failure = "no result uploaded"
						} else {
							l := rng.Float64()
							r.Loss = &l
						}
						task.Results = append(task.Results, r)
					}
					if kind == crucible.MatchGroup {
						next = append(next, scoring.GroupAdvance([]crucible.MatchTask{task}, m, rules.Advance)...)
					} else if w := scoring.PairWinner([]crucible.MatchTask{task}, m); w != "" {
						next = append(next, w)
					}
				}
				if len(next) >= len(f) {
					t.Fatalf("n=%d round %d: %d go on from %d", n, round, len(next), len(f))
				}
				f = next
			}
		}
	}
}

func loss(h string, v float64) crucible.MatchResult { return crucible.MatchResult{Hotkey: h, Loss: &v} }
func reward(h string, v float64) crucible.MatchResult {
	return crucible.MatchResult{Hotkey: h, Reward: &v}
}
func failed(h string) crucible.MatchResult {
	return crucible.MatchResult{Hotkey: h, Failure: "training failed"}
}
func task(rs ...crucible.MatchResult) crucible.MatchTask { return crucible.MatchTask{Results: rs} }

func TestGroupAndPair(t *testing.T) {
	m := []string{"a", "b", "c", "d"}
	tasks := []crucible.MatchTask{
		task(loss("a", 2.0), loss("b", 1.5), failed("c"), loss("d", math.NaN())),
		task(loss("a", 1.0), loss("b", 1.6), failed("c"), loss("d", 1.2)),
	}
	// Places: a 2+1=3, b 1+3=4, d 3+2=5, c 3+4=7 (never valid: cannot advance).
	if got := scoring.GroupAdvance(tasks, m, 3); strings.Join(got, ",") != "a,b,d" {
		t.Errorf("group advance: %v", got)
	}
	if got := scoring.GroupAdvance(tasks[:1], m, 8); strings.Join(got, ",") != "b,a" {
		t.Errorf("failures advance: %v", got)
	}
	// A grpo task: the highest reward wins, even a negative one.
	if w := scoring.TaskWinner(task(reward("a", -0.5), reward("b", -0.2)), []string{"a", "b"}); w != "b" {
		t.Errorf("reward winner %q", w)
	}
	for _, c := range []struct {
		name  string
		tasks []crucible.MatchTask
		want  string
	}{
		{"lower loss", []crucible.MatchTask{task(loss("x", 1.1), loss("y", 1.0))}, "y"},
		{"other side failed", []crucible.MatchTask{task(failed("x"), loss("y", 9))}, "y"},
		{"both failed", []crucible.MatchTask{task(failed("x"), failed("y"))}, ""},
		{"tie goes to the first", []crucible.MatchTask{task(loss("x", 1), loss("y", 1))}, "x"},
		{"best of three", []crucible.MatchTask{task(loss("x", 1), loss("y", 2)), task(loss("x", 2), loss("y", 1)), task(loss("x", 3), loss("y", 1))}, "y"},
		{"split, fewer failures", []crucible.MatchTask{task(loss("x", 1), loss("y", 2)), task(failed("x"), loss("y", 1)), task(failed("x"), failed("y"))}, "y"},
	} {
		if got := scoring.PairWinner(c.tasks, []string{"x", "y"}); got != c.want {
			t.Errorf("%s: winner %q, want %q", c.name, got, c.want)
		}
	}
	if got := scoring.PairWinner(nil, []string{"solo"}); got != "solo" {
		t.Errorf("bye: %q", got)
	}
}

func TestBossThreshold(t *testing.T) {
	s := *scoring.Default().Tournament
	for wins, want := range map[int]float64{0: 0.10, 1: 0.10, 2: 0.08, 3: 0.064, 5: 0.04096, 6: 0.0327680, 7: 0.03, 20: 0.03} {
		if got := s.Threshold(wins); math.Abs(got-want) > 1e-12 {
			t.Errorf("threshold after %d wins: %g, want %g", wins, got, want)
		}
	}
}

func TestBossTask(t *testing.T) {
	s := *scoring.Default().Tournament
	const ch, bo = "challenger", "champion"
	for _, c := range []struct {
		name   string
		task   crucible.MatchTask
		thr    float64
		winner string
		margin float64 // NaN: none
	}{
		{"beats by more than the threshold", task(loss(ch, 0.89), loss(bo, 1.0)), 0.10, ch, (1 - 0.89) / 0.89},
		{"better, not by enough", task(loss(ch, 0.91), loss(bo, 1.0)), 0.10, bo, (1 - 0.91) / 0.91},
		{"exactly the threshold is not enough", task(loss(ch, 0.9), loss(bo, 1.0)), 0.10, bo, 0.1 / 0.9},
		{"worse", task(loss(ch, 1.2), loss(bo, 1.0)), 0.03, bo, (1 - 1.2) / 1.2},
		{"lower threshold after wins", task(loss(ch, 0.95), loss(bo, 1.0)), s.Threshold(8), ch, 0.05 / 0.95},
		{"grpo: higher reward by enough", task(reward(ch, 0.56), reward(bo, 0.5)), 0.10, ch, 0.12},
		{"grpo: higher, not enough", task(reward(ch, 0.54), reward(bo, 0.5)), 0.10, bo, 0.08},
		{"grpo: negative champion reward", task(reward(ch, -0.44), reward(bo, -0.5)), 0.10, ch, 0.12},
		{"grpo: negative, not enough", task(reward(ch, -0.48), reward(bo, -0.5)), 0.10, bo, 0.04},
		{"challenger failed", task(failed(ch), loss(bo, 5)), 0.10, bo, math.NaN()},
		{"champion failed", task(loss(ch, 5), failed(bo)), 0.10, ch, math.NaN()},
		{"champion has no result at all", task(loss(ch, 5)), 0.10, ch, math.NaN()},
		{"both failed", task(failed(ch), failed(bo)), 0.10, bo, math.NaN()},
		{"challenger's loss is NaN", task(loss(ch, math.NaN()), loss(bo, 5)), 0.10, bo, math.NaN()},
	} {
		w, m, note := s.BossTask(c.task, ch, bo, c.thr)
		if w != c.winner {
			t.Errorf("%s: winner %s (%s), want %s", c.name, w, note, c.winner)
		}
		switch {
		case math.IsNaN(c.margin) && m != nil:
			t.Errorf("%s: margin %g, want none", c.name, *m)
		case !math.IsNaN(c.margin) && (m == nil || math.Abs(*m-c.margin) > 1e-12):
			t.Errorf("%s: margin %v, want %g", c.name, m, c.margin)
		}
		if note == "" {
			t.Errorf("%s: no note", c.name)
		}
	}
}

func TestBossMajority(t *testing.T) {
	won := func(ws ...string) []crucible.MatchTask {
		var out []crucible.MatchTask
		for i, w := range ws {
			m := float64(i) / 10
			out = append(out, crucible.MatchTask{Winner: w, Margin: &m})
		}
		return out
	}
	for _, c := range []struct {
		tasks []crucible.MatchTask
		want  string
	}{
		{won("c", "c", "c", "b", "b", "b"), "b"}, // 3 of 6 is no majority
		{won("c", "c", "c", "c", "b", "b"), "c"}, // 4 of 6
		{won("c", "c", "b"), "c"},
		{won("c", "b", "b"), "b"},
		{won("c"), "c"},
		{won("b"), "b"},
		{nil, "b"},
	} {
		if got, _ := scoring.BossOutcome(c.tasks, "c", "b"); got != c.want {
			t.Errorf("%d tasks: %s, want %s", len(c.tasks), got, c.want)
		}
	}
	_, m := scoring.BossOutcome(won("c", "c", "b", "b"), "c", "b")
	if m == nil || math.Abs(*m-0.15) > 1e-12 {
		t.Errorf("median margin %v, want 0.15", m)
	}
}

func TestTournamentWeightsTies(t *testing.T) {
	s := *scoring.Default().Tournament
	o := &scoring.TournamentOutcome{Winner: "w", Points: map[string]float64{"a": 3, "b": 2, "c": 2, "d": 1, "z": 0, "w": 9}}
	got := s.TournamentWeights(o)
	total := 1 + 0.3 + 0.09 + 0.027 + 0.0081
	want := map[string]float64{"w": 1 / total, "a": 0.3 / total, "b": math.Pow(0.3, 2.5) / total, "c": math.Pow(0.3, 2.5) / total, "d": 0.0081 / total}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for h, w := range want {
		if math.Abs(got[h]-w) > 1e-12 {
			t.Errorf("%s: %g, want %g", h, got[h], w)
		}
	}
}

func TestChampionShare(t *testing.T) {
	s := *scoring.Default().Tournament
	m := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		margin *float64
		wins   int
		want   float64
	}{
		{nil, 1, 0.15}, {m(0.04), 1, 0.15}, {m(0.10), 1, 0.25}, {m(0.10), 3, 0.23},
		{m(0.30), 1, 0.6}, {m(0.06), 5, 0.15},
	} {
		if got := s.ChampionShare(c.margin, c.wins); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("margin %v wins %d: %g, want %g", c.margin, c.wins, got, c.want)
		}
	}
}

// TestVectorGolden freezes the tournament weights on a bracket with a
// boosted champion, ties, per-task scores and a burned remainder.
func TestVectorGolden(t *testing.T) {
	s := scoring.Specs[scoring.SpecV3]
	var scores []*crucible.Score
	for i, h := range []string{"5Alpha", "5Bravo", "5Charlie"} {
		scores = append(scores, score("open1", h, []float64{3, 0, -1}[i], 2, false, crucible.TaskInstruct, 0))
	}
	margin := 0.12
	matches := []*crucible.TournamentMatch{
		{Round: 1, Kind: crucible.MatchGroup, Tasks: []crucible.MatchTask{{Winner: "5Bravo"}}},
		{Round: 1, Kind: crucible.MatchGroup, Tasks: []crucible.MatchTask{{Winner: "5Delta"}}},
		{Round: 2, Kind: crucible.MatchPair, Tasks: []crucible.MatchTask{{Winner: "5Echo"}}},
		{Round: 3, Kind: crucible.MatchBoss, Tasks: []crucible.MatchTask{{Winner: "5Echo"}, {Winner: "5Champ"}, {Winner: "5Echo"}}},
	}
	o := &scoring.TournamentOutcome{ID: "t1", Participants: []string{"5Bravo", "5Delta", "5Echo", "5Foxtrot", "5Champ"},
		Winner: "5Echo", Margin: &margin, Wins: 1}
	o.Points = scoring.Points(matches, o.Winner, "5Champ")
	if fmt.Sprint(o.Points) != "map[5Bravo:1 5Delta:1]" {
		t.Fatalf("points %v", o.Points)
	}
	got, err := s.Vector(scores, o, t0)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, w := range got {
		sum += w.Weight
	}
	if math.Abs(sum-1) > 1e-12 || !sort.SliceIsSorted(got, func(a, b int) bool { return got[a].Hotkey < got[b].Hotkey }) {
		t.Errorf("vector sums to %v or is unsorted: %v", sum, got)
	}
	b, _ := json.MarshalIndent(got, "", "  ")
	path := filepath.Join("testdata", "weights_golden_v3.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./scoring -update once to create it)", err)
	}
	if string(want) != string(b) {
		t.Errorf("weights changed:\n%s\nwant:\n%s", b, want)
	}
	// Without a finished tournament v3 is v2.
	v2, _ := scoring.Specs[scoring.SpecV2].Weights(scores, t0)
	v3, _ := s.Vector(scores, nil, t0)
	if fmt.Sprint(v2) != fmt.Sprint(v3) {
		t.Errorf("no tournament: v3 %v, v2 %v", v3, v2)
	}
}
