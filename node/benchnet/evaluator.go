package benchnet

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/crucible-net/crucible/validator"
)

// timedEvaluator is the validator's evaluator, recording when each
// evaluation ran so that the time can be taken out of the overhead.
type timedEvaluator struct {
	validator.Evaluator
	mu   sync.Mutex
	busy []span
}

type span struct{ from, to time.Time }

func (e *timedEvaluator) Evaluate(ctx context.Context, req validator.EvalRequest) (*validator.EvalResult, error) {
	from := time.Now()
	defer func() {
		e.mu.Lock()
		e.busy = append(e.busy, span{from, time.Now()})
		e.mu.Unlock()
	}()
	return e.Evaluator.Evaluate(ctx, req)
}

// within is how long, between from and to, at least one evaluation ran.
// The tasks are measured one after another, each after the one before, so
// the evaluations that ended before from are forgotten.
func (e *timedEvaluator) within(from, to time.Time) time.Duration {
	e.mu.Lock()
	var spans []span
	kept := e.busy[:0]
	for _, s := range e.busy {
		if s.to.Before(from) {
			continue
		}
		kept = append(kept, s)
		a, b := maxTime(s.from, from), minTime(s.to, to)
		if b.After(a) {
			spans = append(spans, span{a, b})
		}
	}
	clear(e.busy[len(kept):])
	e.busy = kept
	e.mu.Unlock()
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	var total time.Duration
	var end time.Time
	for _, s := range spans {
		if s.from.Before(end) {
			s.from = end
		}
		if s.to.After(s.from) {
			total += s.to.Sub(s.from)
			end = s.to
		}
	}
	return total
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
