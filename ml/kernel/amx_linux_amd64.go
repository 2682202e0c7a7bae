//go:build linux && amd64 && !purego

package kernel

import "syscall"

// requestAMX asks Linux for permission to use the AMX tile data
// (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), which Linux 5.16+
// requires before the first tile instruction; it reports whether it was
// granted.
func requestAMX() bool {
	const archReqXcompPerm, xfeatureXtiledata = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0)
	return errno == 0
}
