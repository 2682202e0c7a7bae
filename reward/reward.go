package reward

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Func is one compiled reward function. Score is safe for concurrent use.
type Func interface {
	// Score returns the reward of completion for prompt, reading the row's
	// extra columns. Errors are *Error values.
	Score(prompt, completion string, extra map[string]any) (float64, error)
	// Needs lists the extra columns the reward reads, when it knows them
	// (built-ins); a Starlark reward returns nil.
	Needs() []string
}

// Error is a reward that failed: which reward, where in its code (Line 0
// when the failure is not in Starlark code), on which row and why.
type Error struct {
	Reward  string
	Line    int
	Row     string // the row's position ("file:line"), when known
	Problem string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Row != "" {
		b.WriteString(e.Row)
		b.WriteString(": ")
	}
	b.WriteString("reward ")
	b.WriteString(e.Reward)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	return b.String()
}

// Set is a task's rewards, compiled, with their names and weights.
type Set struct {
	names   []string
	weights []float64
	funcs   []Func
}

// Scores is what a Set gives one completion: each reward's raw value, in
// the Set's order, and the weighted sum.
type Scores struct {
	Parts []float64
	Total float64
}

// Compile validates rs (crucible.ValidateRewards) and compiles each
// reward: a built-in by name with its args, or Starlark code, which is
// parsed, resolved and run once to define reward(). Errors are EINVALID
// and name the reward (and for Starlark the line).
func Compile(rs []crucible.Reward) (*Set, error) {
	if err := crucible.ValidateRewards(rs); err != nil {
		return nil, err
	}
	s := &Set{}
	for _, r := range rs {
		var f Func
		var err error
		if r.Code != "" {
			f, err = CompileStarlark(r.Name, r.Code)
		} else {
			f, err = Builtin(r.Name, r.Args)
		}
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "compile the rewards")
		}
		s.names = append(s.names, r.Name)
		s.weights = append(s.weights, r.Weight)
		s.funcs = append(s.funcs, f)
	}
	return s, nil
}

// Names returns the rewards' names in order.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Weights returns the rewards' weights in order.
func (s *Set) Weights() []float64 { return append([]float64(nil), s.weights...) }

// Len is the number of rewards.
func (s *Set) Len() int { return len(s.funcs) }

// Score runs every reward on one completion. The weighted sum adds the
// rewards in order, so it is the same on every machine.
func (s *Set) Score(prompt, completion string, extra map[string]any) (Scores, error) {
	out := Scores{Parts: make([]float64, len(s.funcs))}
	for i, f := range s.funcs {
		v, err := f.Score(prompt, completion, extra)
		if err != nil {
			return out, err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return out, &Error{Reward: s.names[i], Problem: fmt.Sprintf("returned %v, not a finite number", v)}
		}
		out.Parts[i] = v
		out.Total += s.weights[i] * v
	}
	return out, nil
}

// Needs returns the extra columns the built-in rewards read, sorted.
func (s *Set) Needs() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range s.funcs {
		for _, c := range f.Needs() {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ScoreLenient is Score for use mid-task: a reward that fails on this
// completion (its code raises on text the checks did not foresee) counts
// 0, and its error is returned beside the scores rather than ending the
// run; a failure is a property of the completion, so the same completion
// always scores the same.
func (s *Set) ScoreLenient(prompt, completion string, extra map[string]any) (Scores, []error) {
	out := Scores{Parts: make([]float64, len(s.funcs))}
	var errs []error
	for i, f := range s.funcs {
		v, err := f.Score(prompt, completion, extra)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = &Error{Reward: s.names[i], Problem: fmt.Sprintf("returned %v, not a finite number", v)}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out.Parts[i] = v
		out.Total += s.weights[i] * v
	}
	return out, errs
}
