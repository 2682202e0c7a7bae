//go:build unix

package kernel

import (
	"syscall"
	"time"
)

// ProcessCPUTime returns the CPU time (user and system) this process has
// used so far, and whether the platform reports it. Benchmarks on a shared
// machine divide work by it to see the speed the cores deliver while they
// run this process, whatever else is scheduled on them.
func ProcessCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
