package kernel

import (
	"strings"
	"testing"
	"time"
)

func TestMeasurePeak(t *testing.T) {
	for _, isa := range PeakISAs() {
		p, err := MeasurePeakCPU(isa, 1, 5*time.Millisecond, 1)
		if err != nil {
			t.Fatalf("%s: %v", isa, err)
		}
		// Any FMA unit of this century does more than 1 GFLOP/s per core.
		if p.GFLOPS < 1 {
			t.Errorf("%s: peak %.3g GFLOP/s, implausibly low", isa, p.GFLOPS)
		}
	}
	if _, err := MeasurePeak("sse9", 1, time.Millisecond, 1); err == nil || !strings.Contains(err.Error(), "sse9") {
		t.Errorf("unknown instruction set: error = %v", err)
	}
	if len(PeakISAs()) > 0 {
		if _, err := MeasurePeak(PeakISAs()[0], 0, time.Millisecond, 1); err == nil {
			t.Error("threads = 0: no error")
		}
	}
}
