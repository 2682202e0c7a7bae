//go:build unix

package nn

import "syscall"

// cpuTime returns the CPU time (user + system) this process has used, in
// seconds. On a shared machine it is a steadier measure of work than wall
// time, which includes waiting for the cores.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
