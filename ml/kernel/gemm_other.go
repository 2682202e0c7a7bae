//go:build !amd64 || purego

package kernel

// asmVariants is empty off amd64 (or with the purego tag): the portable Go
// variant is the only one.
func asmVariants() []*variant { return nil }

// peakLoops is empty: there is no assembly FMA loop off amd64.
func peakLoops() map[string]peakLoop { return nil }
