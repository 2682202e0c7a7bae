package tuning

import (
	"context"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
)

func TestEvaluateFailures(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	testPath := writeJSONL(t, dir, "test.jsonl", instructRows(10, 8))
	bm, err := model.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bm.Config()
	save := func(name string, m *model.Model) string {
		p := filepath.Join(dir, name)
		if err := m.Save(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A model of another shape.
	other := cfg
	other.Hidden, other.HeadDim = 64, 16
	om, err := model.New(other, 1)
	if err != nil {
		t.Fatal(err)
	}
	wrongArch := save("wrong-arch", om)
	// An adapter made for that other model.
	if _, err := om.AddLoRA(model.LoRAConfig{Rank: 2, Alpha: 4, TargetModules: []string{"q_proj"}}); err != nil {
		t.Fatal(err)
	}
	om.LoRA().Params()[len(om.LoRA().Params())-1] = 0.5
	otherAdapter := filepath.Join(dir, "other-adapter")
	if err := om.SaveAdapter(otherAdapter); err != nil {
		t.Fatal(err)
	}
	// The base saved again, and an adapter that changes nothing.
	same := save("same", bm)
	noop := filepath.Join(dir, "noop-adapter")
	if _, err := bm.AddLoRA(model.LoRAConfig{Rank: 2, Alpha: 4, TargetModules: []string{"q_proj"}}); err != nil {
		t.Fatal(err)
	}
	if err := bm.SaveAdapter(noop); err != nil {
		t.Fatal(err)
	}
	bm.RemoveLoRA()
	// A model whose weights overflow.
	bm.Param("model.norm.weight")[0] = float32(math.Inf(1))
	nan := save("nan", bm)

	cases := []struct{ name, dir, want string }{
		{"wrong architecture", wrongArch, FailArchitecture + ": hidden_size 64, base 48"},
		{"adapter for another base", otherAdapter, FailAdapter},
		{"identical to the base", same, FailIdentical},
		{"adapter that changes nothing", noop, FailIdentical},
		{"non-finite loss", nan, FailNaN},
		{"missing directory", filepath.Join(dir, "nothing"), FailUnreadable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Evaluate(context.Background(), EvalSpec{TaskType: crucible.TaskInstruct, BaseDir: base, ModelDir: c.dir, TestPath: testPath})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(r.Failure, c.want) {
				t.Fatalf("failure %q, want prefix %q", r.Failure, c.want)
			}
		})
	}
	// Problems of the base or the test split are errors, not failures.
	if _, err := Evaluate(context.Background(), EvalSpec{TaskType: crucible.TaskInstruct, BaseDir: dir, TestPath: testPath}); err == nil {
		t.Error("a missing base gave no error")
	}
	if _, err := Evaluate(context.Background(), EvalSpec{TaskType: crucible.TaskInstruct, BaseDir: base, TestPath: filepath.Join(dir, "none.jsonl")}); err == nil {
		t.Error("a missing test split gave no error")
	}
}

func TestFingerprint(t *testing.T) {
	d := make([]float32, 100_000)
	for i := range d {
		d[i] = float32(math.Sin(float64(i)))
	}
	a := Fingerprint(d)
	scaled := make([]float32, len(d))
	noisy := make([]float32, len(d))
	other := make([]float32, len(d))
	for i, v := range d {
		scaled[i] = 3 * v
		noisy[i] = v + 0.05*float32(math.Cos(float64(7*i)))
		other[i] = float32(math.Cos(float64(3 * i)))
	}
	if c := cosine(a, Fingerprint(scaled)); c < 0.9999 {
		t.Errorf("scaled delta: cosine %.4f", c)
	}
	if c := cosine(a, Fingerprint(noisy)); c < 0.99 {
		t.Errorf("lightly perturbed delta: cosine %.4f", c)
	}
	if c := cosine(a, Fingerprint(other)); c > 0.6 {
		t.Errorf("unrelated delta: cosine %.4f", c)
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func TestEvaluateIgnoresThreadCount(t *testing.T) {
	base := tinyBase(t)
	testPath := writeJSONL(t, t.TempDir(), "test.jsonl", instructRows(30, 10))
	spec := EvalSpec{TaskType: crucible.TaskInstruct, BaseDir: base, TestPath: testPath}
	var losses []float64
	for _, n := range []int{1, 3} {
		prev := runtime.GOMAXPROCS(n)
		r, err := Evaluate(context.Background(), spec)
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, r.Loss)
	}
	if math.Float64bits(losses[0]) != math.Float64bits(losses[1]) {
		t.Fatalf("1 thread: %v, 3 threads: %v", losses[0], losses[1])
	}
}

// TestArchitectureDiffQuirks checks that a submission whose config changes
// the computation without changing a size (a sliding window, the rope base,
// the experts' routing) is told apart from its base, for every family.
func TestArchitectureDiffQuirks(t *testing.T) {
	for _, name := range model.ReferenceConfigs() {
		base, err := model.ReferenceConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		if d := ArchitectureDiff(base, base); d != "" {
			t.Errorf("%s against itself: %s", name, d)
		}
		sub := base
		sub.RopeTheta *= 2
		if base.Family == model.GPT2 {
			sub.NormEps *= 2
		}
		if d := ArchitectureDiff(base, sub); d == "" {
			t.Errorf("%s: a changed rope base or norm epsilon goes unnoticed", name)
		}
		if base.MoE != nil {
			moe := *base.MoE
			moe.NormTopK = !moe.NormTopK
			sub = base
			sub.MoE = &moe
			if d := ArchitectureDiff(base, sub); d == "" {
				t.Errorf("%s: a changed top-k normalization goes unnoticed", name)
			}
		}
	}
}
