//go:build !unix

package kernel

import "time"

// ProcessCPUTime reports no CPU time on this platform.
func ProcessCPUTime() (time.Duration, bool) { return 0, false }
