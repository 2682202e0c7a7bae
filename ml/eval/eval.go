// Package eval computes crucible's deterministic evaluation metrics on
// tokenized data: the masked cross-entropy of a model over response tokens
// (token-weighted and per-sample means, perplexity) and, for preference
// data, the DPO loss against a reference model with its reward accuracy.
//
// Results are bit-identical on re-runs with the same model and thread
// count: sequences are grouped into batches by a fixed rule (sorted by
// length, then by index) that never depends on timing, and every sum is
// accumulated in float64 in index order.
package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/nn"
)

// Numerics names the arithmetic class of this process's evaluation: the
// architecture and the kernels the float32 matrix products and layer
// operations run on (e.g. "fp32/amd64-avx/avx2"). Two machines of the same
// class compute bit-identical losses; across classes they agree within
// rounding (a few parts in 10⁸ measured, NumericsBound allowed).
func Numerics() string {
	return "fp32/" + runtime.GOARCH + "-" + kernel.Numerics() + "/" + nn.Numerics()
}

// NumericsBound is the relative difference allowed between losses computed
// by machines of different Numerics classes: the float32 kernels order
// their sums differently, which moved the shipped model's loss on 400
// facts by 5·10⁻⁸ (relative); the bound leaves a wide margin above that
// and stays far below any difference that changes a ranking.
const NumericsBound = 1e-5

// Sequence is one tokenized example. IDs and Labels have the same length
// and are aligned the Hugging Face way: Labels[i] is the token expected at
// position i (predicted from positions before it), model.IgnoreIndex (-100)
// where the position is not scored.
type Sequence struct {
	IDs    []int32
	Labels []int32
}

// Counted returns how many positions of s are scored (the first position
// never is: nothing precedes it).
func (s Sequence) Counted() int {
	n := 0
	for i := 1; i < len(s.Labels); i++ {
		if s.Labels[i] != model.IgnoreIndex {
			n++
		}
	}
	return n
}

// Pair is a tokenized preference example: the prompt with the chosen
// answer and the prompt with the rejected one.
type Pair struct {
	Chosen, Rejected Sequence
}

// Options bounds the batches evaluation forms.
type Options struct {
	// MaxBatchTokens caps B·T of one batch. Defaults to 4096.
	MaxBatchTokens int
	// MaxBatch caps the sequences of one batch. Defaults to 32.
	MaxBatch int
	// Progress, when set, is called after each batch with the sequences done.
	Progress func(done, total int)
}

func (o Options) withDefaults() Options {
	if o.MaxBatchTokens <= 0 {
		o.MaxBatchTokens = 4096
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 32
	}
	return o
}

// Result is the masked cross-entropy of a model over a set of sequences.
type Result struct {
	// Loss is the token-weighted mean: the summed loss of every scored
	// token over their number.
	Loss float64 `json:"loss"`
	// SampleMean is the mean over sequences of each sequence's mean token
	// loss (what a batch-size-1 evaluation reports).
	SampleMean float64 `json:"sample_mean"`
	// Perplexity is exp(Loss).
	Perplexity float64 `json:"perplexity"`
	Tokens     int     `json:"tokens"`  // scored tokens
	Samples    int     `json:"samples"` // sequences with at least one scored token
	// SeqSum and SeqCount are each input sequence's loss sum and scored
	// token count, in input order.
	SeqSum   []float64 `json:"-"`
	SeqCount []int     `json:"-"`
}

// ErrNoTokens is returned when no sequence has a scored token.
var ErrNoTokens = errors.New("no scored tokens to evaluate")

// Plan groups sequence indices into batches: sorted by length (ties by
// index), filled greedily while B·T stays within MaxBatchTokens and B
// within MaxBatch. The grouping depends only on the lengths.
func Plan(lengths []int, opt Options) [][]int {
	opt = opt.withDefaults()
	idx := make([]int, len(lengths))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return lengths[idx[a]] < lengths[idx[b]] })
	var out [][]int
	var cur []int
	for _, i := range idx {
		t := lengths[i]
		if len(cur) > 0 && ((len(cur)+1)*t > opt.MaxBatchTokens || len(cur) >= opt.MaxBatch) {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, i)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// Batch builds the model batch of the given sequences: inputs IDs[:n-1]
// and shifted labels Labels[1:n] of each, right-padded (token pad, label
// -100) to the longest, whose length is rounded up to a multiple of
// roundTo (≥ 1) so that fewer distinct shapes occur. Right padding leaves a
// causal model's outputs at real positions unchanged.
func Batch(seqs []Sequence, idx []int, pad int32, roundTo int) model.Batch {
	return BatchOf(Sequences(seqs), idx, pad, roundTo)
}

// BatchOf is Batch over a Source: only the sequences of idx are read.
func BatchOf(src Source, idx []int, pad int32, roundTo int) model.Batch {
	T := 1
	for _, i := range idx {
		T = max(T, src.SeqLen(i)-1)
	}
	if roundTo > 1 {
		T = (T + roundTo - 1) / roundTo * roundTo
	}
	b := model.Batch{B: len(idx), T: T, Tokens: make([]int32, len(idx)*T), Labels: make([]int32, len(idx)*T)}
	for r, i := range idx {
		s := src.Seq(i)
		row, lab := b.Tokens[r*T:(r+1)*T], b.Labels[r*T:(r+1)*T]
		n := max(len(s.IDs)-1, 0)
		copy(row, s.IDs[:n])
		copy(lab, s.Labels[1:n+1])
		for j := n; j < T; j++ {
			row[j], lab[j] = pad, model.IgnoreIndex
		}
	}
	return b
}

// check rejects sequences whose IDs and Labels differ in length.
func check(seqs []Sequence) error {
	for i, s := range seqs {
		if len(s.IDs) != len(s.Labels) {
			return fmt.Errorf("sequence %d has %d ids and %d labels", i, len(s.IDs), len(s.Labels))
		}
	}
	return nil
}

// SeqLosses runs the model forward over every sequence and returns each
// one's loss sum (the negated log-probability of its scored tokens) and
// scored-token count, in input order.
func SeqLosses(ctx context.Context, m *model.Model, seqs []Sequence, opt Options) ([]float64, []int, error) {
	if err := check(seqs); err != nil {
		return nil, nil, err
	}
	return SourceLosses(ctx, m, Sequences(seqs), opt)
}

// SourceLosses is SeqLosses over a Source, read batch by batch: memory
// holds one batch of sequences and two numbers per sequence.
func SourceLosses(ctx context.Context, m *model.Model, src Source, opt Options) ([]float64, []int, error) {
	opt = opt.withDefaults()
	n := src.Len()
	lengths := make([]int, n)
	for i := range lengths {
		lengths[i] = max(src.SeqLen(i)-1, 1)
	}
	sums, counts := make([]float64, n), make([]int, n)
	done := 0
	for _, idx := range Plan(lengths, opt) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		b := BatchOf(src, idx, 0, 8)
		seqLoss := make([]float64, b.B)
		if _, err := m.Evaluate(b, nil, seqLoss); err != nil {
			return nil, nil, err
		}
		for r, i := range idx {
			sums[i] = seqLoss[r]
			counts[i] = src.Counted(i)
		}
		done += len(idx)
		if opt.Progress != nil {
			opt.Progress(done, n)
		}
	}
	return sums, counts, nil
}

// Loss evaluates the masked cross-entropy of m over seqs. Sequences with no
// scored token are kept in SeqSum/SeqCount (as zeros) but do not count as
// samples. A non-finite loss is returned as is: callers decide what it
// means.
func Loss(ctx context.Context, m *model.Model, seqs []Sequence, opt Options) (*Result, error) {
	sums, counts, err := SeqLosses(ctx, m, seqs, opt)
	if err != nil {
		return nil, err
	}
	return Summarize(sums, counts)
}

// LossOf is Loss over a Source.
func LossOf(ctx context.Context, m *model.Model, src Source, opt Options) (*Result, error) {
	sums, counts, err := SourceLosses(ctx, m, src, opt)
	if err != nil {
		return nil, err
	}
	return Summarize(sums, counts)
}

// Summarize turns per-sequence loss sums and counts into a Result.
func Summarize(sums []float64, counts []int) (*Result, error) {
	r := &Result{SeqSum: sums, SeqCount: counts}
	var total, sampleSum float64
	for i, s := range sums {
		if counts[i] == 0 {
			continue
		}
		total += s
		r.Tokens += counts[i]
		r.Samples++
		sampleSum += s / float64(counts[i])
	}
	if r.Tokens == 0 {
		return nil, ErrNoTokens
	}
	r.Loss = total / float64(r.Tokens)
	r.SampleMean = sampleSum / float64(r.Samples)
	r.Perplexity = math.Exp(r.Loss)
	return r, nil
}
