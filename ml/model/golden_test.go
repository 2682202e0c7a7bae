package model

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/safetensors"
)

// golden is one case written by tools/goldens/model/make_goldens.py from an
// independent float64 PyTorch implementation.
type golden struct {
	batch  Batch
	logits []float32
	loss   float32
	grads  map[string][]float32
}

func loadGolden(t *testing.T, path string) golden {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	read := func(name string) []float32 {
		v, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	info, _ := f.Info("tokens")
	g := golden{grads: map[string][]float32{}}
	g.batch.B, g.batch.T = info.Shape[0], info.Shape[1]
	for _, v := range read("tokens") {
		g.batch.Tokens = append(g.batch.Tokens, int32(v))
	}
	for _, v := range read("labels") {
		g.batch.Labels = append(g.batch.Labels, int32(v))
	}
	g.logits = read("logits")
	g.loss = read("loss")[0]
	for _, n := range f.Names() {
		if name, ok := strings.CutPrefix(n, "grad."); ok {
			g.grads[name] = read(n)
		}
	}
	return g
}

// maxRelErr is max|got−want| / max|want|.
func maxRelErr(got, want []float32) float64 {
	var d, s float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i]-want[i])))
		s = max(s, math.Abs(float64(want[i])))
	}
	return d / max(s, 1e-12)
}

func maxAbsErr(got, want []float32) float64 {
	var d float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i]-want[i])))
	}
	return d
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name, dir, adapter, golden string
	}{
		{"llama", "llama_tiny", "", "llama_tiny_golden.safetensors"},
		{"gpt2", "gpt2_tiny", "", "gpt2_tiny_golden.safetensors"},
		{"llama-lora", "llama_tiny", "llama_tiny_lora", "llama_tiny_lora_golden.safetensors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := loadGolden(t, filepath.Join("testdata", tc.golden))
			m, err := Load(filepath.Join("testdata", tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			if tc.adapter != "" {
				if err := m.LoadAdapter(filepath.Join("testdata", tc.adapter)); err != nil {
					t.Fatal(err)
				}
			} else {
				m.SetTrainBase(true)
			}
			logits, err := m.Logits(Batch{Tokens: g.batch.Tokens, B: g.batch.B, T: g.batch.T})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("logits max abs error %.3g, loss %.6f", maxAbsErr(logits, g.logits), g.loss)
			if e := maxAbsErr(logits, g.logits); e > 1e-4 {
				t.Errorf("logits: max abs error %.3g > 1e-4", e)
			}
			ev, err := m.Evaluate(g.batch, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(ev.Mean() - float64(g.loss)); d > 1e-5 {
				t.Errorf("evaluate loss %.7f, want %.7f", ev.Mean(), g.loss)
			}
			loss, err := m.ForwardBackward(g.batch, 0)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(loss.Mean() - float64(g.loss)); d > 1e-5 {
				t.Errorf("training loss %.7f, want %.7f", loss.Mean(), g.loss)
			}
			grad := m.Grad
			if tc.adapter != "" {
				grad = m.LoRA().grad
			}
			if len(g.grads) == 0 {
				t.Fatal("golden has no gradients")
			}
			for name, want := range g.grads {
				got := grad(name)
				if len(got) != len(want) {
					t.Errorf("%s: %d gradient elements, want %d", name, len(got), len(want))
					continue
				}
				if e := maxRelErr(got, want); e > 1e-3 {
					t.Errorf("%s: gradient relative error %.3g > 1e-3", name, e)
				}
			}
		})
	}
}
