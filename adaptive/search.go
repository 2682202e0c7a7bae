package adaptive

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
)

// Proposal is the search's choice for a task, and why.
type Proposal struct {
	Params Params `json:"params"`
	// Observations is the number of trials the choice was made from;
	// SameTask of them were on this model and dataset.
	Observations int `json:"observations"`
	SameTask     int `json:"same_task"`
	// Predicted is the loss the model expects as a share of the base's
	// (its standard deviation in PredictedSD, on the log scale), Best the
	// share of the best trial it knows; all 0 without history.
	Predicted   float64 `json:"predicted,omitempty"`
	PredictedSD float64 `json:"predicted_sd,omitempty"`
	Best        float64 `json:"best,omitempty"`
	Improvement float64 `json:"expected_improvement,omitempty"`
	Reason      string  `json:"reason"`
}

// maxObservations bounds the trials one proposal fits (the most relevant:
// alike tasks first, then the most recent).
const maxObservations = 300

// Search sizes: uniform candidates, and local ones around each of the best
// trials.
const (
	uniformCandidates = 2000
	localCandidates   = 80
	localAround       = 5
	localStep         = 0.07
	improvementMargin = 0.01 // in standardized units
)

// Exploitation: after exploreFirst own trials on a task, a proposal
// replays the best known run there with probability exploitShare.
const (
	exploreFirst = 3
	exploitShare = 0.5
)

// Propose chooses the params for a task with features f from the trials
// known (any task, any miner; trials of another task family and trials
// without a known outcome are ignored). With no usable trial it returns
// the prior; otherwise it fits a Gaussian process to the trials'
// objectives and picks the candidate recipe with the largest expected
// improvement over the best. Given the same trials and seed the proposal
// is the same.
func (s Space) Propose(f Features, trials []Trial, seed uint64) Proposal {
	s = s.withDefaults()
	fullOK := f.Params <= s.FullMaxParams
	type obs struct {
		t      Trial
		y      float64
		failed bool
		dist   float64
	}
	here := s.encode(s.Prior(f), f)
	var known []obs
	for _, t := range trials {
		if family(t.Features.Type) != family(f.Type) || t.Params.Check() != nil {
			continue
		}
		y, ok, failed := t.Outcome.Objective()
		if !ok || math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		x := s.encode(t.Params, t.Features)
		d := 0.0
		for i := nParamDims; i < nDims; i++ {
			d += (x[i] - here[i]) * (x[i] - here[i])
		}
		if t.Features.Model != f.Model || t.Features.Dataset != f.Dataset {
			d += 1e-6 // the same task first among alike ones
		}
		known = append(known, obs{t: t, y: y, failed: failed, dist: d})
	}
	if len(known) == 0 {
		p := s.initial(f, seed)
		return Proposal{Params: p, Reason: "no trials of this kind of task yet: one of the initial recipes (" + p.String() + ")"}
	}
	sort.SliceStable(known, func(a, b int) bool {
		if known[a].dist != known[b].dist {
			return known[a].dist < known[b].dist
		}
		return known[a].t.At.After(known[b].t.At)
	})
	if len(known) > maxObservations {
		known = known[:maxObservations]
	}
	// A failed run scores as the worst known outcome, and no better than
	// the base model.
	worst := 0.0
	for _, o := range known {
		if !o.failed {
			worst = math.Max(worst, o.y)
		}
	}
	xs := make([][]float64, len(known))
	ys := make([]float64, len(known))
	same := 0
	for i, o := range known {
		xs[i], ys[i] = s.encode(o.t.Params, o.t.Features), o.y
		if o.failed {
			ys[i] = worst + 0.1
		}
		if o.dist == 0 {
			same++
		}
	}
	g, err := fitGP(xs, ys)
	if err != nil {
		p := s.Prior(f)
		return Proposal{Params: p, Observations: len(known), SameTask: same, Reason: "no model fits the trials: the prior recipe"}
	}
	// The incumbent: the best predicted outcome of a known recipe on this
	// task.
	best := math.Inf(1)
	var bestParams Params
	for _, o := range known {
		if o.failed {
			continue
		}
		mu, _ := g.predict(s.encode(o.t.Params, f))
		if mu < best {
			best, bestParams = mu, o.t.Params
		}
	}
	if math.IsInf(best, 1) {
		best = worst
	}
	// The epochs the budget allows: trials record the epochs that ran (a
	// budget that cuts a run sizes its schedule to what fits), so asking
	// for much more than the most any run on this task got is asking for
	// the same.
	maxRan := 0.0
	for _, o := range known {
		if o.dist == 0 && !o.failed {
			maxRan = math.Max(maxRan, o.t.Params.Epochs)
		}
	}
	epochCap := 0.0
	if maxRan > 0 {
		epochCap = math.Max(math.Round(maxRan*1.3*10)/10, s.Epochs[0])
	}
	rng := rand.New(rand.NewPCG(seed, featureHash(f)))
	seen := map[Params]bool{}
	var cands []Params
	add := func(x []float64) {
		for i := nParamDims; i < nDims; i++ {
			x[i] = here[i]
		}
		p := s.decode(x, f, fullOK)
		if epochCap > 0 && p.Epochs > epochCap {
			p.Epochs = epochCap
		}
		if !seen[p] {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	add(here)
	ranked := append([]obs(nil), known...)
	sort.SliceStable(ranked, func(a, b int) bool { return ranked[a].y < ranked[b].y })
	for i := 0; i < min(localAround, len(ranked)); i++ {
		if ranked[i].failed {
			continue
		}
		center := s.encode(ranked[i].t.Params, f)
		for j := range localCandidates {
			x := append([]float64(nil), center...)
			step := localStep
			if j%2 == 1 {
				step /= 3 // half of them close by
			}
			for d := 0; d < nParamDims; d++ {
				if j%3 == 2 && rng.Float64() < 0.5 {
					continue // and a third move only some settings
				}
				x[d] = math.Max(0, math.Min(1, x[d]+step*rng.NormFloat64()))
			}
			if rng.Float64() < 0.1 {
				x[dimFull] = 1 - x[dimFull] // now and then the other mode
			}
			add(x)
		}
	}
	for range uniformCandidates {
		x := make([]float64, nDims)
		for d := 0; d < nParamDims; d++ {
			x[d] = rng.Float64()
		}
		add(x)
	}
	// Exploit: a competition scores every task, so a miner that knows a
	// good recipe for this task uses it again rather than always trying a
	// new one. The best known run on this very task (its training is
	// deterministic given the seed, and on a compute budget a replay of a
	// miner's own run scores what it scored) is replayed half the time
	// once the miner has tried the task exploreFirst times itself (before
	// that it always explores), so that the best it has found is what it
	// enters between explorations.
	rng2 := rand.New(rand.NewPCG(seed, featureHash(f)^0x6578706c6f6974))
	own, bestHere := 0, -1
	for i, o := range known {
		if o.dist != 0 || o.failed {
			continue
		}
		if o.t.Own {
			own++
		}
		if bestHere < 0 || o.y < known[bestHere].y || (o.y == known[bestHere].y && o.t.Own && !known[bestHere].t.Own) {
			bestHere = i
		}
	}
	if bestHere >= 0 && own >= exploreFirst && rng2.Float64() < exploitShare {
		o := known[bestHere]
		whose := "another miner's"
		if o.t.Own {
			whose = "this miner's own"
		}
		mu, sd := g.predict(s.encode(o.t.Params, f))
		return Proposal{Params: o.t.Params, Observations: len(known), SameTask: same, Predicted: math.Exp(mu), PredictedSD: sd, Best: math.Exp(best),
			Reason: fmt.Sprintf("exploiting: the best run known on this task, %s %s (%.3g× the base's loss), again (after %d own trials on the task a miner replays the best known %.0f%% of the time)",
				whose, o.t.Params, math.Exp(o.y), own, 100*exploitShare)}
	}
	scaleXi := improvementMargin * g.scale
	var choice Params
	choiceEI, choiceMu, choiceSD := -1.0, 0.0, 0.0
	for _, p := range cands {
		mu, sd := g.predict(s.encode(p, f))
		ei := expectedImprovement(mu, sd, best, scaleXi)
		if ei > choiceEI {
			choice, choiceEI, choiceMu, choiceSD = p, ei, mu, sd
		}
	}
	why := fmt.Sprintf("Gaussian process over %d trials (%d on this task): predicts %.3g× the base's loss (±%.0f%%) for %s; the best known, %s, %.3g×; expected improvement %.3g",
		len(known), same, math.Exp(choiceMu), 100*(math.Exp(choiceSD)-1), choice, bestParams, math.Exp(best), choiceEI)
	if family(f.Type) == "grpo" {
		why = fmt.Sprintf("Gaussian process over %d trials (%d on this task): predicts a reward gain of %.3g (±%.3g) for %s; the best known gains %.3g",
			len(known), same, -choiceMu, choiceSD, choice, -best)
	}
	return Proposal{Params: choice, Observations: len(known), SameTask: same, Predicted: math.Exp(choiceMu), PredictedSD: choiceSD,
		Best: math.Exp(best), Improvement: choiceEI, Reason: why}
}

// initial is the recipe tried with no history: the prior, or by the seed
// modulo 4 one of three variations of it (a higher rate and more epochs; a smaller batch
// with a linear decay; many epochs down to zero), so that miners starting
// together try different things and the first results teach more.
func (s Space) initial(f Features, seed uint64) Params {
	p := s.Prior(f)
	switch seed % 4 {
	case 1:
		p.LR, p.Epochs = sig2(3*p.LR), 6
	case 2:
		p.LR, p.Epochs, p.Batch, p.Schedule = sig2(2*p.LR), 4, 8, "linear"
	case 3:
		p.Epochs, p.MinLRRatio = 8, 0
	}
	return p
}

// featureHash seeds the candidates per task, so that two tasks with the
// same history do not get the same random candidates.
func featureHash(f Features) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%d|%s|%d|%g|%s", f.Model, f.Params, f.Type, f.Rows, f.Budget, f.Dataset)
	return h.Sum64()
}
