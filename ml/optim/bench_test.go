package optim

import "testing"

// BenchmarkAdamWStep updates 16M params (a ~64 MiB model) per op.
func BenchmarkAdamWStep(b *testing.B) {
	m := newModel(8<<20, 4096, 8<<20-4096)
	m.fillGrads(0)
	o := NewAdamW(m.params, DefaultAdamW())
	b.SetBytes(16 << 20 * 4)
	for b.Loop() {
		o.Step(1e-4)
	}
}

func BenchmarkClipGradNorm(b *testing.B) {
	m := newModel(8<<20, 4096, 8<<20-4096)
	m.fillGrads(0)
	b.SetBytes(16 << 20 * 4)
	for b.Loop() {
		ClipGradNorm(m.params, 1e9)
	}
}
