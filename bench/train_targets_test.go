package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestTrainTargets(t *testing.T) {
	rows := []trainBenchRow{
		{Config: "gpt2-124m", Mode: "full", Precision: "bf16", TokensPerS: 100, CPUUtil: 0.5, PeakRSSBytes: 1 << 30},
		{Config: "gpt2-124m", Mode: "lora", Precision: "bf16", TokensPerS: 140, CPUUtil: 0.25},
		{Config: "gpt2-124m", Mode: "eval", Precision: "bf16", TokensPerS: 400},
		{Config: "gpt2-124m-t256", Mode: "full", Precision: "bf16", TokensPerS: 80, PeakRSSBytes: 2 << 30},
		{Config: "gpt2-30m", Mode: "lora", Precision: "fp32", TokensPerS: 900}, // no pair: no ratio
		{Config: "qwen2.5-0.5b", Mode: "lora", Precision: "fp32", Seq: 512, PeakRSSBytes: 3 << 30},
		{Config: "qwen2.5-0.5b", Mode: "eval", Precision: "fp32", TokensPerS: 149, CPUUtil: 0.5},
	}
	got := trainTargets(rows)
	type want struct {
		config, what  string
		value, perCPU float64
		met           bool
	}
	wants := []want{
		{"gpt2-124m bf16", "LoRA ÷ full tokens/s", 1.4, 2.8, false},
		{"gpt2-124m bf16", "eval ÷ full tokens/s", 4, 0, true},
		{"gpt2-124m bf16", "full peak RSS", 1, 0, true},
		{"gpt2-124m-t256 bf16", "full peak RSS", 2, 0, false},
		{"qwen2.5-0.5b fp32", "LoRA peak RSS (T=512)", 3, 0, true},
		{"qwen2.5-0.5b fp32", "eval tokens/s", 149, 298, false},
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d targets, want %d: %+v", len(got), len(wants), got)
	}
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	for i, w := range wants {
		g := got[i]
		if g.Config != w.config || g.What != w.what || !near(g.Value, w.value) || !near(g.PerCPU, w.perCPU) || g.Met != w.met {
			t.Errorf("target %d = %+v, want %+v", i, g, w)
		}
	}
	var buf bytes.Buffer
	printTrainTargets(&buf, got)
	out := buf.String()
	for _, s := range []string{"1.40× (2.80× per CPU), goal ≥ 1.5×: NOT MET", "1.00 GiB, goal ≤ 1.6 GiB: met", "149 (298 at a full share of the cores), goal ≥ 150: NOT MET"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}
