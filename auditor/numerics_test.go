package auditor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/sign"
)

// loggedNumerics is the numerics class honestNetwork logs with each task
// ("" logs none, as entries written before it was recorded).
var loggedNumerics string

// classEval is lossEval on a machine of another numerics class, whose
// losses come out scaled by factor.
type classEval struct {
	class  string
	factor float64
}

func (e classEval) Evaluate(ctx context.Context, req auditor.EvalRequest) (float64, string, error) {
	l, f, err := lossEval{}.Evaluate(ctx, req)
	return l * e.factor, f, err
}

func (e classEval) Numerics() string { return e.class }

func (classEval) NumericsBound() float64 { return 1e-5 }

// TestNumericsClasses checks the comparison across machines: an auditor
// of another numerics class accepts losses within the bound and flags one
// beyond it; one of the same class, or auditing a log without a class,
// still needs every bit.
func TestNumericsClasses(t *testing.T) {
	defer func() { loggedNumerics = "" }()
	key, _ := sign.FromURI("//Validator")
	cases := []struct {
		name, logged string
		ev           classEval
		ok           bool
	}{
		{"other class, rounding", "fp32/amd64-avx/avx2", classEval{"fp32/arm64-go/go", 1 + 5e-8}, true},
		{"other class, beyond the bound", "fp32/amd64-avx/avx2", classEval{"fp32/arm64-go/go", 1 + 1e-3}, false},
		{"same class needs every bit", "fp32/amd64-avx/avx2", classEval{"fp32/amd64-avx/avx2", 1 + 5e-8}, false},
		{"no class logged needs every bit", "", classEval{"fp32/arm64-go/go", 1 + 5e-8}, false},
		{"same class, same bits", "fp32/amd64-avx/avx2", classEval{"fp32/amd64-avx/avx2", 1}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loggedNumerics = c.logged
			p := honestNetwork(t, key, nil)
			r, _ := auditWith(t, key, p, published1(p), c.ev)
			if len(r.Reevaluated) != 5 {
				t.Fatalf("re-evaluated %d submissions, want 5", len(r.Reevaluated))
			}
			if r.OK() != c.ok {
				t.Fatalf("audit OK = %v, want %v: %+v", r.OK(), c.ok, r.Discrepancies)
			}
			if !c.ok && c.logged != "" && c.logged != c.ev.class && !has(r, "relative bound between numerics classes") {
				t.Errorf("flag does not name the bound: %+v", r.Discrepancies)
			}
			for _, re := range r.Reevaluated {
				if other := c.logged != "" && c.logged != c.ev.class; other != (re.Numerics != "") || other && re.Bound != 1e-5 {
					t.Errorf("re-evaluation %+v: numerics and bound not recorded as expected", re)
				}
				if strings.Contains(re.Skipped, "reward") {
					t.Errorf("a loss was skipped: %+v", re)
				}
			}
		})
	}
}
