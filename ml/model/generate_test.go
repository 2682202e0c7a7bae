package model

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestGenerateMatchesFullForward checks the KV-cache path: each greedy token
// must be the argmax of the full forward pass over the sequence so far.
func TestGenerateMatchesFullForward(t *testing.T) {
	cases := tinyConfigs()
	cases["gpt2+lora"] = cases["gpt2"]
	cases["qwen2+lora"] = cases["qwen2-gqa-tied"]
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := New(cfg, 13)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(6, 6))
			scaleParams(m, rng)
			if strings.HasSuffix(name, "+lora") {
				targets := []string{"c_attn", "c_fc"}
				if cfg.Family == Llama {
					targets = []string{"q_proj", "down_proj"}
				}
				// Dropout applies in training only; generation must ignore it.
				l, err := m.AddLoRA(LoRAConfig{Rank: 2, Alpha: 4, Dropout: 0.1, TargetModules: targets})
				if err != nil {
					t.Fatal(err)
				}
				for i := range l.Params() {
					l.Params()[i] = float32(rng.NormFloat64()) * 0.3
				}
			}
			prompt := []int32{1, 5, 7, 3, 2}
			var streamed []int32
			out, err := m.Generate(prompt, GenerateOptions{MaxNewTokens: 8, StopTokens: []int32{}}, func(tok int32) bool {
				streamed = append(streamed, tok)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 8 || !slices.Equal(out, streamed) {
				t.Fatalf("generated %v, streamed %v", out, streamed)
			}
			seq := slices.Clone(prompt)
			V := cfg.Vocab
			for i, tok := range out {
				logits, err := m.Logits(Batch{Tokens: seq, B: 1, T: len(seq)})
				if err != nil {
					t.Fatal(err)
				}
				last := logits[(len(seq)-1)*V:]
				best := 0
				for j, v := range last {
					if v > last[best] {
						best = j
					}
				}
				if int32(best) != tok {
					t.Fatalf("token %d: cache gave %d, full forward %d", i, tok, best)
				}
				seq = append(seq, tok)
			}
		})
	}
}

func TestGenerateSamplingAndStops(t *testing.T) {
	m, err := New(tinyConfigs()["qwen2-gqa-tied"], 13)
	if err != nil {
		t.Fatal(err)
	}
	scaleParams(m, rand.New(rand.NewPCG(6, 6)))
	prompt := []int32{4, 4, 9}
	opts := GenerateOptions{MaxNewTokens: 12, Temperature: 1.5, TopP: 0.9, Seed: 77, StopTokens: []int32{}}
	a, err := m.Generate(prompt, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Generate(prompt, opts, nil)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different samples: %v vs %v", a, b)
	}
	differs := false
	for seed := uint64(0); seed < 8 && !differs; seed++ {
		opts.Seed = seed
		c, _ := m.Generate(prompt, opts, nil)
		differs = !slices.Equal(a, c)
	}
	if !differs {
		t.Fatal("sampling ignores the seed")
	}
	// Stop token: generation ends right after it.
	stop := a[3]
	opts.Seed, opts.StopTokens = 77, []int32{stop}
	s, _ := m.Generate(prompt, opts, nil)
	if i := slices.Index(a, stop); len(s) != i+1 || s[i] != stop {
		t.Fatalf("with stop %d: %v (unstopped %v)", stop, s, a)
	}
	// The callback can stop early.
	n := 0
	s, _ = m.Generate(prompt, GenerateOptions{MaxNewTokens: 10, StopTokens: []int32{}}, func(int32) bool { n++; return n < 3 })
	if len(s) != 3 {
		t.Fatalf("callback stop after 3 tokens gave %d", len(s))
	}
	// GPT-2 cannot feed positions past n_positions: 6 more fit after a
	// 10-token prompt, and the token they predict makes 7.
	g, _ := New(tinyConfigs()["gpt2"], 1)
	s, err = g.Generate(make([]int32, 10), GenerateOptions{MaxNewTokens: 100, StopTokens: []int32{}}, nil)
	if err != nil || len(s) != 7 {
		t.Fatalf("generation within 16 positions: %d tokens, %v", len(s), err)
	}
	for _, bad := range []struct {
		prompt []int32
		opts   GenerateOptions
	}{
		{nil, GenerateOptions{MaxNewTokens: 1}},
		{[]int32{1}, GenerateOptions{}},
		{[]int32{99}, GenerateOptions{MaxNewTokens: 1}},
		{[]int32{1}, GenerateOptions{MaxNewTokens: 1, TopP: 2}},
		{make([]int32, 16), GenerateOptions{MaxNewTokens: 1}},
	} {
		if _, err := g.Generate(bad.prompt, bad.opts, nil); err == nil {
			t.Errorf("Generate(%v, %+v) succeeded", bad.prompt, bad.opts)
		}
	}
}
