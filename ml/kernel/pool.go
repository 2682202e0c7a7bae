package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ParallelFor splits [0, n) into contiguous chunks of at least grain items
// and runs f on each chunk, using up to GOMAXPROCS goroutines, and returns
// when all are done. The split depends only on n, grain and GOMAXPROCS, so a
// kernel whose chunks write disjoint outputs is deterministic.
//
// Every parallel kernel in crucible goes through here so that there is one
// source of parallelism and no two pools compete for the cores.
//
// The chunks run on the calling goroutine and on a pool of GOMAXPROCS−1
// worker goroutines that, after a job, wait for the next one by spinning
// (yielding to any other goroutine) for spinWait before they sleep; no
// more of them spin than there are CPUs besides the caller's. A
// training step calls ParallelFor thousands of times with pieces of
// 10–500 µs; a sleeping thread takes 50–150 µs to wake on a virtual
// machine, which left the second core idle through the short pieces and
// part of each long one. A call that finds the pool busy (another
// goroutine's ParallelFor, or a nested one) starts goroutines instead, as
// every call did before the pool.
func ParallelFor(n, grain int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	procs := runtime.GOMAXPROCS(0)
	workers := min(procs, (n+grain-1)/grain)
	if workers <= 1 {
		f(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	if workPool.run(procs, n, chunk, f) {
		return
	}
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

// spinWait is how long an idle pool worker keeps looking for the next job
// before it sleeps: long enough to span most of the serial work between
// the parallel loops of a training step (with 200 µs a GPT-2 124M LoRA
// step still left a core idle 17% of the time, with 1 ms 9%, with 5 ms no
// less), short enough that an idle process stops using the CPU at once.
const spinWait = time.Millisecond

// yieldEvery is how many looks at an atomic a spinning goroutine takes
// between yields to the scheduler (a few µs): each yield takes the
// scheduler's lock, which a yield per look made a hot spot.
const yieldEvery = 256

// numCPU is the CPUs this process may use.
var numCPU = runtime.NumCPU()

// pool runs the chunks of one ParallelFor at a time. gen is a sequence
// lock on the job: odd while the job's fields may change or it has ended,
// even while it is open. A worker announces itself in active before it
// reads the job and checks gen again afterwards; the owner closes the job
// (gen odd) and waits for active to drain before it writes the next one.
type pool struct {
	busy    sync.Mutex    // held by the ParallelFor that owns the pool
	workers []*poolWorker // started (under busy)

	gen    atomic.Uint64
	active atomic.Int32 // workers inside the current job

	// The job: written by the owner while gen is odd.
	f       func(lo, hi int)
	n       int
	chunk   int
	chunks  int64
	helpers int          // workers that may join (GOMAXPROCS−1 of the call)
	next    atomic.Int64 // next chunk to take
	left    atomic.Int64 // chunks not finished
}

// poolWorker is a worker's wake-up: run sends on wake to a worker that is
// asleep (a token left from an earlier wake-up only costs a look at gen).
type poolWorker struct {
	asleep atomic.Bool
	wake   chan struct{}
}

var workPool = func() *pool {
	p := &pool{}
	p.gen.Store(1)
	return p
}()

// run runs the job on the pool and reports true, or reports false at once
// if the pool is busy.
func (p *pool) run(procs, n, chunk int, f func(lo, hi int)) bool {
	if !p.busy.TryLock() {
		return false
	}
	for len(p.workers) < procs-1 {
		w := &poolWorker{wake: make(chan struct{}, 1)}
		go p.worker(len(p.workers), w)
		p.workers = append(p.workers, w)
	}
	p.f, p.n, p.chunk = f, n, chunk
	p.chunks = int64((n + chunk - 1) / chunk)
	p.helpers = procs - 1
	p.next.Store(0)
	p.left.Store(p.chunks)
	p.gen.Add(1) // open
	for _, w := range p.workers[:p.helpers] {
		if w.asleep.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	p.work()
	// What is left runs on the workers now; it ends within a chunk.
	for i := 1; p.left.Load() != 0; i++ {
		if i%yieldEvery == 0 {
			runtime.Gosched()
		}
	}
	p.gen.Add(1) // closed
	for p.active.Load() != 0 {
		runtime.Gosched()
	}
	p.f = nil
	p.busy.Unlock()
	return true
}

// work takes chunks of the open job until none is left.
func (p *pool) work() {
	for {
		c := p.next.Add(1) - 1
		if c >= p.chunks {
			return
		}
		lo := int(c) * p.chunk
		p.f(lo, min(lo+p.chunk, p.n))
		p.left.Add(-1)
	}
}

// worker is pool worker i: it waits for a job it may join, joins it and
// waits again.
func (p *pool) worker(i int, w *poolWorker) {
	var last uint64
	for {
		g := p.await(i, w, last)
		last = g
		p.active.Add(1)
		if p.gen.Load() == g && i < p.helpers {
			p.work()
		}
		p.active.Add(-1)
	}
}

// open reports whether generation g is an open job other than last.
func open(g, last uint64) bool { return g != last && g&1 == 0 }

// await returns the generation of the next open job after last: spinning
// for up to spinWait, then asleep until run wakes it. Only as many workers
// spin as, with the caller, there are CPUs: where GOMAXPROCS is above the
// CPU count (a validator's spare thread, kept for its API), a worker past
// it would take a CPU from a chunk while it spins, so it sleeps at once
// and is woken for each job.
func (p *pool) await(i int, w *poolWorker, last uint64) uint64 {
	if i < min(runtime.GOMAXPROCS(0), numCPU)-1 {
		start := time.Now()
		for n := 1; ; n++ {
			if g := p.gen.Load(); open(g, last) {
				return g
			}
			if n%yieldEvery == 0 {
				runtime.Gosched()
				if time.Since(start) > spinWait {
					break
				}
			}
		}
	}
	// run opens a job before it looks at asleep, and this looks at gen
	// after setting asleep: one of the two sees the other.
	w.asleep.Store(true)
	for {
		if g := p.gen.Load(); open(g, last) {
			w.asleep.Store(false)
			return g
		}
		<-w.wake
	}
}
