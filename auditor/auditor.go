// Package auditor re-checks a validator from the outside, so nobody has to
// trust it: it reads the validator's public results log, verifies the hash
// chain and every signature, recomputes each published weight vector from
// the logged task results with the same scoring code, compares the
// validator's weights on chain with what it published, re-runs the
// evaluation of a random sample of submissions (the evaluator is
// deterministic, so each loss must match exactly; a loss of the PyTorch
// evaluator must match within crucible.TorchTolerance), reports every
// discrepancy, and sets its own weights from its own recomputation.
package auditor

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
)

// Config configures an auditor.
type Config struct {
	ValidatorHotkey string  // the SS58 address whose log is audited
	MinCosine       float64 // on-chain weights below this cosine similarity to the published ones are flagged
	Sample          int     // submissions re-evaluated per audit
	Seed            uint64  // seeds the choice of the sample
}

// Evaluator re-computes a submission's metric as the validator's evaluator
// did: the test loss, or for a grpo task the reward score (higher is
// better). A loss is computed with the evaluator kind the results log names
// (req.Evaluator), bit for bit for crucible's engine, within
// crucible.TorchTolerance for the PyTorch evaluator.
type Evaluator interface {
	Evaluate(ctx context.Context, req EvalRequest) (metric float64, failure string, err error)
}

// NumericsReporter is an Evaluator that names the arithmetic class of its
// results (resultlog.TaskResult.Numerics) and the relative difference it
// allows from a loss logged by an evaluator of another class. Without it,
// or when the log records no class, every re-evaluation must match bit for
// bit.
type NumericsReporter interface {
	Numerics() string
	NumericsBound() float64
}

// EvalRequest names what to re-evaluate.
type EvalRequest struct {
	TaskType crucible.TaskType
	BaseDir  string
	ModelDir string
	TestPath string
	Mapping  crucible.ColumnMapping
	// Rewards and Seed are a grpo task's reward functions and evaluation
	// seed (crucible.EvalSeed of the task).
	Rewards []crucible.Reward
	Seed    uint64
	// Evaluator is the kind of evaluator the validator logged the loss
	// with (crucible.EvaluatorEngine or crucible.EvaluatorTorch; empty for
	// entries from before it was recorded: the engine).
	Evaluator string
}

// Models resolves a base model name to a directory.
type Models interface {
	ResolveModel(ctx context.Context, name string) (string, error)
}

// WeightSetter sets the auditor's own weights.
type WeightSetter interface {
	SetWeights(ctx context.Context, weights []scoring.Weight) (block int64, err error)
}

// Auditor audits one validator.
type Auditor struct {
	cfg     Config
	src     Source
	eval    Evaluator
	models  Models
	verify  resultlog.VerifyFunc
	onChain func(ctx context.Context) (map[string]float64, error) // the validator's weights on chain by hotkey; nil skips the check
	setter  WeightSetter
	now     func() time.Time
}

// Deps are an auditor's collaborators. Eval and Models may be nil to skip
// re-evaluation; OnChain nil skips the chain comparison; Setter nil only
// reports.
type Deps struct {
	Source  Source
	Eval    Evaluator
	Models  Models
	Verify  resultlog.VerifyFunc
	OnChain func(ctx context.Context) (map[string]float64, error)
	Setter  WeightSetter
	Now     func() time.Time
}

// New returns an auditor.
func New(cfg Config, d Deps) (*Auditor, error) {
	if cfg.ValidatorHotkey == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "auditor: the validator's hotkey is required")
	}
	if d.Source == nil || d.Verify == nil {
		return nil, crucible.Errorf(crucible.EINVALID, "auditor: a source and a signature verifier are required")
	}
	if cfg.MinCosine == 0 {
		cfg.MinCosine = 0.98
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Auditor{cfg: cfg, src: d.Source, eval: d.Eval, models: d.Models, verify: d.Verify,
		onChain: d.OnChain, setter: d.Setter, now: d.Now}, nil
}

// Report is the outcome of one audit.
type Report struct {
	Entries       int                `json:"entries"`
	Tasks         int                `json:"tasks"`
	Tournaments   int                `json:"tournaments"`
	WeightSets    int                `json:"weight_sets"`
	Reevaluated   []Reevaluation     `json:"reevaluated"`
	OnChainCosine *float64           `json:"on_chain_cosine,omitempty"`
	Weights       []scoring.Weight   `json:"weights"` // the auditor's own recomputation, now
	Discrepancies []Discrepancy      `json:"discrepancies"`
	Published     map[string]float64 `json:"published,omitempty"`     // the validator's latest published weights
	WeightsBlock  int64              `json:"weights_block,omitempty"` // where the auditor's own weights were set
	WeightsError  string             `json:"weights_error,omitempty"` // why they could not be set
}

// Reevaluation is one re-run of a submission's evaluation.
type Reevaluation struct {
	TaskID     string  `json:"task_id"`
	Hotkey     string  `json:"hotkey"`
	Logged     float64 `json:"logged_loss"`
	Recomputed float64 `json:"recomputed_loss"`
	Match      bool    `json:"match"`
	// Numerics is the validator's arithmetic class when it differs from
	// the auditor's; Match then means within Bound (relative), and a
	// sampled grpo reward, which rounding can change, is not compared
	// (Skipped says why).
	Numerics string  `json:"numerics,omitempty"`
	Bound    float64 `json:"bound,omitempty"`
	Skipped  string  `json:"skipped,omitempty"`
	// Evaluator is the kind the loss was logged and re-run with.
	Evaluator string `json:"evaluator,omitempty"`
}

// Discrepancy is something the validator published that does not hold up.
type Discrepancy struct {
	Seq     int64  `json:"seq,omitempty"` // the log entry, when there is one
	TaskID  string `json:"task_id,omitempty"`
	Message string `json:"message"`
}

// OK reports whether the audit found nothing wrong.
func (r *Report) OK() bool { return len(r.Discrepancies) == 0 }

// Audit runs one audit over the whole log.
func (a *Auditor) Audit(ctx context.Context) (*Report, error) {
	entries, err := readAll(ctx, a.src)
	if err != nil {
		return nil, err
	}
	r := &Report{Entries: len(entries)}
	flag := func(seq int64, task, format string, args ...any) {
		r.Discrepancies = append(r.Discrepancies, Discrepancy{Seq: seq, TaskID: task, Message: fmt.Sprintf(format, args...)})
	}
	for _, p := range resultlog.Verify(entries, 1, "", a.cfg.ValidatorHotkey, a.verify) {
		flag(p.Seq, "", "log: %s", p.Message)
	}
	tasks, _, err := resultlog.Decode(entries)
	if err != nil {
		return nil, err
	}
	r.Tasks = len(tasks)

	// Every task's scores must follow from its logged losses and failures.
	for i, e := range entries {
		if e.Kind != resultlog.KindTaskResult {
			continue
		}
		t, _, _ := resultlog.Decode(entries[i : i+1])
		a.checkRanking(t[0], e.Seq, flag)
	}
	// Every tournament must follow from its entries and its tasks' logged
	// results, and every published weight vector from the tasks and the
	// latest tournament logged before it.
	var latest *resultlog.Weights
	var seen []resultlog.TaskResult
	ta := &tournamentAudit{a: a, byTask: map[string]resultlog.TaskResult{}, flag: flag}
	for _, e := range entries {
		ts, ws, err := resultlog.Decode([]*crucible.ResultEntry{e})
		if err != nil {
			return nil, err
		}
		seen = append(seen, ts...)
		for _, t := range ts {
			ta.byTask[t.TaskID] = t
		}
		tours, err := resultlog.DecodeTournaments([]*crucible.ResultEntry{e})
		if err != nil {
			return nil, err
		}
		for _, t := range tours {
			ta.check(t, e.Seq)
		}
		for _, w := range ws {
			r.WeightSets++
			w := w
			latest = &w
			spec, err := scoring.Lookup(w.SpecVersion)
			if err != nil {
				flag(e.Seq, "", "weights: %v", err)
				continue
			}
			want, err := spec.Vector(resultlog.Scores(seen), ta.last, w.ComputedAt)
			if err != nil {
				flag(e.Seq, "", "weights: %v", err)
				continue
			}
			if d := maxDiff(toMap(want), w.Weights); d > 1e-9 {
				flag(e.Seq, "", "published weights differ from the recomputation by up to %.3g", d)
			}
		}
	}
	if latest != nil {
		r.Published = latest.Weights
		if a.onChain != nil {
			chainW, err := a.onChain(ctx)
			if err != nil {
				return nil, fmt.Errorf("read the validator's weights on chain: %w", err)
			}
			c := cosine(onChain(latest), chainW)
			r.OnChainCosine = &c
			if c < a.cfg.MinCosine {
				flag(0, "", "weights on chain have cosine similarity %.4f to the published ones (threshold %.2f)", c, a.cfg.MinCosine)
			}
		}
	}
	if err := a.reevaluate(ctx, tasks, r, flag); err != nil {
		return nil, err
	}
	r.Tournaments = ta.count
	w, err := scoring.Default().Vector(resultlog.Scores(tasks), ta.last, a.now())
	if err != nil {
		return nil, err
	}
	r.Weights = w
	if a.setter != nil && len(w) > 0 {
		// Failing to set weights (no permit yet, rate limit) does not void
		// the audit: it is reported with it.
		if block, err := a.setter.SetWeights(ctx, w); err != nil {
			r.WeightsError = err.Error()
		} else {
			r.WeightsBlock = block
		}
	}
	return r, nil
}

// checkRanking recomputes a task's scores from its logged losses.
func (a *Auditor) checkRanking(t resultlog.TaskResult, seq int64, flag func(int64, string, string, ...any)) {
	spec, err := scoring.Lookup(t.SpecVersion)
	if err != nil {
		flag(seq, t.TaskID, "%v", err)
		return
	}
	var in []scoring.Result
	for _, m := range t.Miners {
		res := scoring.Result{Hotkey: m.Hotkey, Failure: m.Failure, SHA256: m.SHA256, Loss: math.NaN(), SubmittedAt: t.FinishedAt}
		if m.Loss != nil {
			res.Loss = *m.Loss
		}
		if t.TaskType == crucible.TaskGRPO {
			score := math.NaN()
			if m.Reward != nil {
				score = m.Reward.Score
			}
			res.Reward = &score // ranked by reward, highest first
		}
		// Duplicates were decided on upload times, which the log does not
		// carry: take the logged failure as given and check the rest.
		if m.Failure != "" {
			res.SHA256 = ""
		}
		in = append(in, res)
	}
	ranked := spec.Rank.RankTask(in)
	got := map[string]float64{}
	for _, x := range ranked {
		got[x.Hotkey] = x.Score
	}
	for _, m := range t.Miners {
		if got[m.Hotkey] != m.Score {
			flag(seq, t.TaskID, "%s scored %g, but its logged result earns %g", m.Hotkey, m.Score, got[m.Hotkey])
		}
	}
	if want := spec.Work(t.Hours, t.ModelParams); math.Abs(want-t.Work) > 1e-12 {
		flag(seq, t.TaskID, "work %g does not follow from %g hours and %d parameters (want %g)", t.Work, t.Hours, t.ModelParams, want)
	}
}

// sample picks up to n (task, miner) pairs with a loss, reproducibly.
func sample(tasks []resultlog.TaskResult, n int, seed uint64) [][2]int {
	var all [][2]int
	for i, t := range tasks {
		for j, m := range t.Miners {
			if (m.Loss != nil || m.Reward != nil) && m.ResultKey != "" {
				all = append(all, [2]int{i, j})
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	rng.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
	all = all[:min(n, len(all))]
	sort.Slice(all, func(a, b int) bool {
		if all[a][0] != all[b][0] {
			return all[a][0] < all[b][0]
		}
		return all[a][1] < all[b][1]
	})
	return all
}

func toMap(w []scoring.Weight) map[string]float64 {
	m := make(map[string]float64, len(w))
	for _, x := range w {
		m[x.Hotkey] = x.Weight
	}
	return m
}

func maxDiff(a, b map[string]float64) float64 {
	d := 0.0
	for k, v := range a {
		d = math.Max(d, math.Abs(v-b[k]))
	}
	for k, v := range b {
		d = math.Max(d, math.Abs(v-a[k]))
	}
	return d
}

// cosine is the cosine similarity of two sparse vectors; 1 when both are empty.
func cosine(a, b map[string]float64) float64 {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var ab, aa, bb float64
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ab += a[k] * b[k]
		aa += a[k] * a[k]
		bb += b[k] * b[k]
	}
	if aa == 0 && bb == 0 {
		return 1
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// onChain is a published vector as the validator set it on chain: the
// burned share on its burn hotkey, or left off when it named none.
func onChain(w *resultlog.Weights) map[string]float64 {
	out := make(map[string]float64, len(w.Weights))
	for h, x := range w.Weights {
		if h == scoring.BurnKey {
			if w.BurnHotkey == "" {
				continue
			}
			h = w.BurnHotkey
		}
		out[h] += x
	}
	return out
}
