package kernel

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

// peakLoop runs n iterations of 12 independent FMAs on registers of lanes
// float32 lanes.
type peakLoop struct {
	lanes int
	run   func(n int)
}

// PeakISAs returns the instruction sets whose FP32 FMA peak MeasurePeak can
// measure on this CPU.
func PeakISAs() []string {
	var names []string
	for name := range peakLoops() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// MeasurePeak measures the CPU's FP32 FMA throughput in GFLOP/s for the
// named instruction set ("avx512", "avx2") with threads goroutines each
// running a loop of independent FMAs, about d long; it repeats the
// measurement reps times and returns the median. This is the ceiling GEMM
// is measured against.
func MeasurePeak(isa string, threads int, d time.Duration, reps int) (float64, error) {
	loop, ok := peakLoops()[isa]
	if !ok {
		return 0, fmt.Errorf("peak: instruction set %q is not available on this CPU (have %v)", isa, PeakISAs())
	}
	if threads < 1 {
		return 0, fmt.Errorf("peak: threads = %d, want ≥ 1", threads)
	}
	reps = max(reps, 1)
	// Calibrate: grow n until one call takes a tenth of d.
	n := 1 << 12
	for {
		t0 := time.Now()
		loop.run(n)
		if el := time.Since(t0); el >= d/10 || n >= 1<<34 {
			n = int(float64(n) * float64(d) / float64(max(el, time.Microsecond)))
			break
		}
		n *= 4
	}
	n = max(n, 1)
	results := make([]float64, reps)
	for r := range results {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				<-start
				loop.run(n)
			}()
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		el := time.Since(t0).Seconds()
		results[r] = float64(threads) * float64(n) * 12 * 2 * float64(loop.lanes) / el / 1e9
	}
	sort.Float64s(results)
	return results[len(results)/2], nil
}
