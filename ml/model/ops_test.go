package model

import (
	"math"
	"testing"
)

func TestExpfTanhf(t *testing.T) {
	var worst float64
	for x := float32(-87); x < 88; x += 0.0007 {
		want := math.Exp(float64(x))
		worst = max(worst, math.Abs(float64(expf(x))-want)/want)
	}
	if worst > 5e-7 {
		t.Errorf("expf: worst relative error %.3g", worst)
	}
	for _, c := range []struct{ x, want float32 }{{-100, 0}, {100, float32(math.Inf(1))}, {0, 1}} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if v := expf(float32(math.NaN())); v == v {
		t.Error("expf(NaN) is not NaN")
	}
	worst = 0
	for x := float32(-12); x < 12; x += 0.0003 {
		worst = max(worst, math.Abs(float64(tanhf(x))-math.Tanh(float64(x))))
	}
	if worst > 3e-7 {
		t.Errorf("tanhf: worst absolute error %.3g", worst)
	}
}
