package kernel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelForSplit checks that every index is visited once, in the
// documented contiguous chunks, whatever GOMAXPROCS, n and grain.
func TestParallelForSplit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 2, 7, 64, 1000} {
			for _, grain := range []int{0, 1, 3, 100} {
				seen := make([]atomic.Int32, n)
				var mu sync.Mutex
				chunks := map[[2]int]bool{}
				ParallelFor(n, grain, func(lo, hi int) {
					mu.Lock()
					chunks[[2]int{lo, hi}] = true
					mu.Unlock()
					for i := lo; i < hi; i++ {
						seen[i].Add(1)
					}
				})
				for i := range seen {
					if c := seen[i].Load(); c != 1 {
						t.Fatalf("procs %d n %d grain %d: index %d visited %d times", procs, n, grain, i, c)
					}
				}
				if n == 0 {
					continue
				}
				workers := min(procs, (n+max(grain, 1)-1)/max(grain, 1))
				chunk := (n + workers - 1) / workers
				if workers <= 1 {
					chunk = n
				}
				for lo := 0; lo < n; lo += chunk {
					if !chunks[[2]int{lo, min(lo+chunk, n)}] {
						t.Fatalf("procs %d n %d grain %d: chunk [%d, %d) missing from %v", procs, n, grain, lo, min(lo+chunk, n), chunks)
					}
				}
				if len(chunks) != (n+chunk-1)/chunk {
					t.Fatalf("procs %d n %d grain %d: chunks %v, want size %d", procs, n, grain, chunks, chunk)
				}
			}
		}
	}
}

// TestParallelForConcurrentAndNested runs ParallelFor from many goroutines
// at once, each chunk calling it again: the calls that find the pool busy
// take the goroutine path, and every sum comes out right.
func TestParallelForConcurrentAndNested(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 50 {
				n := 10 + g + round
				var total atomic.Int64
				ParallelFor(n, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						ParallelFor(i+1, 1, func(lo2, hi2 int) {
							for j := lo2; j < hi2; j++ {
								total.Add(int64(j))
							}
						})
					}
				})
				want := int64(0)
				for i := 0; i < n; i++ {
					want += int64(i * (i + 1) / 2)
				}
				if got := total.Load(); got != want {
					errs <- fmt.Errorf("goroutine %d round %d: sum %d, want %d", g, round, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestParallelForWorkersSleep checks that the pool's workers stop spinning
// soon after the last job: an idle process must not keep a core busy.
func TestParallelForWorkersSleep(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(3)
	ParallelFor(3, 1, func(lo, hi int) {})
	workPool.busy.Lock()
	ws := append([]*poolWorker(nil), workPool.workers...)
	workPool.busy.Unlock()
	if len(ws) < 2 {
		t.Fatalf("%d pool workers after a job on 3 threads, want ≥ 2", len(ws))
	}
	start := time.Now()
	for {
		asleep := 0
		for _, w := range ws {
			if w.asleep.Load() {
				asleep++
			}
		}
		if asleep == len(ws) {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d of %d pool workers still spinning %v after the last job (spinWait %v)", len(ws)-asleep, len(ws), time.Since(start), spinWait)
		}
		runtime.Gosched()
	}
	// And they wake for the next job.
	var ran atomic.Int32
	ParallelFor(3, 1, func(lo, hi int) { ran.Add(1) })
	if ran.Load() != 3 {
		t.Fatalf("%d chunks ran after the workers slept, want 3", ran.Load())
	}
}

// BenchmarkParallelFor times a ParallelFor of two chunks of a given length
// of busy work: ideally the chunk's length, as both run at once; a worker
// thread that has to be woken for each call adds its wake-up latency, and
// chunks shorter than that run one after the other.
func BenchmarkParallelFor(b *testing.B) {
	for _, d := range []time.Duration{0, 20 * time.Microsecond, 100 * time.Microsecond, 500 * time.Microsecond} {
		b.Run(d.String(), func(b *testing.B) {
			for b.Loop() {
				ParallelFor(2, 1, func(lo, hi int) {
					for t := time.Now(); time.Since(t) < d; {
					}
				})
			}
		})
	}
}
