package nn

// Numerics names the layer operations' arithmetic on this machine: "avx2"
// for the vector kernels, "go" for the portable loops (which sum and round
// in another order). Machines with the same name compute bit-identical
// results.
func Numerics() string {
	if useAVX2 {
		return "avx2"
	}
	return "go"
}
