package reward

import (
	"errors"
	"fmt"
	"strings"
)

// Sample is one dataset row as the rewards see it: the prompt text and
// the extra columns, with where it is (for messages).
type Sample struct {
	Where  string // "file:line", or "row N"
	Prompt string
	Extra  map[string]any
}

// Probes are the completions Check tries on every sample, besides each
// sample's own extra values: empty, a bare number, a sentence with a
// number, a reasoned answer in the formats the built-ins look for, JSON
// and a long repetitive text.
var Probes = []string{
	"",
	"42",
	"The answer is 7.",
	"<think>3 + 4 = 7</think>\n<answer>7</answer>",
	"Let me think step by step. 12 - 5 = 7.\n#### 7",
	`{"answer": 7}`,
	strings.Repeat("the same words again and ", 40),
}

// Check runs every reward on every sample with each probe completion and
// returns the failures (at most max; 0 means 20), each an *Error naming
// the reward, its line and the row: a run-time error, a non-number, a
// step-limit overrun, or an extra column a built-in needs that the row
// lacks or leaves empty.
func (s *Set) Check(samples []Sample, max int) []error {
	if max <= 0 {
		max = 20
	}
	c := s.NewChecker()
	var errs []error
	for _, smp := range samples {
		for _, err := range c.Check(smp) {
			errs = append(errs, err)
			if len(errs) >= max {
				return errs
			}
		}
	}
	return errs
}

// Checker checks rows one at a time (a dataset streamed through it),
// remembering across rows which Starlark rewards already failed: such a
// reward is not run again, since its first failure (with its line) is
// what to fix, and a runaway one would cost the step limit on every row.
type Checker struct {
	s    *Set
	done []bool
}

// NewChecker returns a Checker for the set's rewards.
func (s *Set) NewChecker() *Checker { return &Checker{s: s, done: make([]bool, len(s.funcs))} }

// Check runs every reward still standing on one row with each probe
// completion (and the row's own extra values as completions), and returns
// at most one failure per reward.
func (c *Checker) Check(smp Sample) []error {
	var errs []error
	probes := append([]string(nil), Probes...)
	for _, k := range sortedKeys(smp.Extra) {
		if t := valueText(smp.Extra[k]); t != "" {
			probes = append(probes, t)
		}
	}
	for i, f := range c.s.funcs {
		if c.done[i] {
			continue
		}
		for _, comp := range probes {
			v, err := f.Score(smp.Prompt, comp, smp.Extra)
			if err == nil && !finite(v) {
				err = &Error{Reward: c.s.names[i], Problem: fmt.Sprintf("returned %v, not a finite number", v)}
			}
			if err == nil {
				continue
			}
			var re *Error
			if !errors.As(err, &re) {
				re = &Error{Reward: c.s.names[i], Problem: err.Error()}
			}
			if _, isStar := f.(*starlarkFunc); isStar {
				c.done[i] = true
			}
			e := *re
			e.Row = smp.Where
			if comp != "" {
				e.Problem += fmt.Sprintf(" (on the completion %q)", clip(comp, 40))
			} else {
				e.Problem += " (on the empty completion)"
			}
			errs = append(errs, &e)
			break // one failure per reward and row
		}
	}
	return errs
}

func finite(v float64) bool { return v == v && v-v == 0 }
