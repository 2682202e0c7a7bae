//go:build !unix

package bench

import "os"

// childPeakRSS is unknown where the platform does not report it.
func childPeakRSS(*os.ProcessState) int64 { return 0 }

// freeBytes is unknown where the platform does not report it.
func freeBytes(string) (int64, bool) { return 0, false }
