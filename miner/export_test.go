package miner

import "time"

// SetUploadWait replaces the pause between upload attempts until the
// returned function restores it.
func SetUploadWait(f func(try int) time.Duration) (restore func()) {
	old := uploadWait
	uploadWait = f
	return func() { uploadWait = old }
}

// SetClock sets the miner's clock.
func SetClock(m *Miner, now func() time.Time) { m.now = now }

// Forget removes the finished jobs past their deadline now.
func Forget(m *Miner) { m.forget() }
