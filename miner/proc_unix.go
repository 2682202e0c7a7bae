//go:build unix

package miner

import (
	"os"
	"syscall"
)

// procAttr puts the trainer in its own process group so that a signal
// reaches everything it started.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func terminate(p *os.Process, sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		p.Signal(sig)
	}
}
