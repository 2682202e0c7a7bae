package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
)

// grpoBatch is one step's samples: every prompt's group of completions as
// prompt+completion sequences (labels on the completion), with rewards,
// advantages and the per-token log-probabilities the loss needs.
type grpoBatch struct {
	seqs    []Sequence
	plen    []int // prompt tokens of each sequence
	adv     []float64
	ref     [][]float64 // reference log-probability of each completion token; nil without a KL penalty
	old     [][]float64 // log-probabilities at the sampling weights (Iterations > 1)
	reward  float64     // mean total reward
	std     float64     // mean within-group standard deviation of the reward
	parts   []float64   // mean of each reward function
	tokens  int64       // completion tokens
	prompts int
}

// nextPrompts returns the next prompts of the epoch order (reshuffled
// by seed for every epoch).
func (r *grpoRun) nextPrompts(n int) []int {
	var out []int
	for len(out) < n {
		if r.order == nil || r.pos >= len(r.order) {
			if r.order != nil {
				r.epoch++
			}
			r.order = shuffled(r.train, r.cfg.Seed, r.epoch)
			r.pos = 0
		}
		k := min(n-len(out), len(r.order)-r.pos)
		out = append(out, r.order[r.pos:r.pos+k]...)
		r.pos += k
		if k == 0 {
			break
		}
	}
	return out
}

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

func shuffled(idx []int, seed uint64, epoch int) []int {
	out := slices.Clone(idx)
	rng := newRand(seed, uint64(epoch)+0x67727030)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// stepSeed is the sampling seed of a step: every step samples afresh,
// and a run with the same seed samples the same completions.
func stepSeed(seed uint64, step int) uint64 { return eval.PromptSeed(seed, step) }

// sample draws the step's prompts, samples their groups, scores them and
// computes advantages and reference log-probabilities.
func (r *grpoRun) sample(ctx context.Context, step int) (*grpoBatch, StepCost, error) {
	cfg := &r.cfg
	var cost StepCost
	prompts := r.nextPrompts(cfg.BatchSize * cfg.GradAccum)
	G := cfg.Generations
	opts := model.GenerateOptions{MaxNewTokens: cfg.MaxCompletion, Temperature: cfg.Temperature, TopP: cfg.TopP, StopTokens: cfg.StopTokens}
	t0 := time.Now()
	c0, _ := kernel.ProcessCPUTime()
	groups := make([][][]int32, len(prompts))
	for k, pi := range prompts {
		if err := ctx.Err(); err != nil {
			return nil, cost, err
		}
		o := opts
		o.Seed = eval.PromptSeed(stepSeed(cfg.Seed, step), pi)
		comps, err := r.m.GenerateGroup(r.prompts[pi], G, o)
		if err != nil {
			return nil, cost, fmt.Errorf("sample prompt %d: %w", pi, err)
		}
		groups[k] = comps
	}
	cost.Sampling = time.Since(t0)
	if c1, ok := kernel.ProcessCPUTime(); ok {
		cost.SamplingCPU = c1 - c0
	}

	t0 = time.Now()
	scores, err := r.score(ctx, prompts, groups)
	if err != nil {
		return nil, cost, err
	}
	cost.Reward = time.Since(t0)

	b := &grpoBatch{prompts: len(prompts)}
	for k, pi := range prompts {
		p := r.prompts[pi]
		rs := make([]float64, G)
		for i, s := range scores[k] {
			rs[i] = s.Total
			b.reward += s.Total
			if b.parts == nil {
				b.parts = make([]float64, len(s.Parts))
			}
			for j, v := range s.Parts {
				if j < len(b.parts) {
					b.parts[j] += v
				}
			}
		}
		adv, std := advantages(rs)
		b.std += std
		for i, c := range groups[k] {
			ids := append(slices.Clone(p), c...)
			labels := make([]int32, len(ids))
			for j := range labels {
				labels[j] = model.IgnoreIndex
			}
			copy(labels[len(p):], c)
			b.seqs = append(b.seqs, Sequence{IDs: ids, Labels: labels})
			b.plen = append(b.plen, len(p))
			b.adv = append(b.adv, adv[i])
			b.tokens += int64(len(c))
		}
	}
	n := float64(len(b.seqs))
	b.reward /= n
	b.std /= float64(len(prompts))
	for j := range b.parts {
		b.parts[j] /= n
	}
	t0 = time.Now()
	if cfg.KLBeta > 0 {
		if b.ref, err = r.refLogProbs(ctx, b.seqs, b.plen); err != nil {
			return nil, cost, fmt.Errorf("reference log-probabilities: %w", err)
		}
	}
	if cfg.Iterations > 1 {
		b.old = make([][]float64, len(b.seqs))
		for i, s := range b.seqs {
			b.old[i] = make([]float64, len(s.IDs)-b.plen[i])
		}
	}
	cost.Backward = time.Since(t0)
	return b, cost, nil
}

// score runs the reward function on every group, groups in parallel.
func (r *grpoRun) score(ctx context.Context, prompts []int, groups [][][]int32) ([][]eval.RewardScore, error) {
	out := make([][]eval.RewardScore, len(prompts))
	errs := make([]error, len(prompts))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for k := range prompts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			s, err := r.cfg.Reward(ctx, prompts[k], groups[k])
			switch {
			case err != nil:
				errs[k] = fmt.Errorf("reward of prompt %d: %w", prompts[k], err)
			case len(s) != len(groups[k]):
				errs[k] = fmt.Errorf("reward of prompt %d: %d scores for %d completions", prompts[k], len(s), len(groups[k]))
			default:
				for _, x := range s {
					if math.IsNaN(x.Total) || math.IsInf(x.Total, 0) {
						errs[k] = fmt.Errorf("reward of prompt %d: %v is not a finite number", prompts[k], x.Total)
					}
				}
				out[k] = s
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// advantages normalises a group's rewards: (r − mean)/(std + 1e-4), std
// the sample standard deviation. A group whose rewards are all equal
// teaches nothing: its advantages are 0.
func advantages(rs []float64) ([]float64, float64) {
	var mean float64
	for _, v := range rs {
		mean += v
	}
	mean /= float64(len(rs))
	var ss float64
	for _, v := range rs {
		ss += (v - mean) * (v - mean)
	}
	std := 0.0
	if len(rs) > 1 {
		std = math.Sqrt(ss / float64(len(rs)-1))
	}
	out := make([]float64, len(rs))
	for i, v := range rs {
		out[i] = (v - mean) / (std + 1e-4)
	}
	return out, std
}

// refLogProbs is each completion token's log-probability under the
// reference: the frozen copy for full fine-tuning, the policy with its
// adapter zeroed for LoRA (the base itself).
func (r *grpoRun) refLogProbs(ctx context.Context, seqs []Sequence, plen []int) ([][]float64, error) {
	if r.ref != nil {
		return completionLogProbs(ctx, r.ref, seqs, plen, r.cfg.MaxBatchTokens)
	}
	lora := r.m.LoRA()
	if lora == nil {
		return nil, fmt.Errorf("no reference: the base is frozen and no adapter is attached")
	}
	ad := lora.Params()
	saved := slices.Clone(ad)
	clear(ad)
	defer copy(ad, saved)
	return completionLogProbs(ctx, r.m, seqs, plen, r.cfg.MaxBatchTokens)
}

// completionLogProbs runs m forward over the sequences and returns each
// one's completion-token log-probabilities.
func completionLogProbs(ctx context.Context, m *model.Model, seqs []Sequence, plen []int, maxTokens int) ([][]float64, error) {
	lengths := make([]int, len(seqs))
	for i, s := range seqs {
		lengths[i] = len(s.IDs) - 1
	}
	out := make([][]float64, len(seqs))
	for _, idx := range eval.Plan(lengths, eval.Options{MaxBatchTokens: maxTokens, MaxBatch: 64}) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := eval.Batch(seqs, idx, padToken, 8)
		tl := make([]float32, b.B*b.T)
		if _, err := m.Evaluate(b, tl, nil); err != nil {
			return nil, err
		}
		for row, i := range idx {
			n := len(seqs[i].IDs) - plen[i]
			lp := make([]float64, n)
			for k := range n {
				lp[k] = -float64(tl[row*b.T+plen[i]-1+k])
			}
			out[i] = lp
		}
	}
	return out, nil
}

// updateOut is what one policy update measured.
type updateOut struct {
	loss, kl, clipped float64
	tokens            int64
}

// update accumulates the gradient of the GRPO loss over the batch (its
// sequences in micro-batches of at most MaxBatchTokens), iteration it of
// the batch's updates.
func (r *grpoRun) update(ctx context.Context, b *grpoBatch, it int) (updateOut, error) {
	cfg := &r.cfg
	var out updateOut
	beta, lo, hi := cfg.KLBeta, 1-cfg.Epsilon, 1+cfg.EpsilonHigh
	// Sequences that carry no gradient (no advantage, no KL term) are
	// left out of the backward pass.
	var live []int
	for i := range b.seqs {
		if beta > 0 || b.adv[i] != 0 || cfg.Iterations > 1 {
			live = append(live, i)
		}
	}
	nseq := float64(len(b.seqs))
	var tokens float64
	if len(live) == 0 {
		return out, nil
	}
	lengths := make([]int, len(live))
	for k, i := range live {
		lengths[k] = len(b.seqs[i].IDs) - 1
	}
	for _, group := range eval.Plan(lengths, eval.Options{MaxBatchTokens: cfg.MaxBatchTokens, MaxBatch: 64}) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		idx := make([]int, len(group))
		for k, g := range group {
			idx[k] = live[g]
		}
		mb := eval.Batch(b.seqs, idx, padToken, 8)
		T := mb.T
		mb.PositionWeight = func(pos int, lp float64) float32 {
			s := idx[pos/T]
			k := pos%T + 1 - b.plen[s] // completion token index
			n := float64(len(b.seqs[s].IDs) - b.plen[s])
			old := lp
			if b.old != nil {
				if it == 0 {
					b.old[s][k] = lp
				} else {
					old = b.old[s][k]
				}
			}
			a := b.adv[s]
			ratio := math.Exp(lp - old)
			clipped := min(max(ratio, lo), hi)
			o1, o2 := ratio*a, clipped*a
			var dobj float64 // d min(o1, o2)/d lp
			if o1 <= o2 {
				dobj = a * ratio
			} else {
				out.clipped++
			}
			loss := -min(o1, o2)
			dloss := -dobj
			if beta > 0 {
				d := b.ref[s][k] - lp
				kl := math.Exp(d) - d - 1
				out.kl += kl
				loss += beta * kl
				dloss += beta * (1 - math.Exp(d))
			}
			c := 1 / (n * nseq)
			out.loss += c * loss
			tokens++
			return float32(-c * dloss)
		}
		if _, err := r.m.ForwardBackward(mb, 1); err != nil {
			return out, err
		}
		for _, i := range idx {
			out.tokens += int64(len(b.seqs[i].IDs))
		}
	}
	if tokens > 0 {
		out.kl /= tokens
		out.clipped /= tokens
	}
	return out, nil
}
