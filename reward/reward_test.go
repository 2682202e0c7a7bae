package reward_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/reward"
)

func builtin(t *testing.T, name string, args map[string]any) reward.Func {
	t.Helper()
	f, err := reward.Builtin(name, args)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

func TestBuiltins(t *testing.T) {
	extra := map[string]any{"answer": 7.0, "text": "Paris", "big": "1,250"}
	cases := []struct {
		name       string
		args       map[string]any
		completion string
		want       float64
	}{
		{"numeric_answer", nil, "The answer is 7.", 1},
		{"numeric_answer", nil, "3 + 4 = 7.0", 1},
		{"numeric_answer", nil, "3 + 4 = 8", 0},
		{"numeric_answer", nil, "I think 7 ... no, 9\n#### 7", 1},
		{"numeric_answer", nil, "no number", 0},
		{"numeric_answer", map[string]any{"field": "big"}, "It costs $1,250.", 1},
		{"numeric_answer", map[string]any{"tolerance": "0.1"}, "7.5", 1},
		{"numeric_answer", map[string]any{"tolerance": 0.01}, "7.5", 0},
		{"exact_answer", map[string]any{"field": "text"}, "  paris. ", 1},
		{"exact_answer", map[string]any{"field": "text", "case_sensitive": "true"}, "paris", 0},
		{"exact_answer", map[string]any{"field": "text"}, "<think>capital</think><answer>Paris</answer>", 1},
		{"exact_answer", map[string]any{"field": "text"}, "Lyon", 0},
		{"contains_answer", map[string]any{"field": "text"}, "I believe it is PARIS, France", 1},
		{"regex_match", map[string]any{"pattern": `^\s*-?\d+\s*$`}, " 42 ", 1},
		{"regex_match", map[string]any{"pattern": `\d+`, "full": true}, "a 42", 0},
		{"think_answer_format", nil, "<think>a\nb</think>\n<answer>7</answer>", 1},
		{"think_answer_format", nil, "<answer>7</answer>", 0},
		{"length_window", map[string]any{"min": 2.0, "max": 4.0}, "one two three", 1},
		{"length_window", map[string]any{"min": 2.0, "max": 4.0}, "one", 0.5},
		{"length_window", map[string]any{"max": 4.0}, "a b c d e f", 0.5},
		{"length_window", map[string]any{"max": 3.0, "unit": "chars"}, "abcdefghi", 0},
		{"json_valid", nil, "```json\n{\"a\": 1}\n```", 1},
		{"json_valid", nil, "{\"a\": ", 0},
		{"json_valid", map[string]any{"object": true}, "[1, 2]", 0},
		{"repetition_penalty", nil, "a b c d e f", 0},
		{"repetition_penalty", map[string]any{"ngram": "1"}, "a a a a", -0.75},
	}
	for _, c := range cases {
		f := builtin(t, c.name, c.args)
		got, err := f.Score("prompt", c.completion, extra)
		if err != nil {
			t.Errorf("%s(%q): %v", c.name, c.completion, err)
			continue
		}
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s%v(%q) = %g, want %g", c.name, c.args, c.completion, got, c.want)
		}
	}
}

func TestBuiltinErrors(t *testing.T) {
	cases := []struct {
		name string
		args map[string]any
		want string
	}{
		{"nope", nil, "no built-in reward of this name"},
		{"numeric_answer", map[string]any{"tolerence": "1"}, `unknown argument "tolerence"`},
		{"numeric_answer", map[string]any{"tolerance": "x"}, "is not a number"},
		{"regex_match", nil, "pattern is required"},
		{"regex_match", map[string]any{"pattern": "("}, "missing closing )"},
		{"length_window", map[string]any{"min": 5.0, "max": 2.0}, "want 0 ≤ min ≤ max"},
		{"repetition_penalty", map[string]any{"ngram": 0.5}, "whole number"},
	}
	for _, c := range cases {
		_, err := reward.Builtin(c.name, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s%v: error %v, want one containing %q", c.name, c.args, err, c.want)
		}
	}
	f := builtin(t, "numeric_answer", nil)
	if _, err := f.Score("p", "7", map[string]any{"answer": ""}); err == nil || !strings.Contains(err.Error(), `extra column "answer" is empty`) {
		t.Errorf("empty answer: %v", err)
	}
	if _, err := f.Score("p", "7", map[string]any{"other": "1"}); err == nil || !strings.Contains(err.Error(), `no extra column "answer" (extra columns: other)`) {
		t.Errorf("missing answer: %v", err)
	}
}

const goodStar = `
def digits(s):
    return [c for c in s.elems() if c.isdigit()]

def reward(prompt, completion, extra):
    want = str(extra["answer"])
    found = re.findall(r"-?\d+", completion)
    score = 0.0
    if found and found[-1] == want:
        score += 1.0
    if len(completion) > 40:
        score -= 0.5
    return score + 0.0 * math.sqrt(4) + 0.0 * len(digits(prompt))
`

func compile(t *testing.T, code string) (reward.Func, error) {
	t.Helper()
	return reward.CompileStarlark("mine", code)
}

func TestStarlark(t *testing.T) {
	f, err := compile(t, goodStar)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		completion string
		want       float64
	}{{"it is 7", 1}, {"it is 8", 0}, {"it is 7 " + strings.Repeat("x", 40), 0.5}} {
		got, err := f.Score("3+4?", c.completion, map[string]any{"answer": 7.0})
		if err != nil || got != c.want {
			t.Errorf("Score(%q) = %g, %v; want %g", c.completion, got, err, c.want)
		}
	}
}

func TestStarlarkErrors(t *testing.T) {
	cases := []struct {
		name, code string
		line       int
		want       string
		compile    bool // fails at compile time
	}{
		{"syntax", "def reward(prompt, completion, extra):\n    return (1\n", 3, "syntax error", true},
		{"undefined", "def reward(prompt, completion, extra):\n    return time.now()\n", 2, "undefined: time", true},
		{"load", "load('x.star', 'y')\ndef reward(p, c, e):\n    return 1\n", 1, "load() is not available", true},
		{"no reward", "def score(p, c, e):\n    return 1\n", 0, "defines no function reward", true},
		{"arity", "def reward(p, c):\n    return 1\n", 1, "want exactly three", true},
		{"toplevel loop", "x = 0\nwhile True:\n    x += 1\n", 3, "step limit", true},
		{"runtime", "def reward(p, c, e):\n    x = 1\n    return x / 0\n", 3, "division by zero", false},
		{"key", "def reward(p, c, e):\n    return float(e['missing'])\n", 2, `key "missing" not in dict`, false},
		{"string", "def reward(p, c, e):\n    return 'high'\n", 1, `returned "high" (string), not a number`, false},
		{"bool", "def reward(p, c, e):\n    return True\n", 1, "(bool), not a number", false},
		{"none", "def reward(p, c, e):\n    pass\n", 1, "(NoneType), not a number", false},
		{"nan", "def reward(p, c, e):\n    return float('nan')\n", 1, "not a finite number", false},
		{"loop", "def reward(p, c, e):\n    n = 0\n    while True:\n        n += 1\n    return n\n", 4, "step limit of 1000000 steps", false},
		{"recursion", "def f(n):\n    return f(n)\ndef reward(p, c, e):\n    return f(1)\n", 2, "called recursively", false},
	}
	for _, c := range cases {
		f, err := compile(t, c.code)
		if err == nil {
			if c.compile {
				t.Errorf("%s: compiled", c.name)
				continue
			}
			_, err = f.Score("p", "c", map[string]any{"answer": 1.0})
		} else if !c.compile {
			t.Errorf("%s: compile: %v", c.name, err)
			continue
		}
		var re *reward.Error
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v is not a *reward.Error", c.name, err)
			continue
		}
		if re.Reward != "mine" || re.Line != c.line || !strings.Contains(re.Problem, c.want) {
			t.Errorf("%s: got reward %q line %d problem %q; want line %d and %q", c.name, re.Reward, re.Line, re.Problem, c.line, c.want)
		}
	}
}

// A reward is a pure function: the same inputs give the same value, from
// any number of goroutines at once.
func TestStarlarkDeterministicConcurrent(t *testing.T) {
	code := `
def reward(prompt, completion, extra):
    d = {}
    for w in completion.split(" "):
        d[w] = d.get(w, 0) + 1
    s = 0.0
    for k, v in d.items():
        s = s * 1.000001 + hash(k) % 97 * v / 13.0
    return s + json.decode(json.encode(extra))["answer"]
`
	f, err := compile(t, code)
	if err != nil {
		t.Fatal(err)
	}
	text := "the cat sat on the mat and the dog sat too"
	want, err := f.Score("", text, map[string]any{"answer": 3.0})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, err := f.Score("", text, map[string]any{"answer": 3.0})
				if err != nil || math.Float64bits(got) != math.Float64bits(want) {
					t.Errorf("got %v, %v; want %v", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestSetScoreAndCheck(t *testing.T) {
	rs := []crucible.Reward{
		{Name: "numeric_answer", Weight: 1},
		{Name: "len", Weight: 0.5, Code: "def reward(p, c, e):\n    return 1.0 if len(c) < 10 else 0.0\n"},
	}
	s, err := reward.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Score("q", "7", map[string]any{"answer": "7"})
	if err != nil || got.Total != 1.5 || got.Parts[0] != 1 || got.Parts[1] != 1 {
		t.Fatalf("Score = %+v, %v", got, err)
	}
	if n := s.Needs(); len(n) != 1 || n[0] != "answer" {
		t.Errorf("Needs = %v", n)
	}
	samples := []reward.Sample{
		{Where: "data.jsonl:1", Prompt: "3+4?", Extra: map[string]any{"answer": 7.0}},
		{Where: "data.jsonl:2", Prompt: "2+2?", Extra: map[string]any{"answer": ""}},
		{Where: "data.jsonl:3", Prompt: "2+3?", Extra: map[string]any{"answer": "five"}},
	}
	errs := s.Check(samples, 0)
	if len(errs) != 2 {
		t.Fatalf("Check: %v", errs)
	}
	if !strings.Contains(errs[0].Error(), `data.jsonl:2: reward numeric_answer: extra column "answer" is empty`) ||
		!strings.Contains(errs[1].Error(), `data.jsonl:3: reward numeric_answer: extra column "answer" holds "five", not a number`) {
		t.Errorf("Check errors: %v", errs)
	}

	bad, err := reward.Compile([]crucible.Reward{{Name: "picky", Weight: 1, Code: "def reward(p, c, e):\n    return 1 / len(c)\n"}})
	if err != nil {
		t.Fatal(err)
	}
	errs = bad.Check(samples[:1], 0)
	if len(errs) != 1 || errs[0].Error() != "data.jsonl:1: reward picky (line 2): floating-point division by zero (on the empty completion)" {
		t.Errorf("Check picky: %v", errs)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		rs   []crucible.Reward
		want string
	}{
		{nil, "at least one reward"},
		{[]crucible.Reward{{Name: "numeric_answer", Weight: -1}}, "weight -1 must be a finite number ≥ 0"},
		{[]crucible.Reward{{Name: "numeric_answer", Weight: 0}}, "sum to 0"},
		{[]crucible.Reward{{Name: "a", Weight: 1, Code: "x"}, {Name: "a", Weight: 1, Code: "y"}}, "named twice"},
		{[]crucible.Reward{{Name: "bad name", Weight: 1}}, "reward name"},
		{[]crucible.Reward{{Name: "x", Weight: 1, Code: "def reward(p, c, e)\n  return 1"}}, "reward x (line 1): syntax error"},
	} {
		_, err := reward.Compile(c.rs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%v): %v, want %q", c.rs, err, c.want)
		}
		if crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("Compile(%v): code %s", c.rs, crucible.ErrorCode(err))
		}
	}
}

func TestParseSpec(t *testing.T) {
	r, err := reward.ParseSpec("numeric_answer:field=result,tolerance=0.01,weight=2")
	if err != nil || r.Name != "numeric_answer" || r.Weight != 2 || r.Args["field"] != "result" || r.Args["tolerance"] != "0.01" {
		t.Fatalf("ParseSpec = %+v, %v", r, err)
	}
	r, err = reward.ParseSpec(`{"name": "regex_match", "args": {"pattern": "^\\d{1,3}$"}}`)
	if err != nil || r.Weight != 1 || r.Args["pattern"] != `^\d{1,3}$` {
		t.Fatalf("ParseSpec json = %+v, %v", r, err)
	}
	if _, err := reward.Compile([]crucible.Reward{r}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"x:novalue", "x:weight=heavy", `{"name": "x", "wieght": 1}`} {
		if _, err := reward.ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) passed", bad)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "my-reward.star")
	os.WriteFile(p, []byte("def reward(p, c, e):\n    return 1\n"), 0o644)
	r, err = reward.FromFile(p + ":weight=0.5")
	if err != nil || r.Name != "my-reward" || r.Weight != 0.5 || r.Code == "" {
		t.Fatalf("FromFile = %+v, %v", r, err)
	}
	if _, err := reward.FromFile(filepath.Join(dir, "missing.star")); err == nil {
		t.Error("FromFile(missing) passed")
	}
}

// A reward that builds huge values in a few steps (the step limit does
// not see memory) is stopped by the memory watchdog with a clear error,
// at compile time and when scoring.
func TestStarlarkMemoryBomb(t *testing.T) {
	defer reward.SetMaxMemory(64 << 20)()
	bomb := "def reward(p, c, e):\n    s = 'x' * 1000\n    for i in range(40):\n        s = s + s\n    return len(s)\n"
	f, err := compile(t, bomb)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	_, err = f.Score("p", "c", nil)
	var re *reward.Error
	if !errors.As(err, &re) || !strings.Contains(re.Problem, "MiB of memory") || (re.Line != 3 && re.Line != 4) {
		t.Fatalf("scoring a memory bomb: %v; want a *reward.Error at line 3 or 4 saying it used too much memory", err)
	}
	_, err = compile(t, "s = 'x' * 1000\nfor i in range(40):\n    s = s + s\ndef reward(p, c, e):\n    return 1\n")
	if !errors.As(err, &re) || !strings.Contains(re.Problem, "MiB of memory") {
		t.Fatalf("compiling a memory bomb: %v; want a *reward.Error saying it used too much memory", err)
	}
	// An honest reward still scores after the bombs.
	ok, err := compile(t, "def reward(p, c, e):\n    return len(c)\n")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ok.Score("p", "abc", nil); err != nil || v != 3 {
		t.Fatalf("honest reward after the bombs: %v, %v", v, err)
	}
}
