//go:build !unix

package uploads

// freeBytes is unknown where the platform does not report it.
func freeBytes(string) (int64, bool) { return 0, false }
