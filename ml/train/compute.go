package train

import (
	"math"
	"sync"
	"time"

	"github.com/crucible-net/crucible/ml/model"
)

// DefaultComputeRate is the nominal speed, in GFLOP/s, at which a
// ComputeClock turns work into time when none is given: about what this
// engine sustains training the shipped crucible-tiny model on a quiet
// two-core machine, by the cost model below (measured on a 2-core Xeon
// with AMX, bf16, on the shipped facts set: 114 GFLOP per CPU-second for
// full fine-tuning and 60 for LoRA, whose small adapters this engine runs
// less efficiently than the model counts them), so that a compute budget
// buys about what the same wall-clock budget buys on such a machine.
const DefaultComputeRate = 150.0

// ComputeClock is a clock that reads the work done instead of the time.
// It starts at its origin and advances only when a run charges it with
// the estimated floating-point operations of the work it did (each
// training step, validation and learning-rate probe; see flops), divided
// by a fixed nominal rate. A run whose deadline decisions read it (the
// steps that fit, the range test, validations, the stop) makes them as a
// pure function of its work: the same on a loaded machine as on a quiet
// one, and the same each time for a given seed. It is safe for
// concurrent use.
type ComputeClock struct {
	mu     sync.Mutex
	origin time.Time
	rate   float64 // FLOP per second
	flops  float64
}

// NewComputeClock returns a clock at origin that advances one second per
// gflops·10⁹ floating-point operations charged (DefaultComputeRate when
// gflops is not positive).
func NewComputeClock(origin time.Time, gflops float64) *ComputeClock {
	if !(gflops > 0) || math.IsInf(gflops, 0) {
		gflops = DefaultComputeRate
	}
	return &ComputeClock{origin: origin, rate: gflops * 1e9}
}

// Now is the origin plus the work charged so far at the nominal rate.
func (c *ComputeClock) Now() time.Time { return c.origin.Add(c.Elapsed()) }

// Elapsed is the work charged so far as time at the nominal rate.
func (c *ComputeClock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(math.Round(c.flops / c.rate * 1e9))
}

// Add charges flops floating-point operations (ignored unless positive).
func (c *ComputeClock) Add(flops float64) {
	if !(flops > 0) || math.IsInf(flops, 0) {
		return
	}
	c.mu.Lock()
	c.flops += flops
	c.mu.Unlock()
}

// FLOPs is the work charged so far.
func (c *ComputeClock) FLOPs() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flops
}

// GFLOPS is the clock's nominal rate in GFLOP/s.
func (c *ComputeClock) GFLOPS() float64 { return c.rate / 1e9 }

// costModel estimates the floating-point operations of a model's work,
// counting the matrix products (2 operations per multiply-add), which is
// where the time goes:
//
//   - a forward pass over a sequence of n tokens costs 2·W·n for the
//     weight matrices (W: the weights a token multiplies through, the
//     output projection included and the embedding lookup not) plus
//     2·L·A·n² for attention's scores and weighted sums over the causal
//     context (L layers, A = heads·head size);
//   - full fine-tuning's backward pass costs twice the forward (gradients
//     of the activations and of the weights), and its update about 12
//     operations per weight (gradient norm, clipping, AdamW);
//   - LoRA's backward pass costs one forward (gradients of the
//     activations only: the frozen weights get none) plus the adapters'
//     own products, 2·R·n forward and 4·R·n backward (R: adapter
//     weights), and its update 12 per adapter weight.
type costModel struct {
	weights   float64 // W
	attention float64 // L·A
	lora      bool
	adapter   float64 // R
	trainable float64
}

func newCostModel(m *model.Model) costModel {
	cfg := m.Config()
	c := costModel{weights: float64(m.NumParams()), attention: float64(cfg.Layers * cfg.Heads * cfg.HeadDim)}
	if !cfg.TieEmbeddings {
		c.weights -= float64(cfg.Vocab * cfg.Hidden) // the input embeddings are looked up, not multiplied
	}
	if l := m.LoRA(); l != nil {
		c.adapter = float64(len(l.Params()))
	}
	c.lora = m.LoRA() != nil && !m.TrainsBase()
	if c.lora {
		c.trainable = c.adapter
	} else {
		c.trainable = float64(m.NumParams()) + c.adapter
	}
	return c
}

// forward is the cost of a forward pass over sequences of these lengths.
func (c costModel) forward(lens ...int) float64 {
	var f float64
	for _, n := range lens {
		x := float64(n)
		f += 2*c.weights*x + 2*c.attention*x*x + 2*c.adapter*x
	}
	return f
}

// step is the cost of one optimizer step over sequences of these lengths;
// refs is the number of extra forward-only passes over them (DPO's
// reference).
func (c costModel) step(refs int, lens ...int) float64 {
	fwd := c.forward(lens...)
	var tokens float64
	for _, n := range lens {
		tokens += float64(n)
	}
	back := 2 * fwd
	if c.lora {
		back = fwd - 2*c.adapter*tokens + 4*c.adapter*tokens
	}
	return float64(1+refs)*fwd + back + 12*c.trainable
}
