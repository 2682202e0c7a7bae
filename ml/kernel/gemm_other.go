//go:build !amd64 || purego

package kernel

// asmVariants is empty off amd64 (or with the purego tag): the portable Go
// variant is the only one.
func asmVariants() []*variant { return nil }
