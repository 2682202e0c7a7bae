package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGemm times every variant on a few training shapes; GFLOP/s is
// reported as a custom metric. Run with -cpu 1,2 to see the scaling.
func BenchmarkGemm(b *testing.B) {
	shapes := []shape{{64, 64, 64}, {256, 256, 256}, {1024, 1024, 1024}, {4096, 512, 2048}}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, v := range variants {
		for _, s := range shapes {
			if v == goVariant && s.m > 256 {
				continue // the portable kernel would take minutes
			}
			for _, op := range []string{"NN", "NT", "TN"} {
				o := newOperands(rng, s, op[0] == 'T', op[1] == 'T', 0)
				b.Run(fmt.Sprintf("%s/%s/%v", v.name, op, s), func(b *testing.B) {
					for b.Loop() {
						v.gemm(o.transA, o.transB, s.m, s.n, s.k, 1, o.a, o.lda, o.b, o.ldb, 0, o.c, o.ldc)
					}
					b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
