package train

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crucible-net/crucible/ml/model"
)

// The compute clock reads the work charged, at its nominal rate, and
// nothing else: the real time that passes does not move it.
func TestComputeClockReadsWorkNotTime(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewComputeClock(origin, 2) // 2 GFLOP/s
	if !c.Now().Equal(origin) {
		t.Fatalf("a new clock reads %s, not its origin", c.Now())
	}
	before := c.Now()
	spin := time.Now()
	for time.Since(spin) < 20*time.Millisecond { // real time passes, no work is charged
	}
	if !c.Now().Equal(before) {
		t.Fatalf("the clock moved by %s with no work charged", c.Now().Sub(before))
	}
	c.Add(3e9)
	c.Add(-1)          // ignored
	c.Add(math.Inf(1)) // ignored
	if got := c.Now().Sub(origin); got != 1500*time.Millisecond {
		t.Fatalf("3 GFLOP at 2 GFLOP/s read %s, want 1.5s", got)
	}
	if c.FLOPs() != 3e9 || c.GFLOPS() != 2 {
		t.Fatalf("flops %g rate %g", c.FLOPs(), c.GFLOPS())
	}
	if d := NewComputeClock(origin, 0).GFLOPS(); d != DefaultComputeRate {
		t.Fatalf("default rate %g", d)
	}
}

// A run on a compute clock charges the modelled cost of exactly the work
// it did (steps, validations), and under a deadline on that clock it makes
// the same decisions, steps and losses whether the machine is idle or
// busy: a pure function of the work.
func TestComputeClockRunIsLoadIndependent(t *testing.T) {
	// No deadline, no validation, a fixed number of steps: the clock holds
	// the steps' modelled cost, full and LoRA alike.
	for _, lora := range []bool{false, true} {
		m := tinyModel(t)
		if lora {
			if _, err := m.AddLoRA(model.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: LoRATargets(m.Config()), Seed: 2}); err != nil {
				t.Fatal(err)
			}
		} else {
			m.SetTrainBase(true)
		}
		clock := NewComputeClock(time.Now(), 1)
		cfg := Config{LR: 1e-3, MaxSteps: 5, Epochs: 10, ValSize: -1, Seed: 3, BatchSize: 4, Compute: clock, Precision: "fp32"}
		res, err := Run(context.Background(), m, Data{Train: copyTask(60, 2)}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		cost := newCostModel(m)
		want := 0.0
		order := epochBatches(lengthsOf(copyTask(60, 2)), 4, 0, 3, 0)
		for k := range 5 {
			var lens []int
			for _, i := range order.at(k) {
				lens = append(lens, len(copyTask(60, 2)[i].IDs))
			}
			want += cost.step(0, lens...)
		}
		if res.Steps != 5 || math.Abs(clock.FLOPs()-want) > 1e-6*want {
			t.Fatalf("lora %v: %d steps charged %g FLOP, want %g", lora, res.Steps, clock.FLOPs(), want)
		}
		if res.ComputeTime != clock.Elapsed() || res.ComputeGFLOP <= 0 {
			t.Fatalf("result compute %s %g GFLOP; clock %s", res.ComputeTime, res.ComputeGFLOP, clock.Elapsed())
		}
	}
	// LoRA's steps cost less than full fine-tuning's on the same data:
	// the frozen weights get no gradient.
	full, lora := tinyModel(t), tinyModel(t)
	full.SetTrainBase(true)
	if _, err := lora.AddLoRA(model.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: LoRATargets(lora.Config()), Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if f, l := newCostModel(full).step(0, 12, 12), newCostModel(lora).step(0, 12, 12); !(l < f) {
		t.Fatalf("LoRA step %g FLOP, full %g", l, f)
	}

	// Under a deadline on the compute clock: once on an idle machine, once
	// with every core kept busy. The runs are the same.
	run := func(busy bool) *Result {
		var stop atomic.Bool
		var wg sync.WaitGroup
		if busy {
			for range runtime.GOMAXPROCS(0) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					x := 1.0
					for !stop.Load() {
						for range 1000 {
							x = math.Sqrt(x + 1)
						}
					}
					_ = x
				}()
			}
		}
		defer func() { stop.Store(true); wg.Wait() }()
		m := tinyModel(t)
		m.SetTrainBase(true)
		origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := NewComputeClock(origin, 0.05)
		res, err := Run(context.Background(), m, Data{Train: copyTask(200, 4)},
			Config{Epochs: 50, Patience: -1, Seed: 1, Compute: clock, Deadline: origin.Add(4 * time.Second), Reserve: 100 * time.Millisecond, Precision: "fp32"})
		if err != nil {
			t.Fatal(err)
		}
		if clock.Now().After(origin.Add(4 * time.Second)) {
			t.Fatalf("the run's clock ended at %s, past its deadline", clock.Now().Sub(origin))
		}
		return res
	}
	idle, busy := run(false), run(true)
	if idle.StopReason != StopBudget || idle.Steps < 10 {
		t.Fatalf("idle run: stop %q after %d steps", idle.StopReason, idle.Steps)
	}
	if idle.Steps != busy.Steps || idle.ValLoss != busy.ValLoss || idle.TrainLoss != busy.TrainLoss || idle.LR != busy.LR || idle.ComputeTime != busy.ComputeTime {
		t.Fatalf("idle: %d steps, val %v, train %v, lr %g, %s; busy: %d steps, val %v, train %v, lr %g, %s",
			idle.Steps, idle.ValLoss, idle.TrainLoss, idle.LR, idle.ComputeTime, busy.Steps, busy.ValLoss, busy.TrainLoss, busy.LR, busy.ComputeTime)
	}
}

func lengthsOf(seqs []Sequence) []int {
	out := make([]int, len(seqs))
	for i, s := range seqs {
		out[i] = len(s.IDs)
	}
	return out
}
