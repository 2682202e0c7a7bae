//go:build !linux && amd64 && !purego

package kernel

// requestAMX reports false: crucible uses AMX only where it knows how to
// ask the OS for the tile state (Linux).
func requestAMX() bool { return false }
