package reward

// SetMaxMemory lowers the memory watchdog's limit for a test and returns
// the function that restores it.
func SetMaxMemory(n uint64) (restore func()) {
	old := maxMemory
	maxMemory = n
	return func() { maxMemory = old }
}
