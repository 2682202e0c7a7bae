// Package adaptive is how a miner learns from experience. It keeps a
// durable history of training trials, its own tasks and the recipes other
// miners published with their results, and proposes the recipe for the
// next task by Bayesian optimisation: a Gaussian process over the recipe's
// settings and the task's features predicts each candidate recipe's test
// loss relative to the base model's, and the candidate with the largest
// expected improvement over the best known is tried; once a miner has
// tried a task a few times it replays the best run known there half the
// time instead (a competition scores every task: what it has found is
// what it enters between explorations). Trials on the same
// model and dataset count fully; trials on other tasks count as far as
// their features (model size, rows, time budget) are alike; a task type
// learns only from its own kind (supervised, DPO, GRPO).
//
// The package is pure logic and a history file; it knows nothing of the
// engine or the network. A miner strategy (node/minernode's adaptive)
// turns Params into an engine recipe and feeds the history from the
// published results log.
package adaptive

import (
	"fmt"
	"math"
	"strconv"

	"github.com/crucible-net/crucible/crucible"
)

// Params are the settings the search chooses: the recipe of one run.
type Params struct {
	Full     bool    `json:"full"`                // every weight (true) or a LoRA adapter
	LoRARank int     `json:"lora_rank,omitempty"` // LoRA only; alpha is twice the rank
	LR       float64 `json:"lr"`                  // peak learning rate
	Epochs   float64 `json:"epochs"`              // passes over the data (a time budget may cut them)
	Batch    int     `json:"batch"`               // examples per optimizer step
	// Schedule is the decay after the warmup: cosine or linear, down to
	// MinLRRatio·LR; Warmup is the share of steps warming up.
	Schedule   string  `json:"schedule"`
	MinLRRatio float64 `json:"min_lr_ratio"`
	Warmup     float64 `json:"warmup_ratio"`
}

// String is a one-line summary.
func (p Params) String() string {
	mode := "full"
	if !p.Full {
		mode = fmt.Sprintf("lora r%d", p.LoRARank)
	}
	return fmt.Sprintf("%s lr %.2g, %.3g epochs, batch %d, %s to %.2g, warmup %.2g", mode, p.LR, p.Epochs, p.Batch, p.Schedule, p.MinLRRatio, p.Warmup)
}

// Check reports params that cannot be a recipe (from a corrupt history
// or a hostile publication), naming the field.
func (p Params) Check() error {
	ok := func(x, lo, hi float64) bool { return !math.IsNaN(x) && x >= lo && x <= hi }
	switch {
	case !p.Full && (p.LoRARank < 1 || p.LoRARank > 4096):
		return fmt.Errorf("lora_rank %d must be in [1, 4096]", p.LoRARank)
	case !ok(p.LR, 1e-9, 1):
		return fmt.Errorf("lr %g must be in [1e-9, 1]", p.LR)
	case !ok(p.Epochs, 0.01, 1000):
		return fmt.Errorf("epochs %g must be in [0.01, 1000]", p.Epochs)
	case p.Batch < 1 || p.Batch > 1<<16:
		return fmt.Errorf("batch %d must be in [1, 65536]", p.Batch)
	case p.Schedule != "cosine" && p.Schedule != "linear" && p.Schedule != "constant":
		return fmt.Errorf("schedule %q must be cosine, linear or constant", p.Schedule)
	case !ok(p.MinLRRatio, 0, 1) || !ok(p.Warmup, 0, 1):
		return fmt.Errorf("min_lr_ratio %g and warmup_ratio %g must be in [0, 1]", p.MinLRRatio, p.Warmup)
	}
	return nil
}

// Features describe a task, as far as they bear on which recipe works.
type Features struct {
	Model   string            `json:"model"`
	Params  int64             `json:"params"` // the base model's parameters
	Type    crucible.TaskType `json:"type"`
	Rows    int               `json:"rows"`     // training rows
	Budget  float64           `json:"budget_s"` // seconds of training the miner had
	Dataset string            `json:"dataset,omitempty"`
}

// family groups task types that learn from each other: supervised
// fine-tuning of any format, DPO, GRPO.
func family(t crucible.TaskType) string {
	switch t {
	case crucible.TaskDPO, crucible.TaskGRPO:
		return string(t)
	}
	return "sft"
}

// Space is the search space and how it maps onto the unit cube the
// Gaussian process works in.
type Space struct {
	Ranks     [2]int     // LoRA ranks, powers of two. Defaults to 4..128.
	Epochs    [2]float64 // Defaults to 1..16.
	Batches   [2]int     // examples per step, powers of two. Defaults to 4..64.
	LRDecades [2]float64 // the rate as decades around BaseLR. Defaults to -1.5..1.
	// BaseLR is a sensible learning rate for a model size, mode and task
	// type (the engine's default); the search explores multiples of it so
	// that what one model size taught carries over to another.
	BaseLR func(params int64, full bool, t crucible.TaskType) float64
	// FullMaxParams is the largest model the search may fine-tune in full.
	// Defaults to 300M.
	FullMaxParams int64
}

func (s Space) withDefaults() Space {
	if s.Ranks == [2]int{} {
		s.Ranks = [2]int{4, 128}
	}
	if s.Epochs == [2]float64{} {
		s.Epochs = [2]float64{1, 16}
	}
	if s.Batches == [2]int{} {
		s.Batches = [2]int{4, 64}
	}
	if s.LRDecades == [2]float64{} {
		s.LRDecades = [2]float64{-1.5, 1}
	}
	if s.BaseLR == nil {
		s.BaseLR = defaultBaseLR
	}
	if s.FullMaxParams <= 0 {
		s.FullMaxParams = 300_000_000
	}
	return s
}

// defaultBaseLR mirrors the engine's default: higher for small models and
// for LoRA, ten times lower for preference tuning.
func defaultBaseLR(params int64, full bool, t crucible.TaskType) float64 {
	lr := 3e-5
	switch {
	case params <= 50_000_000:
		lr = 3e-4
	case params <= 500_000_000:
		lr = 1e-4
	}
	if !full {
		lr *= 3
	}
	if t == crucible.TaskDPO || t == crucible.TaskGRPO {
		lr /= 10
	}
	return lr
}

// Prior is the first recipe tried on a task family with no history: full
// fine-tuning where the model is small enough, three epochs at the base
// rate, 16 examples a step, cosine to a tenth.
func (s Space) Prior(f Features) Params {
	s = s.withDefaults()
	full := f.Params <= s.FullMaxParams
	p := Params{Full: full, LR: s.BaseLR(f.Params, full, f.Type), Epochs: 3, Batch: 16, Schedule: "cosine", MinLRRatio: 0.1, Warmup: 0.05}
	if !full {
		p.LoRARank = 16
	}
	return p
}

// The unit cube: recipe dimensions, then task features.
const (
	dimFull = iota
	dimRank
	dimLR
	dimEpochs
	dimBatch
	dimSchedule
	dimMinLR
	dimWarmup
	nParamDims
)

const (
	dimParams = nParamDims + iota
	dimRows
	dimBudget
	nDims
)

// maxWarmup is the largest warmup share the search tries.
const maxWarmup = 0.2

func unit(x, lo, hi float64) float64 {
	if hi <= lo {
		return 0.5
	}
	return math.Max(0, math.Min(1, (x-lo)/(hi-lo)))
}

func lerp(u, lo, hi float64) float64 { return lo + math.Max(0, math.Min(1, u))*(hi-lo) }

// encode maps params and features into the unit cube.
func (s Space) encode(p Params, f Features) []float64 {
	x := make([]float64, nDims)
	if p.Full {
		x[dimFull] = 1
		x[dimRank] = 0.5
	} else {
		x[dimRank] = unit(math.Log2(float64(max(p.LoRARank, 1))), math.Log2(float64(s.Ranks[0])), math.Log2(float64(s.Ranks[1])))
	}
	base := s.BaseLR(f.Params, p.Full, f.Type)
	x[dimLR] = unit(math.Log10(p.LR/base), s.LRDecades[0], s.LRDecades[1])
	x[dimEpochs] = unit(math.Log(p.Epochs), math.Log(s.Epochs[0]), math.Log(s.Epochs[1]))
	x[dimBatch] = unit(math.Log2(float64(max(p.Batch, 1))), math.Log2(float64(s.Batches[0])), math.Log2(float64(s.Batches[1])))
	if p.Schedule == "linear" {
		x[dimSchedule] = 1
	}
	x[dimMinLR] = unit(p.MinLRRatio, 0, 1)
	if p.Schedule == "constant" {
		x[dimMinLR] = 1 // a constant rate is a decay to itself
	}
	x[dimWarmup] = unit(p.Warmup, 0, maxWarmup)
	x[dimParams] = unit(math.Log10(float64(max(f.Params, 1))), 5, 11)
	x[dimRows] = unit(math.Log10(float64(max(f.Rows, 1))), 2, 7)
	x[dimBudget] = unit(math.Log10(math.Max(f.Budget, 1)), 1, 5)
	return x
}

// decode maps a point of the cube's recipe dimensions back to params,
// rounded to what a recipe holds (powers of two, two significant digits).
func (s Space) decode(x []float64, f Features, fullAllowed bool) Params {
	p := Params{Full: fullAllowed && x[dimFull] >= 0.5, Schedule: "cosine"}
	if !p.Full {
		lg := lerp(x[dimRank], math.Log2(float64(s.Ranks[0])), math.Log2(float64(s.Ranks[1])))
		p.LoRARank = 1 << int(math.Round(lg))
	}
	base := s.BaseLR(f.Params, p.Full, f.Type)
	p.LR = sig2(base * math.Pow(10, lerp(x[dimLR], s.LRDecades[0], s.LRDecades[1])))
	p.Epochs = math.Round(math.Exp(lerp(x[dimEpochs], math.Log(s.Epochs[0]), math.Log(s.Epochs[1])))*10) / 10
	p.Batch = 1 << int(math.Round(lerp(x[dimBatch], math.Log2(float64(s.Batches[0])), math.Log2(float64(s.Batches[1])))))
	if x[dimSchedule] >= 0.5 {
		p.Schedule = "linear"
	}
	// A decay to the full rate is no decay: the engine takes a ratio
	// below 1, so the top of the range is the last step under it.
	p.MinLRRatio = math.Min(math.Round(lerp(x[dimMinLR], 0, 1)*20)/20, 0.95)
	p.Warmup = math.Round(lerp(x[dimWarmup], 0, maxWarmup)*100) / 100
	return p
}

// sig2 rounds to two significant digits.
func sig2(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 2, 64), 64)
	if err != nil {
		return x
	}
	return v
}
