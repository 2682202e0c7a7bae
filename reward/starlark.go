package reward

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"runtime/metrics"
	"sort"
	"strings"
	"time"

	"go.starlark.net/lib/json"
	smath "go.starlark.net/lib/math"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// MaxSteps is the interpreter steps one call of a Starlark reward may
// take (and the steps its top-level code may take when compiled): enough
// for string work over a long completion, few enough that a runaway loop
// ends in well under a second.
const MaxSteps = 1_000_000

// wallLimit backs the step limit up for time spent inside built-in
// functions (one regular expression over a long text, say), which the
// step count does not see. The step limit is what makes a reward fail
// deterministically; this only keeps a machine from hanging.
const wallLimit = 10 * time.Second

// maxMemory is how far the process's heap may grow while one Starlark
// reward runs. The step limit does not bound memory: a few steps of
// s = s + s build a string of gigabytes. A watchdog polls the heap while
// a call lasts longer than memPoll and cancels the call past this growth.
// The heap is the process's, not the call's, so the limit is generous:
// an honest reward uses kilobytes and ends before the first poll.
var maxMemory uint64 = 1 << 30

// memPoll is how often the watchdog looks at the heap.
const memPoll = time.Millisecond

// fileOptions are the Starlark dialect: top-level if/for and while loops
// are allowed (the step limit bounds them), recursion is not.
var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true}

// predeclared is everything a reward's code can name beyond Starlark's
// universe: pure modules only.
var predeclared = starlark.StringDict{
	"math": smath.Module,
	"json": json.Module,
	"re":   reModule,
}

// starlarkFunc is a compiled Starlark reward.
type starlarkFunc struct {
	name string
	fn   *starlark.Function
}

// CompileStarlark compiles a Starlark reward: the code must define
// reward(prompt, completion, extra). Syntax, name-resolution and run-time
// errors of the top-level code come back as *Error with the line.
func CompileStarlark(name, code string) (Func, error) {
	filename := name + ".star"
	_, prog, err := starlark.SourceProgramOptions(fileOptions, filename, code, predeclared.Has)
	if err != nil {
		return nil, starlarkError(name, err)
	}
	if prog.NumLoads() > 0 {
		_, pos := prog.Load(0)
		return nil, &Error{Reward: name, Line: int(pos.Line), Problem: "load() is not available: a reward is one self-contained file"}
	}
	th := newThread(name)
	globals, err := runLimited(th, func() (starlark.StringDict, error) { return prog.Init(th, predeclared) })
	if err != nil {
		return nil, starlarkError(name, err)
	}
	globals.Freeze()
	v, ok := globals["reward"]
	if !ok {
		return nil, &Error{Reward: name, Problem: "the code defines no function reward(prompt, completion, extra)"}
	}
	fn, ok := v.(*starlark.Function)
	if !ok {
		return nil, &Error{Reward: name, Problem: fmt.Sprintf("reward is a %s, not a function", v.Type())}
	}
	if fn.NumParams() != 3 || fn.HasVarargs() || fn.HasKwargs() {
		pos := fn.Position()
		return nil, &Error{Reward: name, Line: int(pos.Line), Problem: fmt.Sprintf("reward takes %d parameters; want exactly three: reward(prompt, completion, extra)", fn.NumParams())}
	}
	return &starlarkFunc{name: name, fn: fn}, nil
}

func newThread(name string) *starlark.Thread {
	th := &starlark.Thread{Name: name, Print: func(*starlark.Thread, string) {}}
	th.SetMaxExecutionSteps(MaxSteps)
	th.OnMaxSteps = func(th *starlark.Thread) {
		th.Cancel(fmt.Sprintf("ran past the step limit of %d steps (an endless loop, or too much work for one completion)", MaxSteps))
	}
	return th
}

// runLimited runs f on th with the wall-clock backstop and the memory
// watchdog armed.
func runLimited[T any](th *starlark.Thread, f func() (T, error)) (T, error) {
	t := time.AfterFunc(wallLimit, func() { th.Cancel(fmt.Sprintf("ran past %s", wallLimit)) })
	defer t.Stop()
	done := make(chan struct{})
	defer close(done)
	go watchMemory(th, heapBytes(), maxMemory, done)
	return f()
}

// watchMemory cancels th once the heap has grown more than limit bytes
// past start, until done is closed.
func watchMemory(th *starlark.Thread, start, limit uint64, done <-chan struct{}) {
	if start == 0 {
		return // the runtime does not report its heap: nothing to compare with
	}
	tick := time.NewTicker(memPoll)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if now := heapBytes(); now > start && now-start > limit {
				th.Cancel(fmt.Sprintf("used more than %d MiB of memory (a reward may build only small values)", limit>>20))
				return
			}
		}
	}
}

// heapBytes is the memory the heap's objects occupy now, live or not yet
// collected.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func (f *starlarkFunc) Needs() []string { return nil }

func (f *starlarkFunc) Score(prompt, completion string, extra map[string]any) (float64, error) {
	ex, err := toStarlark(extra)
	if err != nil {
		return 0, &Error{Reward: f.name, Problem: "extra columns: " + err.Error()}
	}
	th := newThread(f.name)
	v, err := runLimited(th, func() (starlark.Value, error) {
		return starlark.Call(th, f.fn, starlark.Tuple{starlark.String(prompt), starlark.String(completion), ex}, nil)
	})
	if err != nil {
		return 0, starlarkError(f.name, err)
	}
	switch x := v.(type) {
	case starlark.Int:
		if i, ok := x.Int64(); ok {
			return float64(i), nil
		}
		return 0, &Error{Reward: f.name, Line: int(f.fn.Position().Line), Problem: fmt.Sprintf("returned %s, too large a number", clip(x.String(), 40))}
	case starlark.Float:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, &Error{Reward: f.name, Line: int(f.fn.Position().Line), Problem: fmt.Sprintf("returned %v, not a finite number", float64(x))}
		}
		return float64(x), nil
	}
	return 0, &Error{Reward: f.name, Line: int(f.fn.Position().Line), Problem: fmt.Sprintf("returned %s (%s), not a number", clip(v.String(), 40), v.Type())}
}

// starlarkError turns a Starlark error into an *Error with the line in
// the reward's own code where it happened.
func starlarkError(name string, err error) error {
	file := name + ".star"
	var se syntax.Error
	var el resolve.ErrorList
	var ee *starlark.EvalError
	switch {
	case errors.As(err, &se):
		line := int(se.Pos.Line)
		if strings.HasPrefix(se.Msg, "got newline") && line > 1 {
			line-- // the newline that ends the faulty line is placed on the next
		}
		return &Error{Reward: name, Line: line, Problem: "syntax error: " + se.Msg}
	case errors.As(err, &el) && len(el) > 0:
		var msgs []string
		for _, e := range el {
			msgs = append(msgs, e.Msg)
		}
		return &Error{Reward: name, Line: int(el[0].Pos.Line), Problem: strings.Join(msgs, "; ")}
	case errors.As(err, &ee):
		line := 0
		for i := 0; i < len(ee.CallStack); i++ {
			if fr := ee.CallStack.At(i); fr.Pos.Filename() == file {
				line = int(fr.Pos.Line)
				break
			}
		}
		return &Error{Reward: name, Line: line, Problem: ee.Msg}
	}
	return &Error{Reward: name, Problem: err.Error()}
}

// toStarlark converts a row's extra columns (JSON-decoded values) to a
// frozen Starlark dict. Whole numbers become ints, as Python's json gives
// them for numbers written without a fraction.
func toStarlark(extra map[string]any) (*starlark.Dict, error) {
	d := starlark.NewDict(len(extra))
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := value(extra[k], 0)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", k, err)
		}
		d.SetKey(starlark.String(k), v)
	}
	d.Freeze()
	return d, nil
}

func value(v any, depth int) (starlark.Value, error) {
	if depth > 32 {
		return nil, errors.New("nested more than 32 levels deep")
	}
	switch x := v.(type) {
	case nil:
		return starlark.None, nil
	case string:
		return starlark.String(x), nil
	case []byte:
		return starlark.String(x), nil
	case bool:
		return starlark.Bool(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return starlark.MakeInt64(int64(x)), nil
		}
		return starlark.Float(x), nil
	case float32:
		return value(float64(x), depth)
	case int:
		return starlark.MakeInt(x), nil
	case int32:
		return starlark.MakeInt64(int64(x)), nil
	case int64:
		return starlark.MakeInt64(x), nil
	case uint64:
		return starlark.MakeBigInt(new(big.Int).SetUint64(x)), nil
	case []any:
		out := make([]starlark.Value, len(x))
		for i, e := range x {
			sv, err := value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = sv
		}
		return starlark.NewList(out), nil
	case map[string]any:
		d := starlark.NewDict(len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sv, err := value(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			d.SetKey(starlark.String(k), sv)
		}
		return d, nil
	}
	return nil, fmt.Errorf("a %T cannot be passed to Starlark", v)
}
