package optim

import (
	"math"
	"strings"
	"testing"
)

func TestSchedules(t *testing.T) {
	const peak = 1e-3
	tests := []struct {
		kind          string
		warmup, total int
		ratio         float64
		at            map[int]float64
	}{
		{Cosine, 10, 110, 0.1, map[int]float64{
			0: 0, 1: 1e-4, 5: 5e-4, 10: peak,
			60:  1e-4 + 0.9e-3*0.5, // half-way: mid between peak and min
			110: 1e-4, 200: 1e-4,
			35: 1e-4 + 0.9e-3*0.5*(1+math.Cos(math.Pi*0.25)),
		}},
		{Cosine, 0, 100, 0, map[int]float64{0: peak, 50: peak / 2, 100: 0, 101: 0}},
		{Linear, 4, 104, 0, map[int]float64{0: 0, 2: peak / 2, 4: peak, 54: peak / 2, 104: 0, 500: 0}},
		{Linear, 0, 10, 0.5, map[int]float64{0: peak, 5: 0.75e-3, 10: 0.5e-3}},
		{Constant, 5, 0, 0, map[int]float64{0: 0, 1: 2e-4, 5: peak, 1000: peak}},
		{Cosine, 10, 10, 0.2, map[int]float64{5: peak / 2, 10: 2e-4}},
	}
	for _, tt := range tests {
		s, err := NewSchedule(tt.kind, peak, tt.warmup, tt.total, tt.ratio)
		if err != nil {
			t.Fatal(err)
		}
		for step, want := range tt.at {
			if got := s.LR(step); math.Abs(got-want) > 1e-15 {
				t.Errorf("%s(warmup %d, total %d, ratio %v).LR(%d) = %v, want %v", tt.kind, tt.warmup, tt.total, tt.ratio, step, got, want)
			}
		}
		// After warmup the rate never rises, and it never leaves [min, peak].
		prev := math.Inf(1)
		for step := tt.warmup; step <= tt.total+5; step++ {
			lr := s.LR(step)
			if lr > prev+1e-18 || lr < peak*tt.ratio-1e-18 || lr > peak {
				t.Errorf("%s: LR(%d) = %v after %v", tt.kind, step, lr, prev)
			}
			prev = lr
		}
		// Warmup rises linearly from 0.
		for step := 1; step < tt.warmup; step++ {
			if d := s.LR(step) - s.LR(step-1); math.Abs(d-peak/float64(tt.warmup)) > 1e-15 {
				t.Errorf("%s: warmup increment at %d is %v", tt.kind, step, d)
			}
		}
	}
}

func TestScheduleRejects(t *testing.T) {
	tests := []struct {
		kind          string
		peak          float64
		warmup, total int
		ratio         float64
		want          string
	}{
		{"step", 1, 0, 10, 0, "unknown kind"},
		{Cosine, -1, 0, 10, 0, "peak"},
		{Cosine, math.NaN(), 0, 10, 0, "peak"},
		{Cosine, 1, -1, 10, 0, "warmup"},
		{Linear, 1, 0, 0, 0, "total"},
		{Cosine, 1, 20, 10, 0, "exceed"},
		{Cosine, 1, 0, 10, 1.5, "ratio"},
	}
	for _, tt := range tests {
		if _, err := NewSchedule(tt.kind, tt.peak, tt.warmup, tt.total, tt.ratio); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSchedule(%q, %v, %d, %d, %v) error = %v, want %q", tt.kind, tt.peak, tt.warmup, tt.total, tt.ratio, err, tt.want)
		}
	}
}
