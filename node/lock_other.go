//go:build !unix

package node

import (
	"os"
	"sync"
)

// Without flock, the lock holds within this process only: two nodes in one
// process (tests, the demo) still exclude each other, other processes are
// not kept out.
var (
	heldMu sync.Mutex
	held   = map[string]bool{}
)

func lockFile(f *os.File) error {
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[f.Name()] {
		return errLocked
	}
	held[f.Name()] = true
	return nil
}

func unlockFile(f *os.File) error {
	heldMu.Lock()
	defer heldMu.Unlock()
	delete(held, f.Name())
	return nil
}
