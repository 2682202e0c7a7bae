package optim

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

// model is a set of params with a deterministic gradient source.
type model struct {
	params []*Param
	r      *rand.Rand
}

func newModel(sizes ...int) *model {
	m := &model{r: rand.New(rand.NewPCG(11, 12))}
	init := rand.New(rand.NewPCG(1, 2))
	for i, n := range sizes {
		p := &Param{Name: "p" + string(rune('a'+i)), Data: make([]float32, n), Grad: make([]float32, n), NoDecay: i%2 == 1}
		for j := range p.Data {
			p.Data[j] = float32(init.NormFloat64())
		}
		m.params = append(m.params, p)
	}
	return m
}

// fillGrads sets the gradients of step s (a function of the step only).
func (m *model) fillGrads(s int) {
	r := rand.New(rand.NewPCG(uint64(s), 99))
	for _, p := range m.params {
		for j := range p.Grad {
			p.Grad[j] = float32(r.NormFloat64()) * 0.1
		}
	}
}

func (m *model) clone() *model {
	c := &model{}
	for _, p := range m.params {
		q := *p
		q.Data = slices.Clone(p.Data)
		q.Grad = slices.Clone(p.Grad)
		c.params = append(c.params, &q)
	}
	return c
}

func train(o *AdamW, m *model, sched Schedule, from, to int) {
	for s := from; s < to; s++ {
		m.fillGrads(s)
		ClipGradNorm(m.params, 1.0)
		o.Step(sched.LR(o.StepCount()))
	}
}

func sameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s[%d]: %v != %v", what, i, a[i], b[i])
		}
	}
}

func TestStateResumesBitIdentically(t *testing.T) {
	sched, err := NewSchedule(Cosine, 1e-2, 3, 20, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	straight := newModel(50, 7, 33000) // the last one spans several workers
	resumed := straight.clone()
	o1 := NewAdamW(straight.params, DefaultAdamW())
	train(o1, straight, sched, 0, 20)

	o2 := NewAdamW(resumed.params, DefaultAdamW())
	train(o2, resumed, sched, 0, 9)
	path := filepath.Join(t.TempDir(), "optimizer.safetensors")
	if err := o2.SaveState(path); err != nil {
		t.Fatal(err)
	}
	// A fresh optimizer over the same (checkpointed) params continues.
	o3 := NewAdamW(resumed.params, DefaultAdamW())
	if err := o3.LoadStateFile(path); err != nil {
		t.Fatal(err)
	}
	if o3.StepCount() != 9 {
		t.Fatalf("StepCount after load = %d", o3.StepCount())
	}
	train(o3, resumed, sched, 9, 20)
	for i := range straight.params {
		sameBits(t, straight.params[i].Name, straight.params[i].Data, resumed.params[i].Data)
		sameBits(t, "exp_avg", o1.m[i], o3.m[i])
		sameBits(t, "exp_avg_sq", o1.v[i], o3.v[i])
	}

	// The file holds what State describes.
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []string{"pa.exp_avg", "pa.exp_avg_sq", "pb.exp_avg", "pb.exp_avg_sq", "pc.exp_avg", "pc.exp_avg_sq"}
	if !slices.Equal(f.Names(), want) {
		t.Errorf("names %v, want %v", f.Names(), want)
	}
	if ti, _ := f.Info("pc.exp_avg"); ti.DType != tensor.F32 || !tensor.Shape(ti.Shape).Equal(tensor.Shape{33000}) {
		t.Errorf("pc.exp_avg: %+v", ti)
	}
	if f.Metadata()[MetaStep] != "9" {
		t.Errorf("metadata %v", f.Metadata())
	}
}

func TestLoadStateRejects(t *testing.T) {
	m := newModel(4, 3)
	o := NewAdamW(m.params, DefaultAdamW())
	m.fillGrads(0)
	o.Step(1e-3)
	good, meta := o.State()
	dir := t.TempDir()
	tests := []struct {
		name string
		edit func(ts []safetensors.Tensor, meta map[string]string) []safetensors.Tensor
		want string
	}{
		{"missing tensor", func(ts []safetensors.Tensor, _ map[string]string) []safetensors.Tensor { return ts[1:] }, `"pa.exp_avg"`},
		{"wrong size", func(ts []safetensors.Tensor, _ map[string]string) []safetensors.Tensor {
			ts[2] = safetensors.Tensor{Name: ts[2].Name, DType: tensor.F32, Shape: []int{2}, Data: []float32{1, 2}}
			return ts
		}, `"pb.exp_avg" has 2 elements`},
		{"negative second moment", func(ts []safetensors.Tensor, _ map[string]string) []safetensors.Tensor {
			ts[1].Data = slices.Clone(ts[1].Data)
			ts[1].Data[0] = -1
			return ts
		}, `"pa.exp_avg_sq": element 0`},
		{"bad step", func(ts []safetensors.Tensor, meta map[string]string) []safetensors.Tensor {
			meta[MetaStep] = "x"
			return ts
		}, "invalid step"},
		{"not adamw", func(ts []safetensors.Tensor, meta map[string]string) []safetensors.Tensor {
			delete(meta, MetaOptimizer)
			return ts
		}, "want \"adamw\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := slices.Clone(good)
			md := map[string]string{}
			for k, v := range meta {
				md[k] = v
			}
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".safetensors")
			if err := safetensors.Write(path, tt.edit(ts, md), md); err != nil {
				t.Fatal(err)
			}
			fresh := NewAdamW(m.params, DefaultAdamW())
			err := fresh.LoadStateFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if fresh.StepCount() != 0 || fresh.m[0][0] != 0 {
				t.Error("a failed load changed the optimizer")
			}
		})
	}
}

// TestStepDeterministicAcrossCores checks that the update does not depend
// on how many workers run it.
func TestStepDeterministicAcrossCores(t *testing.T) {
	a := newModel(100000, 17, 40000)
	b := a.clone()
	oa := NewAdamW(a.params, DefaultAdamW())
	ob := NewAdamW(b.params, DefaultAdamW())
	prev := runtime.GOMAXPROCS(1)
	for s := range 3 {
		a.fillGrads(s)
		oa.Step(1e-3)
	}
	runtime.GOMAXPROCS(max(4, prev))
	for s := range 3 {
		b.fillGrads(s)
		ClipGradNorm(b.params, 1e9) // exercises the parallel norm too
		ob.Step(1e-3)
	}
	runtime.GOMAXPROCS(prev)
	for i := range a.params {
		sameBits(t, a.params[i].Name, a.params[i].Data, b.params[i].Data)
	}
	runtime.GOMAXPROCS(1)
	n1 := GradNorm(a.params)
	runtime.GOMAXPROCS(max(4, prev))
	n4 := GradNorm(a.params)
	runtime.GOMAXPROCS(prev)
	if n1 != n4 {
		t.Errorf("GradNorm: %v on one core, %v on several", n1, n4)
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	m := newModel(64, 8, 300)
	o := NewAdamW(m.params, DefaultAdamW())
	m.fillGrads(0)
	if n := testing.AllocsPerRun(20, func() { o.Step(1e-4) }); n != 0 {
		t.Errorf("Step allocates %v times per call", n)
	}
}
