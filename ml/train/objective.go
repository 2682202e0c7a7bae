package train

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
)

// objective is what a run minimizes: masked cross-entropy (SFT, continued
// pretraining) or the DPO loss.
type objective interface {
	// lengths gives each training example's length, for batching.
	lengths() []int
	// step runs forward and backward over the micro-batches, accumulating
	// the gradient of the mean loss over all of them.
	step(mbs []microBatch) (stepOut, error)
	// validate evaluates the held-out slice (hasVal must be true).
	validate(ctx context.Context) (valOut, error)
	hasVal() bool
	// probe is the loss on a fixed handful of training examples, for the
	// learning-rate range test.
	probe(ctx context.Context) (float64, error)
	// seqLens are the lengths of training example i's sequences (both of a
	// DPO pair's), and probeLens those of the probe set: for the cost of
	// the work (a compute clock).
	seqLens(i int) []int
	probeLens() []int
}

type stepOut struct {
	loss   float64
	tokens int64
	acc    float64 // DPO: share of pairs with a positive margin
	margin float64 // DPO: mean margin
}

type valOut struct {
	loss, acc, margin float64
}

// padToken pads batches; its labels are ignored, so any valid id works.
const padToken = 0

// sft is the masked cross-entropy objective. Its data are Sources: a
// step reads only its micro-batches' sequences.
type sft struct {
	m        *model.Model
	train    eval.Source
	val      eval.Source
	probeSet eval.Source
	opts     eval.Options
	lens     []int
}

func newSFT(m *model.Model, train, val eval.Source, opts eval.Options) *sft {
	o := &sft{m: m, train: train, val: val, opts: opts}
	o.lens = make([]int, train.Len())
	for i := range o.lens {
		o.lens[i] = train.SeqLen(i)
	}
	o.probeSet = eval.Head(train, 16)
	return o
}

func (o *sft) lengths() []int      { return o.lens }
func (o *sft) seqLens(i int) []int { return []int{o.lens[i]} }
func (o *sft) probeLens() []int {
	lens := make([]int, o.probeSet.Len())
	for i := range lens {
		lens[i] = o.probeSet.SeqLen(i)
	}
	return lens
}
func (o *sft) hasVal() bool { return o.val != nil && o.val.Len() > 0 }

func (o *sft) step(mbs []microBatch) (stepOut, error) {
	total := 0
	var out stepOut
	for _, mb := range mbs {
		for _, i := range mb {
			total += o.train.Counted(i)
			out.tokens += int64(o.lens[i])
		}
	}
	if total == 0 {
		return out, fmt.Errorf("step has no scored tokens")
	}
	var sum float64
	for _, mb := range mbs {
		b := eval.BatchOf(o.train, mb, padToken, 16)
		l, err := o.m.ForwardBackward(b, 1/float32(total))
		if err != nil {
			return out, err
		}
		sum += l.Sum
	}
	out.loss = sum / float64(total)
	return out, nil
}

func (o *sft) validate(ctx context.Context) (valOut, error) {
	r, err := eval.LossOf(ctx, o.m, o.val, o.opts)
	if err != nil {
		return valOut{}, err
	}
	return valOut{loss: r.Loss}, nil
}

func (o *sft) probe(ctx context.Context) (float64, error) {
	r, err := eval.LossOf(ctx, o.m, o.probeSet, o.opts)
	if err != nil {
		return 0, err
	}
	return r.Loss, nil
}

// dpo is the DPO objective against the frozen base: a copy of the starting
// weights for full fine-tuning, the policy with its adapter zeroed for LoRA.
// Reference log-probabilities are computed the first time a pair is seen
// and cached, so no up-front pass over the data is needed.
type dpo struct {
	m, ref     *model.Model
	beta       float64
	train, val eval.Source // pairs: sequence 2i chosen, 2i+1 rejected
	trainRef   []refLP
	valRef     []refLP
	probeIdx   []int
	opts       eval.Options
	lens       []int
}

// refLP is a pair's cached reference log-probabilities.
type refLP struct {
	chosen, rejected float64
	ok               bool
}

func newDPO(m, ref *model.Model, train, val eval.Source, beta float64, opts eval.Options) *dpo {
	n := eval.Pairs(train)
	o := &dpo{m: m, ref: ref, beta: beta, train: train, val: val, opts: opts, trainRef: make([]refLP, n)}
	if val != nil {
		o.valRef = make([]refLP, eval.Pairs(val))
	}
	o.lens = make([]int, n)
	for i := range o.lens {
		o.lens[i] = max(train.SeqLen(2*i), train.SeqLen(2*i+1))
	}
	for i := range min(n, 16) {
		o.probeIdx = append(o.probeIdx, i)
	}
	return o
}

func (o *dpo) lengths() []int { return o.lens }
func (o *dpo) seqLens(i int) []int {
	return []int{o.train.SeqLen(2 * i), o.train.SeqLen(2*i + 1)}
}
func (o *dpo) probeLens() []int {
	var lens []int
	for _, i := range o.probeIdx {
		lens = append(lens, o.seqLens(i)...)
	}
	return lens
}
func (o *dpo) hasVal() bool { return o.val != nil && o.val.Len() > 0 }

// refFor fills the cache for the given pairs and returns their reference
// log-probabilities.
func (o *dpo) refFor(ctx context.Context, pairs eval.Source, cache []refLP, idx []int) (eval.LogProbs, error) {
	var where []int32
	for _, i := range idx {
		if !cache[i].ok {
			where = append(where, int32(i))
		}
	}
	if len(where) > 0 {
		lp, err := o.refLogProbs(ctx, eval.PairSubset(pairs, where))
		if err != nil {
			return eval.LogProbs{}, fmt.Errorf("reference log-probabilities: %w", err)
		}
		for k, i := range where {
			cache[i] = refLP{chosen: lp.Chosen[k], rejected: lp.Rejected[k], ok: true}
		}
	}
	out := eval.LogProbs{Chosen: make([]float64, len(idx)), Rejected: make([]float64, len(idx))}
	for k, i := range idx {
		out.Chosen[k], out.Rejected[k] = cache[i].chosen, cache[i].rejected
	}
	return out, nil
}

// refLogProbs evaluates the reference: the frozen copy when full
// fine-tuning, else the policy with its adapter zeroed (an adapter whose
// matrices are zero adds exactly nothing, so this is the base itself, and
// no second copy of the base is kept).
func (o *dpo) refLogProbs(ctx context.Context, pairs eval.Source) (eval.LogProbs, error) {
	if o.ref != nil {
		return eval.PairLogProbsOf(ctx, o.ref, pairs, o.opts)
	}
	ad := o.m.LoRA().Params()
	saved := slices.Clone(ad)
	clear(ad)
	defer copy(ad, saved)
	return eval.PairLogProbsOf(ctx, o.m, pairs, o.opts)
}

func index32(idx []int) []int32 {
	out := make([]int32, len(idx))
	for k, i := range idx {
		out[k] = int32(i)
	}
	return out
}

func (o *dpo) step(mbs []microBatch) (stepOut, error) {
	ctx := context.Background()
	n := 0
	for _, mb := range mbs {
		n += len(mb)
	}
	var out stepOut
	for _, mb := range mbs {
		ref, err := o.refFor(ctx, o.train, o.trainRef, mb)
		if err != nil {
			return out, err
		}
		pairs := eval.PairSubset(o.train, index32(mb))
		pol, err := eval.PairLogProbsOf(ctx, o.m, pairs, o.opts)
		if err != nil {
			return out, err
		}
		margins := eval.Margins(pol, ref, o.beta)
		// Both sides of every pair go into one forward-backward pass, each
		// sequence weighted by its share of the gradient: d loss/d logπ
		// (chosen) = −β·σ(−margin); the model's loss sum is −logπ, so the
		// chosen side gets +w and the rejected side −w.
		weights := make([]float32, 0, 2*len(mb))
		for k, i := range mb {
			mg := margins[k]
			out.loss += eval.Softplus(-mg)
			out.margin += mg
			if mg > 0 {
				out.acc++
			}
			out.tokens += int64(o.train.SeqLen(2*i) + o.train.SeqLen(2*i+1))
			w := float32(o.beta * sigmoid(-mg) / float64(n))
			weights = append(weights, w, -w)
		}
		if !finite(out.loss) {
			return out, nil // the caller rolls back
		}
		idx := make([]int, pairs.Len())
		for i := range idx {
			idx[i] = i
		}
		b := eval.BatchOf(pairs, idx, padToken, 16)
		b.Weights = weights
		if _, err := o.m.ForwardBackward(b, 1); err != nil {
			return out, err
		}
	}
	f := float64(n)
	out.loss /= f
	out.margin /= f
	out.acc /= f
	return out, nil
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func (o *dpo) evalPairs(ctx context.Context, pairs eval.Source, cache []refLP, idx []int) (*eval.DPOResult, error) {
	ref, err := o.refFor(ctx, pairs, cache, idx)
	if err != nil {
		return nil, err
	}
	pol, err := eval.PairLogProbsOf(ctx, o.m, eval.PairSubset(pairs, index32(idx)), o.opts)
	if err != nil {
		return nil, err
	}
	return eval.DPO(pol, ref, o.beta)
}

func (o *dpo) validate(ctx context.Context) (valOut, error) {
	idx := make([]int, eval.Pairs(o.val))
	for i := range idx {
		idx[i] = i
	}
	r, err := o.evalPairs(ctx, o.val, o.valRef, idx)
	if err != nil {
		return valOut{}, err
	}
	return valOut{loss: r.Loss, acc: r.Accuracy, margin: r.Margin}, nil
}

func (o *dpo) probe(ctx context.Context) (float64, error) {
	r, err := o.evalPairs(ctx, o.train, o.trainRef, o.probeIdx)
	if err != nil {
		return 0, err
	}
	return r.Loss, nil
}
