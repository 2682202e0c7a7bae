package miner

import (
	"context"
	"fmt"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Turns shares one machine between the miners of one process (a local
// network, an experiment): on a real network every miner has its own
// hardware, so a competition between miners that share two cores measures
// the sharing. With Turns the miners train one after another, each alone
// on the machine for the same Budget from the moment its turn starts.
//
// With ComputeRate set the budget is one of compute, not time: each miner
// may do Budget's worth of work at that nominal rate (Job.ComputeRate), so
// that a competition on a machine shared with other work measures the
// miners, not the load; the turn's real time is then bounded by
// ComputeSlack times the budget.
type Turns struct {
	// Budget is each miner's training time, counted from the start of its
	// turn (and never past the job's own deadline).
	Budget time.Duration
	// ComputeRate, when positive, makes Budget compute at this many
	// GFLOP/s (see tuning.Spec.ComputeRate).
	ComputeRate float64
	slot        chan struct{}
}

// ComputeSlack bounds a turn's real time on a compute budget: a budget of
// compute may take longer than its nominal time on a loaded machine (or
// one slower than the nominal rate); a turn ends at this many times it.
const ComputeSlack = 8

// Limit is the real time a turn may take.
func (t *Turns) Limit() time.Duration {
	if t.ComputeRate > 0 {
		return ComputeSlack * t.Budget
	}
	return t.Budget
}

// NewTurns returns turns of budget each, one miner at a time.
func NewTurns(budget time.Duration) *Turns {
	return &Turns{Budget: budget, slot: make(chan struct{}, 1)}
}

// Wrap returns strategy s taking turns: its Train waits for the machine,
// then trains with the deadline moved to the end of the turn.
func (t *Turns) Wrap(s Strategy) Strategy { return &turnStrategy{inner: s, turns: t} }

type turnStrategy struct {
	inner Strategy
	turns *Turns
}

func (s *turnStrategy) Name() string { return s.inner.Name() }

// Method is the inner strategy's: taking turns does not change how it
// trains.
func (s *turnStrategy) Method() crucible.Method {
	if ms, ok := s.inner.(MethodStrategy); ok {
		return ms.Method()
	}
	return crucible.Method{Strategy: s.inner.Name()}
}

// Unwrap returns the strategy that trains.
func (s *turnStrategy) Unwrap() Strategy { return s.inner }

func (s *turnStrategy) Train(ctx context.Context, job *Job, report func(Progress)) error {
	report(Progress{Message: "waiting for the machine: miners here train one after another"})
	select {
	case s.turns.slot <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the machine: %w", ctx.Err())
	}
	defer func() { <-s.turns.slot }()
	j := *job
	if end := time.Now().Add(s.turns.Limit()); end.Before(j.Deadline) {
		j.Deadline = end
	}
	if s.turns.ComputeRate > 0 {
		j.Budget, j.ComputeRate = s.turns.Budget, s.turns.ComputeRate
	}
	job = &j
	tctx, cancel := context.WithDeadline(ctx, job.Deadline)
	defer cancel()
	return s.inner.Train(tctx, job, report)
}
