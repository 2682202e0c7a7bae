package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/optim"
)

// ErrBudget is returned when the time budget cannot fit a single step.
var ErrBudget = errors.New("time budget too small")

// run is the state of one training run.
type run struct {
	ctx context.Context
	now func() time.Time // the clock deadline decisions read (Config.Clock)
	// meter is the clock the run times its work with (steps, validations,
	// checkpoints): the real one, or the compute clock.
	meter  func() time.Time
	m      *model.Model
	cfg    Config
	obj    objective
	params []*optim.Param
	opt    *optim.AdamW
	res    *Result
	start  time.Time // on the run's clock
	wall   time.Time // the real start
	hard   time.Time // the deadline less the caller's reserve; zero: none
	cost   costModel // the cost of the work, for a compute clock

	batches      epochOrder
	epoch        int
	pos          int
	perEpoch     int // optimizer steps per epoch
	epochs       float64
	total        int
	warmup       int
	evalEvery    int
	evalDur      time.Duration
	ckptDur      time.Duration
	lastCkpt     time.Time
	ckptPath     string
	stepDurs     []time.Duration
	budgetCut    bool    // the time budget shortened the plan
	plannedTotal int     // the total last logged
	valTokens    int     // tokens of the validation slice
	valFLOPs     float64 // the cost of a validation
	stepCost     float64 // a training token's cost in validation tokens

	best      snapshot
	bestVal   float64
	bestStep  int
	bestAcc   float64
	bestMar   float64
	badEvals  int
	lastLoss  []float64
	tokens    int64
	trainTime time.Duration
}

func (r *run) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		r.cfg.Log(fmt.Sprintf(format, args...))
	}
}

func (r *run) choose(name string, value any, reason string) {
	r.res.Choices = append(r.res.Choices, Choice{Name: name, Value: value, Reason: reason})
	r.logf("%s = %v: %s", name, value, reason)
}

// revise records the latest value of a choice that is revised as the run
// goes (replacing the earlier entry), logging it when log is set.
func (r *run) revise(name string, value any, reason string, log bool) {
	for i, c := range r.res.Choices {
		if c.Name == name {
			r.res.Choices[i] = Choice{Name: name, Value: value, Reason: reason}
			if log {
				r.logf("%s = %v: %s", name, value, reason)
			}
			return
		}
	}
	r.choose(name, value, reason)
}

func (r *run) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.res.Warnings = append(r.res.Warnings, msg)
	r.logf("warning: %s", msg)
}

func (r *run) metric(v map[string]any) {
	if r.cfg.Metrics == nil {
		return
	}
	for k, x := range v {
		if f, ok := x.(float64); ok && !finite(f) {
			v[k] = nil // JSON has no NaN or infinity
		}
	}
	b, err := json.Marshal(v)
	if err == nil {
		r.cfg.Metrics.Write(append(b, '\n'))
	}
}

// charge advances a compute clock by flops (nothing on another clock).
func (r *run) charge(flops float64) {
	if r.cfg.Compute != nil {
		r.cfg.Compute.Add(flops)
	}
}

// seqLens are the lengths of the sequences of micro-batches (both of each
// DPO pair's).
func (r *run) seqLens(mbs []microBatch) []int {
	var lens []int
	for _, mb := range mbs {
		for _, i := range mb {
			lens = append(lens, r.obj.seqLens(i)...)
		}
	}
	return lens
}

// stepFLOPs is the cost of an optimizer step over mbs.
func (r *run) stepFLOPs(mbs []microBatch) float64 {
	refs := 0
	if _, ok := r.obj.(*dpo); ok {
		refs = 1 // the reference pass (cached after the first epoch; charged every time, as a bound)
	}
	return r.cost.step(refs, r.seqLens(mbs)...)
}

// timeLeft is the time until the hard deadline (a large value without one).
func (r *run) timeLeft() time.Duration {
	if r.hard.IsZero() {
		return math.MaxInt64
	}
	return r.hard.Sub(r.now())
}

// worstStep is the longest of the recent steps.
func (r *run) worstStep() time.Duration {
	var w time.Duration
	for _, d := range r.stepDurs[max(0, len(r.stepDurs)-10):] {
		w = max(w, d)
	}
	return w
}

func (r *run) meanStep() time.Duration {
	if len(r.stepDurs) == 0 {
		return 0
	}
	var s time.Duration
	recent := r.stepDurs[max(0, len(r.stepDurs)-20):]
	for _, d := range recent {
		s += d
	}
	return s / time.Duration(len(recent))
}

// Run trains m (its trainable params: an attached LoRA adapter and/or the
// base when SetTrainBase(true)) on d. It returns with the best weights it
// found in m. Errors: bad data or config, a budget that fits no step,
// a loss that diverges before any good weights exist, a failed checkpoint
// write (the previous checkpoint stays intact).
func Run(ctx context.Context, m *model.Model, d Data, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	cfg = cfg.withDefaults()
	r := &run{ctx: ctx, m: m, cfg: cfg, res: &Result{InitialValLoss: math.NaN(), ValLoss: math.NaN()}, wall: time.Now(), now: cfg.Clock}
	r.meter = time.Now
	switch {
	case cfg.Compute != nil:
		r.now, r.meter = cfg.Compute.Now, cfg.Compute.Now
	case r.now == nil:
		r.now = time.Now
	}
	r.start = r.meter()
	if !cfg.Deadline.IsZero() {
		r.hard = cfg.Deadline.Add(-cfg.Reserve)
		if !r.now().Before(r.hard) {
			return nil, fmt.Errorf("train: %w: the deadline (less %s reserved for saving) has already passed", ErrBudget, cfg.Reserve)
		}
	}
	prec, _ := kernel.ParsePrecision(cfg.Precision) // checked by Validate
	m.SetPrecision(prec)
	r.choose("precision", prec.String(), precisionReason(cfg.Precision, prec))
	if !m.TrainsBase() && m.LoRA() != nil {
		switch held, err := m.HoldBaseBF16(); {
		case err != nil:
			return nil, fmt.Errorf("train: %w", err)
		case held:
			r.choose("frozen base", "bf16", "its weights are bf16 values: held as bf16 only, half the memory, the same results")
		default:
			r.choose("frozen base", "fp32", "its weights are not all bf16 values: kept in float32, since rounding them would change the model")
		}
	}
	r.params = m.TrainableParams()
	if len(r.params) == 0 {
		return nil, errors.New("train: the model has nothing to train: attach a LoRA adapter or call SetTrainBase(true)")
	}
	r.cost = newCostModel(m)
	if err := r.setup(d); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	err := r.loop()
	r.res.Duration = time.Since(r.wall)
	if cfg.Compute != nil {
		r.res.ComputeGFLOP = math.Round(cfg.Compute.FLOPs()/1e6) / 1e3
		r.res.ComputeTime = r.meter().Sub(r.start)
	}
	if err != nil {
		return r.res, fmt.Errorf("train: %w", err)
	}
	return r.res, nil
}

// precisionReason explains the arithmetic a run uses.
func precisionReason(asked string, p kernel.Precision) string {
	switch {
	case asked != "" && asked != "auto":
		return "as given"
	case p == kernel.BF16:
		return fmt.Sprintf("the CPU multiplies bf16 in hardware (%s): bf16 matrix products with float32 sums, weights and gradients; AdamW moments in bf16", kernel.BF16Variants()[0])
	}
	return "the CPU has no bf16 instructions (AMX-BF16 or AVX512_BF16)"
}

// setup checks the data, holds out validation, builds the objective and
// plans the epochs.
func (r *run) setup(d Data) error {
	cfg := &r.cfg
	if d.DPO() && (len(d.Train) > 0 || (d.Source != nil && len(d.Pairs) > 0)) {
		return errors.New("data holds both sequences and pairs")
	}
	train, val, err := d.sources()
	if err != nil {
		return err
	}
	dpoData := d.DPO()
	train, err = r.usable(train, dpoData)
	if err != nil {
		return err
	}
	if val != nil {
		if val, err = r.checkLengths("validation ", val, dpoData); err != nil {
			return err
		}
	}
	if val == nil {
		n := train.Len()
		if dpoData {
			n = eval.Pairs(train)
		}
		r.holdOut(n, func(ti, vi []int32) {
			if dpoData {
				train, val = eval.PairSubset(train, ti), eval.PairSubset(train, vi)
			} else {
				train, val = eval.Subset(train, ti), eval.Subset(train, vi)
			}
		})
	}
	if val != nil {
		lens := make([]int, val.Len())
		for i := range lens {
			lens[i] = val.SeqLen(i)
			r.valTokens += lens[i]
		}
		r.valFLOPs = r.cost.forward(lens...)
	}
	if dpoData {
		// The reference is the frozen base: for full fine-tuning a copy of
		// the weights before training; with LoRA the base weights never
		// change and the adapter is zeroed for the reference pass.
		var ref *model.Model
		if r.m.TrainsBase() {
			var err error
			if ref, err = model.New(r.m.Config(), 0); err != nil {
				return err
			}
			copy(ref.Params(), r.m.Params())
			ref.SetPrecision(r.m.Precision())
		}
		r.obj = newDPO(r.m, ref, train, val, cfg.Beta, cfg.EvalOptions)
		r.stepCost = 5 // reference and policy forward passes, then forward-backward
		r.choose("objective", "dpo", fmt.Sprintf("preference pairs; DPO sigmoid loss with beta %g against the starting weights as reference", cfg.Beta))
	} else {
		r.obj = newSFT(r.m, train, val, cfg.EvalOptions)
		r.stepCost = 3.5 // forward-backward against a forward-only pass
		r.choose("objective", "masked cross-entropy", "loss on the scored (response) tokens only")
	}
	r.batches = epochBatches(r.obj.lengths(), cfg.BatchSize, r.batchTokens(), cfg.Seed, 0)
	r.perEpoch = (r.batches.len() + cfg.GradAccum - 1) / cfg.GradAccum
	n := len(r.obj.lengths())
	if cfg.Epochs > 0 {
		r.epochs = cfg.Epochs
	} else {
		r.epochs = float64(min(10, max(1, (4000+n-1)/n)))
		r.choose("epochs", r.epochs, fmt.Sprintf("%d training examples: about 4000 examples' worth of passes, 1 to 10 (the time budget and early stopping may end it sooner)", n))
	}
	r.total = max(1, int(math.Ceil(r.epochs*float64(r.perEpoch))))
	if cfg.MaxSteps > 0 && r.total > cfg.MaxSteps {
		r.total = cfg.MaxSteps
	}
	r.warmup = max(1, int(math.Round(cfg.WarmupRatio*float64(r.total))))
	return nil
}

// sources returns the training and validation data as Sources (val nil
// when it is to be carved out of the training data), checking in-memory
// sequences for matching ids and labels.
func (d *Data) sources() (train, val eval.Source, err error) {
	checkIDs := func(what string, i int, s Sequence) error {
		if len(s.IDs) != len(s.Labels) {
			return fmt.Errorf("%s %d has %d ids and %d labels", what, i, len(s.IDs), len(s.Labels))
		}
		return nil
	}
	switch {
	case d.Source != nil:
		train, val = d.Source, d.ValSource
	case len(d.Pairs) > 0:
		for i, p := range append(slices.Clip(d.Pairs), d.ValPairs...) {
			if err := checkIDs("pair chosen", i, p.Chosen); err != nil {
				return nil, nil, err
			}
			if err := checkIDs("pair rejected", i, p.Rejected); err != nil {
				return nil, nil, err
			}
		}
		train = eval.PairsOf(d.Pairs)
		if d.ValPairs != nil {
			val = eval.PairsOf(d.ValPairs)
		}
	default:
		for i, s := range append(slices.Clip(d.Train), d.Val...) {
			if err := checkIDs("sequence", i, s); err != nil {
				return nil, nil, err
			}
		}
		train = eval.Sequences(d.Train)
		if d.Val != nil {
			val = eval.Sequences(d.Val)
		}
	}
	return train, val, nil
}

// checkLengths rejects sequences longer than the model takes.
func (r *run) checkLengths(what string, src eval.Source, dpo bool) (eval.Source, error) {
	maxLen := r.m.Config().MaxPositions
	for i := range src.Len() {
		if n := src.SeqLen(i); n > maxLen+1 {
			name := fmt.Sprintf("%ssequence %d", what, i)
			if dpo {
				name = fmt.Sprintf("%spair %d %s", what, i/2, [2]string{"chosen", "rejected"}[i%2])
			}
			return nil, fmt.Errorf("%s has %d tokens; the model takes at most %d (truncate first)", name, n, maxLen+1)
		}
	}
	return src, nil
}

// usable checks the training data's lengths and keeps the examples with
// something to learn: a scored token after the first (for DPO on both
// sides of the pair).
func (r *run) usable(src eval.Source, dpo bool) (eval.Source, error) {
	if _, err := r.checkLengths("", src, dpo); err != nil {
		return nil, err
	}
	keep := func(i int) bool { return src.SeqLen(i) >= 2 && src.Counted(i) > 0 }
	n, step := src.Len(), 1
	if dpo {
		n, step = eval.Pairs(src), 2
	}
	var idx []int32
	for k := range n {
		ok := keep(k * step)
		if dpo {
			ok = ok && keep(k*step+1)
		}
		if ok && idx != nil {
			idx = append(idx, int32(k))
		}
		if !ok && idx == nil {
			// The first unusable example: from now on keep a list.
			idx = make([]int32, k, n)
			for j := range idx {
				idx[j] = int32(j)
			}
		}
	}
	kept := n
	if idx != nil {
		kept = len(idx)
	}
	if kept == 0 {
		if dpo {
			return nil, errors.New("no usable pairs: none has answer tokens on both sides")
		}
		return nil, errors.New("no usable sequences: none has a scored token")
	}
	if idx == nil {
		return src, nil
	}
	if dpo {
		return eval.PairSubset(src, idx), nil
	}
	return eval.Subset(src, idx), nil
}

// holdOut carves the validation slice out of n training examples.
func (r *run) holdOut(n int, apply func(trainIdx, valIdx []int32)) {
	val := r.cfg.ValSize
	reason := ""
	switch {
	case val < 0:
		val, reason = 0, "disabled"
	case val == 0:
		val = autoValSize(n)
		if val == 0 {
			reason = fmt.Sprintf("%d examples are too few to spare a validation slice (under 40): no early stopping", n)
		} else {
			reason = fmt.Sprintf("5%% of %d examples (at most 200), held out by seed for validation, best weights and early stopping", n)
		}
	default:
		val = min(val, n-1)
		reason = "as configured"
	}
	r.choose("validation examples", val, reason)
	if val == 0 {
		return
	}
	ti, vi := splitVal32(n, val, r.cfg.Seed)
	apply(ti, vi)
}

// lr is the learning rate of a step under the current plan.
func (r *run) lr(step int) float64 {
	s, err := optim.NewSchedule(r.cfg.Schedule, r.cfg.LR, min(r.warmup, r.total), r.total, r.cfg.MinLRRatio)
	if err != nil {
		return r.cfg.LR
	}
	// LR(s) is 0 at s = 0 (Hugging Face warmup); step s+1 of the warmup is
	// the first non-zero rate.
	return s.LR(step + 1)
}

// nextGroup returns the micro-batches of the next optimizer step, moving
// to the next epoch (reshuffled) when this one is used up.
func (r *run) nextGroup() []microBatch {
	if r.pos >= r.batches.len() {
		r.epoch++
		r.pos = 0
		r.batches = epochBatches(r.obj.lengths(), r.cfg.BatchSize, r.batchTokens(), r.cfg.Seed, r.epoch)
	}
	end := min(r.pos+r.cfg.GradAccum, r.batches.len())
	g := make([]microBatch, 0, end-r.pos)
	for k := r.pos; k < end; k++ {
		g = append(g, r.batches.at(k))
	}
	r.pos = end
	return g
}

// batchTokens is the B·T cap of a micro-batch in example lengths: a DPO
// example puts both of its sequences into the batch.
func (r *run) batchTokens() int {
	if _, ok := r.obj.(*dpo); ok {
		return r.cfg.MaxBatchTokens / 2
	}
	return r.cfg.MaxBatchTokens
}

func (r *run) epochNow() float64 {
	return float64(r.epoch) + float64(r.pos)/float64(max(1, r.batches.len()))
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
