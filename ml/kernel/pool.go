package kernel

import (
	"runtime"
	"sync"
)

// ParallelFor splits [0, n) into contiguous chunks of at least grain items
// and runs f on each chunk, using up to GOMAXPROCS goroutines, and returns
// when all are done. The split depends only on n, grain and GOMAXPROCS, so a
// kernel whose chunks write disjoint outputs is deterministic.
//
// Every parallel kernel in crucible goes through here so that there is one
// source of parallelism and no two pools compete for the cores.
func ParallelFor(n, grain int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := min(runtime.GOMAXPROCS(0), (n+grain-1)/grain)
	if workers <= 1 {
		f(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, min(chunk, n))
	wg.Wait()
}
