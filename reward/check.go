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
	var errs []error
	seen := map[string]bool{} // one failure per reward and problem is enough
	for _, smp := range samples {
		probes := append([]string(nil), Probes...)
		for _, k := range sortedKeys(smp.Extra) {
			if t := valueText(smp.Extra[k]); t != "" {
				probes = append(probes, t)
			}
		}
		for i, f := range s.funcs {
			for _, c := range probes {
				v, err := f.Score(smp.Prompt, c, smp.Extra)
				if err == nil && !finite(v) {
					err = &Error{Reward: s.names[i], Problem: fmt.Sprintf("returned %v, not a finite number", v)}
				}
				if err == nil {
					continue
				}
				var re *Error
				if !errors.As(err, &re) {
					re = &Error{Reward: s.names[i], Problem: err.Error()}
				}
				e := *re
				e.Row = smp.Where
				if c != "" {
					e.Problem += fmt.Sprintf(" (on the completion %q)", clip(c, 40))
				} else {
					e.Problem += " (on the empty completion)"
				}
				key := e.Reward + "\x00" + re.Problem
				if seen[key] && re.Line > 0 {
					break
				}
				seen[key] = true
				errs = append(errs, &e)
				if len(errs) >= max {
					return errs
				}
				break // one failure per reward and row
			}
		}
	}
	return errs
}

func finite(v float64) bool { return v == v && v-v == 0 }
