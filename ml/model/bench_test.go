package model

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTrainStep times one forward-backward pass of a GPT-2 config of
// about 30M parameters (L6 C384, vocab 50257, B4 T256).
func BenchmarkTrainStep(b *testing.B) {
	for _, mode := range []string{"full", "lora"} {
		b.Run(mode, func(b *testing.B) {
			m, err := New(NewGPT2Config(384, 6, 6, 50257, 1024), 1)
			if err != nil {
				b.Fatal(err)
			}
			if mode == "full" {
				m.SetTrainBase(true)
			} else if _, err := m.AddLoRA(LoRAConfig{Rank: 16, Alpha: 32, TargetModules: []string{"c_attn", "c_proj", "c_fc"}}); err != nil {
				b.Fatal(err)
			}
			batch := randomBatch(rand.New(rand.NewPCG(1, 1)), 50257, 4, 256)
			b.ResetTimer()
			for range b.N {
				m.ZeroGrads()
				if _, err := m.ForwardBackward(batch, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*4*256)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkEvaluate times the forward-only evaluation of the same config.
func BenchmarkEvaluate(b *testing.B) {
	m, err := New(NewGPT2Config(384, 6, 6, 50257, 1024), 1)
	if err != nil {
		b.Fatal(err)
	}
	batch := randomBatch(rand.New(rand.NewPCG(1, 1)), 50257, 4, 256)
	b.ResetTimer()
	for range b.N {
		if _, err := m.Evaluate(batch, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*4*256)/b.Elapsed().Seconds(), "tokens/s")
}
