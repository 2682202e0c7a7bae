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
type Turns struct {
	// Budget is each miner's training time, counted from the start of its
	// turn (and never past the job's own deadline).
	Budget time.Duration
	slot   chan struct{}
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
	if end := time.Now().Add(s.turns.Budget); end.Before(job.Deadline) {
		j := *job
		j.Deadline = end
		job = &j
	}
	tctx, cancel := context.WithDeadline(ctx, job.Deadline)
	defer cancel()
	return s.inner.Train(tctx, job, report)
}
