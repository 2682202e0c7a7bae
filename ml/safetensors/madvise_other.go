//go:build !linux

package safetensors

// dropResident does nothing where madvise is not used.
func dropResident([]byte) error { return nil }
