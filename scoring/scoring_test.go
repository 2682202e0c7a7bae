package scoring_test

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func res(h string, loss float64, sec int) scoring.Result {
	return scoring.Result{Hotkey: h, Loss: loss, SHA256: "sha-" + h, SubmittedAt: t0.Add(time.Duration(sec) * time.Second)}
}

func TestRankWinnerTakesAll(t *testing.T) {
	spec := scoring.Default().Rank
	got := spec.RankTask([]scoring.Result{res("b", 1.2, 1), res("a", 0.9, 2), res("c", math.NaN(), 0), res("d", 1.0, 3)})
	want := []struct {
		h     string
		rank  int
		score float64
	}{{"a", 1, 3}, {"d", 2, 0}, {"b", 3, 0}, {"c", 4, 0}}
	for i, w := range want {
		if got[i].Hotkey != w.h || got[i].Rank != w.rank || got[i].Score != w.score {
			t.Errorf("position %d: got %s rank %d score %g, want %s rank %d score %g", i, got[i].Hotkey, got[i].Rank, got[i].Score, w.h, w.rank, w.score)
		}
	}
}

func TestRankBottomQuarterAndFailures(t *testing.T) {
	spec := scoring.Default().Rank
	var in []scoring.Result
	for i := 0; i < 10; i++ { // 10 valid: bottom max(1, 2) = 2 penalised
		in = append(in, res(string(rune('a'+i)), float64(i), i))
	}
	in = append(in, scoring.Result{Hotkey: "late", Failure: "submitted after the deadline"})
	dup := res("copycat", 5, 100)
	dup.SHA256 = "sha-c" // same artifact as "c", submitted later
	in = append(in, dup)
	got := spec.RankTask(in)
	scores := map[string]float64{}
	for _, r := range got {
		scores[r.Hotkey] = r.Score
	}
	for h, want := range map[string]float64{"a": 3, "b": 0, "h": 0, "i": -1, "j": -1, "late": -1, "copycat": -1, "c": 0} {
		if scores[h] != want {
			t.Errorf("%s: score %g, want %g", h, scores[h], want)
		}
	}
	if got[len(got)-2].Hotkey != "copycat" || got[len(got)-2].Reason != "duplicate of c's earlier submission" {
		t.Errorf("duplicate not reported: %+v", got[len(got)-2])
	}
	// With 8 valid, nobody valid is penalised.
	got = spec.RankTask(in[:8])
	for _, r := range got {
		if r.Score < 0 {
			t.Errorf("8 valid: %s penalised", r.Hotkey)
		}
	}
	// Only failures: nobody is penalised, there is nothing to compare against.
	got = spec.RankTask([]scoring.Result{{Hotkey: "x", Failure: "no upload"}})
	if got[0].Score != 0 || got[0].Rank != 0 {
		t.Errorf("lone failure: %+v", got[0])
	}
}

func TestWork(t *testing.T) {
	s := scoring.Default()
	for _, c := range []struct {
		hours  float64
		params int64
		want   float64
	}{
		{0.05, 10e6, 1},               // small: floor of 1
		{4, 500e6, 4},                 // params clamp up to 1B: 2·sqrt(4)
		{1, 100e9, 2 * math.Sqrt(40)}, // clamp down to 40B
		{9, 4e9, 2 * math.Sqrt(36)},   // 2·sqrt(9·4)
	} {
		if got := s.Work(c.hours, c.params); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Work(%g, %d) = %g, want %g", c.hours, c.params, got, c.want)
		}
	}
}

func score(task, h string, q, work float64, organic bool, typ crucible.TaskType, age time.Duration) *crucible.Score {
	return &crucible.Score{TaskID: task, Hotkey: h, QualityScore: q, Work: work, IsOrganic: organic, TaskType: typ, CreatedAt: t0.Add(-age)}
}

// TestWeightsByHand checks the aggregation against a computation written out
// by hand: two synthetic instruct tasks, A wins the light one, B the heavy one.
func TestWeightsByHand(t *testing.T) {
	s := scoring.Default()
	in := []*crucible.Score{
		score("t1", "A", 3, 1, false, crucible.TaskInstruct, 2*time.Hour),
		score("t1", "B", 0, 1, false, crucible.TaskInstruct, 2*time.Hour),
		score("t2", "A", 0, 4, false, crucible.TaskInstruct, 2*time.Hour),
		score("t2", "B", 3, 4, false, crucible.TaskInstruct, 2*time.Hour),
		score("t3", "C", -1, 1, false, crucible.TaskInstruct, 2*time.Hour),
		score("old", "D", 3, 1, false, crucible.TaskInstruct, 8*24*time.Hour), // outside 7 days
	}
	got, err := s.Weights(in, t0)
	if err != nil {
		t.Fatal(err)
	}
	qA, qB := (3.0+0)*1.5, (0+12.0)*1.5
	shape := func(x float64) float64 { return 0.7*math.Pow(1/(1+math.Exp(-9*(x-0.5))), 0.75) + 0.05*x }
	wA, wB := shape(qA/qB), shape(1)
	want := map[string]float64{"A": wA / (wA + wB), "B": wB / (wA + wB)}
	if len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	for _, w := range got {
		if math.Abs(w.Weight-want[w.Hotkey]) > 1e-12 {
			t.Errorf("%s: %.15f, want %.15f", w.Hotkey, w.Weight, want[w.Hotkey])
		}
	}
}

func TestWeightsSelfMining(t *testing.T) {
	s := scoring.Default()
	var in []*crucible.Score
	// M wins every organic task but never a synthetic one; N wins the synthetics.
	for i := 0; i < 4; i++ {
		id := string(rune('a' + i))
		in = append(in, score("o"+id, "M", 3, 1, true, crucible.TaskDPO, time.Hour), score("o"+id, "N", 0, 1, true, crucible.TaskDPO, time.Hour))
		in = append(in, score("s"+id, "M", 0, 1, false, crucible.TaskDPO, time.Hour), score("s"+id, "N", 3, 1, false, crucible.TaskDPO, time.Hour))
	}
	got, err := s.Weights(in, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Hotkey != "N" {
		t.Fatalf("self-miner kept weight: %v", got)
	}
}

// TestWeightsGolden freezes the spec on a mixed scenario; any change to the
// rules must come with a new spec version and a deliberate golden update.
func TestWeightsGolden(t *testing.T) {
	for _, c := range []struct {
		version string
		types   []crucible.TaskType
		golden  string
	}{
		{scoring.SpecV1, []crucible.TaskType{crucible.TaskInstruct, crucible.TaskChat, crucible.TaskDPO, crucible.TaskText}, "weights_golden.json"},
		{scoring.SpecV2, crucible.TaskTypes, "weights_golden_v2.json"},
	} {
		t.Run(c.version, func(t *testing.T) { testWeightsGolden(t, scoring.Specs[c.version], c.types, c.golden) })
	}
}

func testWeightsGolden(t *testing.T, s scoring.Spec, types []crucible.TaskType, golden string) {
	var in []*crucible.Score
	hot := []string{"5Alpha", "5Bravo", "5Charlie", "5Delta", "5Echo"}
	for i := 0; i < 24; i++ {
		typ := types[i%len(types)]
		organic := i%3 == 0
		age := time.Duration(i*7) * time.Hour
		work := s.Work(float64(1+i%4), int64(1+i%5)*800e6)
		for j, h := range hot {
			q := 0.0
			switch (i + j) % 5 {
			case 0:
				q = 3
			case 4:
				q = -1
			}
			in = append(in, score("task"+string(rune('A'+i)), h, q, work, organic, typ, age))
		}
	}
	got, err := s.Weights(in, t0)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, w := range got {
		sum += w.Weight
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("weights sum to %v", sum)
	}
	b, _ := json.MarshalIndent(got, "", "  ")
	path := filepath.Join("testdata", golden)
	if *update {
		os.MkdirAll("testdata", 0o755)
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
	// Order of input must not matter.
	rev := make([]*crucible.Score, len(in))
	for i := range in {
		rev[len(in)-1-i] = in[i]
	}
	again, _ := s.Weights(rev, t0)
	b2, _ := json.MarshalIndent(again, "", "  ")
	if string(b2) != string(b) {
		t.Error("weights depend on the order of scores")
	}
}

func TestLookup(t *testing.T) {
	if _, err := scoring.Lookup(scoring.SpecV1); err != nil {
		t.Fatal(err)
	}
	if _, err := scoring.Lookup("v0"); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("unknown spec: %v", err)
	}
	bad := []*crucible.Score{score("t", "h", math.NaN(), 1, false, crucible.TaskText, time.Hour)}
	if _, err := scoring.Default().Weights(bad, t0); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("NaN score accepted: %v", err)
	}
}

// A grpo task ranks by reward, highest first, with non-finite rewards
// last; the loss field plays no part.
func TestRankByReward(t *testing.T) {
	r := func(v float64) *float64 { return &v }
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	results := []scoring.Result{
		{Hotkey: "5Low", Reward: r(0.1), Loss: -100, SHA256: "a", SubmittedAt: at},
		{Hotkey: "5High", Reward: r(0.9), Loss: 100, SHA256: "b", SubmittedAt: at},
		{Hotkey: "5NaN", Reward: r(math.NaN()), SHA256: "c", SubmittedAt: at},
		{Hotkey: "5Mid", Reward: r(0.5), SHA256: "d", SubmittedAt: at},
		{Hotkey: "5Failed", Failure: "no upload"},
	}
	got := scoring.Default().Rank.RankTask(results)
	var order []string
	for _, g := range got {
		order = append(order, g.Hotkey)
	}
	if strings.Join(order, " ") != "5High 5Mid 5Low 5NaN 5Failed" || got[0].Score != 3 || got[0].Reason != "highest reward" ||
		!strings.Contains(got[3].Reason, "reward is not finite") || got[4].Score != -1 {
		t.Fatalf("ranked %v: %+v", order, got)
	}
	if scoring.Default().TypeWeights[crucible.TaskGRPO] <= 0 {
		t.Error("the default spec gives grpo tasks no weight")
	}
}
