//go:build !unix

package miner

import (
	"os"
	"syscall"
)

func procAttr() *syscall.SysProcAttr { return nil }

func terminate(p *os.Process, _ syscall.Signal) { p.Kill() }
