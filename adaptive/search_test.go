package adaptive

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// task is the synthetic task the searches run on: a 5.5M-parameter model,
// 1900 rows, three minutes.
var task = Features{Model: "tiny", Params: 5_500_000, Type: crucible.TaskInstruct, Rows: 1900, Budget: 180, Dataset: "facts"}

// bowl is a synthetic objective shaped like fine-tuning's: best with full
// fine-tuning at 3× the base rate, 8 epochs, batch 16, a cosine decay to
// zero; worse by the squared distance (in decades, octaves) from there.
// It returns the log of the loss over the base's.
func bowl(p Params) float64 {
	base := defaultBaseLR(task.Params, p.Full, task.Type)
	y := -1.5
	y += 0.8 * sq(math.Log10(p.LR/(3*base)))
	y += 0.25 * sq(math.Log2(p.Epochs/8))
	y += 0.02 * sq(math.Log2(float64(p.Batch)/16))
	y += 0.1 * p.MinLRRatio
	if !p.Full {
		y += 0.3 + 0.01*sq(math.Log2(float64(p.LoRARank)/64))
	}
	if p.Schedule == "linear" {
		y += 0.05
	}
	return y
}

func sq(x float64) float64 { return x * x }

// optimum is bowl's minimum on the search's lattice.
const optimum = -1.5

// trialOf records params with the outcome f gives them (plus noise).
func trialOf(i int, p Params, y float64) Trial {
	loss, base := math.Exp(y), 1.0
	return Trial{ID: fmt.Sprint("t", i), TaskID: fmt.Sprint("t", i), Own: true, At: time.Unix(int64(i), 0), Features: task, Params: p,
		Outcome: &Outcome{Loss: &loss, BaseLoss: &base}}
}

// runSearch runs n rounds of propose-and-observe and returns the best
// objective found after each round.
func runSearch(t *testing.T, f func(Params) float64, n int, seed uint64, noise float64) []float64 {
	t.Helper()
	var s Space
	var trials []Trial
	rng := rand.New(rand.NewPCG(seed, 7))
	best, curve := math.Inf(1), make([]float64, n)
	for i := range n {
		p := s.Propose(task, trials, seed+uint64(i)).Params
		if err := p.Check(); err != nil {
			t.Fatalf("round %d proposed %v: %v", i, p, err)
		}
		y := f(p)
		trials = append(trials, trialOf(i, p, y+noise*rng.NormFloat64()))
		best = math.Min(best, y)
		curve[i] = best
	}
	return curve
}

// randomSearch is the baseline: uniform points of the same space.
func randomSearch(f func(Params) float64, n int, seed uint64) float64 {
	s := Space{}.withDefaults()
	rng := rand.New(rand.NewPCG(seed, 11))
	best := math.Inf(1)
	for range n {
		x := make([]float64, nDims)
		for d := range x {
			x[d] = rng.Float64()
		}
		best = math.Min(best, f(s.decode(x, task, true)))
	}
	return best
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func TestSearchConverges(t *testing.T) {
	const rounds = 20
	var gpBest, rndBest []float64
	for seed := uint64(1); seed <= 5; seed++ {
		curve := runSearch(t, bowl, rounds, seed, 0)
		gpBest = append(gpBest, curve[rounds-1])
		rndBest = append(rndBest, randomSearch(bowl, rounds, seed))
		// The best known only improves, and the first round is the prior.
		for i := 1; i < rounds; i++ {
			if curve[i] > curve[i-1] {
				t.Fatalf("seed %d: best got worse at round %d", seed, i)
			}
		}
	}
	gm, rm := median(gpBest), median(rndBest)
	t.Logf("after %d rounds: gp median gap %.3f (per seed %.3f), random search %.3f", rounds, gm-optimum, gpBest, rm-optimum)
	if gm-optimum > 0.1 {
		t.Errorf("search ends %.3f above the optimum (median of 5 seeds); want within 0.1", gm-optimum)
	}
	if gm >= rm {
		t.Errorf("search (median %.3f) is no better than random search (%.3f)", gm, rm)
	}
}

func TestSearchWithNoise(t *testing.T) {
	var gaps []float64
	for seed := uint64(1); seed <= 3; seed++ {
		curve := runSearch(t, bowl, 20, seed, 0.05)
		gaps = append(gaps, curve[len(curve)-1]-optimum)
	}
	if g := median(gaps); g > 0.2 {
		t.Errorf("with noise the search ends %.3f above the optimum (median of 3 seeds); want within 0.2", g)
	}
}

// A published winner's recipe on the same task pulls the first proposal
// to it: a miner learns from the network before it has tried anything.
func TestSearchLearnsFromPublished(t *testing.T) {
	var s Space
	good := Params{Full: true, LR: sig2(3 * defaultBaseLR(task.Params, true, task.Type)), Epochs: 8, Batch: 16, Schedule: "cosine", Warmup: 0.05}
	poor := s.Prior(task)
	pub := []Trial{trialOf(1, good, bowl(good)), trialOf(2, poor, bowl(poor))}
	for i := range pub {
		pub[i].Own, pub[i].Hotkey = false, "other"
	}
	p := s.Propose(task, pub, 1)
	if y := bowl(p.Params); y > bowl(good)+0.15 {
		t.Errorf("proposed %v (objective %.3f) after a published %v (%.3f)", p.Params, y, good, bowl(good))
	}
	if p.Observations != 2 || p.SameTask != 2 || p.Reason == "" {
		t.Errorf("proposal %+v", p)
	}
	// Trials of another family teach nothing about this one.
	dpo := task
	dpo.Type = crucible.TaskDPO
	if q := s.Propose(dpo, pub, 4); q.Observations != 0 || q.Params != s.Prior(dpo) {
		t.Errorf("a DPO task learned from SFT trials: %+v", q)
	}
	// Without history, seeds spread the first tries over four recipes.
	seen := map[Params]bool{}
	for seed := range uint64(8) {
		p := s.Propose(dpo, nil, seed).Params
		if err := p.Check(); err != nil {
			t.Fatal(err)
		}
		seen[p] = true
	}
	if len(seen) != 4 {
		t.Errorf("%d initial recipes, want 4", len(seen))
	}
}

func TestSearchDeterministicAndBounded(t *testing.T) {
	var s Space
	trials := []Trial{trialOf(1, s.Prior(task), -0.5)}
	a, b := s.Propose(task, trials, 3), s.Propose(task, trials, 3)
	if a.Params != b.Params {
		t.Errorf("same history and seed gave %v and %v", a.Params, b.Params)
	}
	// A big model is never fine-tuned in full.
	big := task
	big.Params = 7_000_000_000
	for seed := uint64(0); seed < 5; seed++ {
		if p := s.Propose(big, trials, seed).Params; p.Full {
			t.Errorf("a 7B model got full fine-tuning: %v", p)
		}
	}
	// Failures and unknown outcomes: a failed trial steers away, an
	// unknown one is ignored.
	fail := trialOf(2, Params{Full: true, LR: 0.3, Epochs: 1, Batch: 4, Schedule: "linear"}, 0)
	fail.Outcome = &Outcome{Failure: "diverged"}
	unknown := trialOf(3, s.Prior(task), 0)
	unknown.Outcome = nil
	p := s.Propose(task, append(trials, fail, unknown), 3)
	if p.Observations != 2 {
		t.Errorf("observations %d, want 2 (the unknown outcome ignored)", p.Observations)
	}
}

func TestEncodeDecode(t *testing.T) {
	s := Space{}.withDefaults()
	for _, p := range []Params{
		s.Prior(task),
		{LoRARank: 32, LR: 0.0009, Epochs: 2.5, Batch: 8, Schedule: "linear", MinLRRatio: 0.3, Warmup: 0.1},
	} {
		q := s.decode(s.encode(p, task), task, true)
		if q != p {
			t.Errorf("decode(encode(%v)) = %v", p, q)
		}
	}
}

// Every corner of the search cube decodes to params a recipe can hold:
// the engine takes a final learning-rate ratio below 1 only.
func TestDecodeCorners(t *testing.T) {
	s := Space{}.withDefaults()
	x := make([]float64, dimParams)
	for mask := 0; mask < 1<<len(x); mask++ {
		for i := range x {
			x[i] = float64(mask >> i & 1)
		}
		p := s.decode(x, task, true)
		if err := p.Check(); err != nil || p.MinLRRatio >= 1 || p.Warmup >= 1 {
			t.Fatalf("corner %b: %v (%v)", mask, p, err)
		}
	}
}

// rugged is bowl with a deterministic ruggedness per recipe (as fine-tuning
// has: a slightly different schedule lands somewhere else), so that near
// recipes can score far apart and only a replay scores the same.
func rugged(p Params) float64 {
	h := fnv64(p.String())
	return bowl(p) + 0.15*(float64(h%1000)/1000-0.5)
}

func fnv64(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Once a miner has tried a task a few times it replays the best run known
// there about half the time (exactly that recipe) and explores otherwise;
// with fewer of its own trials it always explores.
func TestSearchExploitsTheBestKnown(t *testing.T) {
	var s Space
	var trials []Trial
	for i, p := range []Params{s.Prior(task), s.initial(task, 1), s.initial(task, 2), s.initial(task, 3)} {
		trials = append(trials, trialOf(i, p, rugged(p)))
	}
	bestP := trials[0].Params
	for _, tr := range trials {
		if rugged(tr.Params) < rugged(bestP) {
			bestP = tr.Params
		}
	}
	replays := 0
	for seed := range uint64(40) {
		prop := s.Propose(task, trials, seed)
		if prop.Params == bestP {
			replays++
			if !strings.HasPrefix(prop.Reason, "exploiting") {
				t.Errorf("replay without saying so: %s", prop.Reason)
			}
		}
	}
	if replays < 12 || replays > 28 {
		t.Errorf("with 4 own trials the best was replayed %d times in 40; want about half", replays)
	}
	for seed := range uint64(20) {
		if prop := s.Propose(task, trials[:2], seed); strings.HasPrefix(prop.Reason, "exploiting") {
			t.Errorf("seed %d: exploited after one own trial: %s", seed, prop.Reason)
		}
	}
}

// A miner entering a series of competitions on a rugged objective: after
// its first rounds, its entries stay close to the best it has found (it
// replays it between explorations) instead of scattering around it, and
// the search still improves on its first rounds.
func TestSearchRoundsStayNearTheBest(t *testing.T) {
	var s Space
	const rounds = 16
	var late, gaps []float64
	for seed := uint64(1); seed <= 6; seed++ {
		var trials []Trial
		best := math.Inf(1)
		firstBest := 0.0
		for i := range rounds {
			p := s.Propose(task, trials, seed*1000+uint64(i)).Params
			y := rugged(p)
			trials = append(trials, trialOf(i, p, y))
			best = math.Min(best, y)
			if i == 3 {
				firstBest = best
			}
			if i >= rounds/2 {
				late = append(late, y-best)
			}
		}
		gaps = append(gaps, best-firstBest)
	}
	if m := median(late); m > 0.02 {
		t.Errorf("late rounds' entries are a median %.3f above the best found; want a replay in most rounds' halves (≤ 0.02)", m)
	}
	if m := median(gaps); m >= 0 {
		t.Errorf("the best found after %d rounds is no better than after 4 (median change %.3f)", rounds, m)
	}
}
