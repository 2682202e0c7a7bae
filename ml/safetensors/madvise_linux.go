package safetensors

import "syscall"

// dropResident advises the kernel that the mapped bytes are not needed now.
func dropResident(b []byte) error { return syscall.Madvise(b, syscall.MADV_DONTNEED) }
