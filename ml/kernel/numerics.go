package kernel

// Numerics names the float32 GEMM's arithmetic on this machine: "avx" when
// the AVX2 and AVX-512 kernels run (they give the same bits), "go" for the
// portable kernel, which rounds differently (no fused multiply-add on most
// CPUs). Machines with the same name compute bit-identical products.
func Numerics() string {
	if len(variants) > 0 && variants[0] != goVariant && variants[0].direct == nil {
		return "avx"
	}
	return "go"
}
