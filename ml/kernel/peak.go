package kernel

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

// peakLoop runs n iterations of a loop of independent multiply-adds worth
// flops floating-point operations each.
type peakLoop struct {
	flops int
	run   func(n int)
}

// PeakISAs returns the instruction sets whose FP32 FMA peak MeasurePeak can
// measure on this CPU.
func PeakISAs() []string { return sortedKeys(peakLoops()) }

// PeakISAsBF16 returns the instruction sets whose bf16 multiply-add peak
// (bf16 products, float32 sums: "amx-bf16", "avx512-bf16") MeasurePeak
// can measure on this CPU.
func PeakISAsBF16() []string { return sortedKeys(bf16PeakLoops()) }

func sortedKeys(m map[string]peakLoop) []string {
	var names []string
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// lookupPeakLoop finds an FP32 or bf16 peak loop by instruction set.
func lookupPeakLoop(isa string) (peakLoop, bool) {
	if l, ok := peakLoops()[isa]; ok {
		return l, true
	}
	l, ok := bf16PeakLoops()[isa]
	return l, ok
}

// Peak is a measured FP32 FMA throughput.
type Peak struct {
	// GFLOPS is the throughput over wall-clock time.
	GFLOPS float64
	// CPUGFLOPS is the throughput per CPU-second times the thread count:
	// what the cores deliver while they run this process, which on a
	// shared machine is steadier than wall-clock time (0 where the
	// platform reports no CPU time).
	CPUGFLOPS float64
}

// MeasurePeak measures the CPU's FP32 FMA throughput in GFLOP/s for the
// named instruction set ("avx512", "avx2"; or the bf16 throughput for one
// of PeakISAsBF16) with threads goroutines each
// running a loop of independent FMAs, about d long; it repeats the
// measurement reps times and returns the median. This is the ceiling GEMM
// is measured against.
func MeasurePeak(isa string, threads int, d time.Duration, reps int) (float64, error) {
	p, err := MeasurePeakCPU(isa, threads, d, reps)
	return p.GFLOPS, err
}

// MeasurePeakCPU is MeasurePeak that also reports the throughput per
// CPU-second of this process.
func MeasurePeakCPU(isa string, threads int, d time.Duration, reps int) (Peak, error) {
	loop, ok := lookupPeakLoop(isa)
	if !ok {
		return Peak{}, fmt.Errorf("peak: instruction set %q is not available on this CPU (have %v)", isa, append(PeakISAs(), PeakISAsBF16()...))
	}
	if threads < 1 {
		return Peak{}, fmt.Errorf("peak: threads = %d, want ≥ 1", threads)
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
	wall := make([]float64, reps)
	cpu := make([]float64, reps)
	for r := range wall {
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
		c0, _ := ProcessCPUTime()
		t0 := time.Now()
		close(start)
		wg.Wait()
		el := time.Since(t0).Seconds()
		c1, haveCPU := ProcessCPUTime()
		flops := float64(threads) * float64(n) * float64(loop.flops)
		wall[r] = flops / el / 1e9
		if haveCPU && c1 > c0 {
			cpu[r] = flops / (c1 - c0).Seconds() * float64(threads) / 1e9
		}
	}
	return Peak{GFLOPS: median(wall), CPUGFLOPS: median(cpu)}, nil
}

func median(x []float64) float64 {
	sort.Float64s(x)
	return x[len(x)/2]
}
