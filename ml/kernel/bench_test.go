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

// BenchmarkGemmScaling times Gemm's own choice of variant on the training
// shapes of "crucible bench gemm" (and a 30M model's MLP product) on 1 and
// 2 threads; the parallel efficiency is GFLOP/s at 2 ÷ (2 × GFLOP/s at 1).
// Run with -cpu 1,2 (or more); each sub-benchmark reports GFLOP/s of wall
// time and GFLOP/s per CPU-second (steadier on a shared machine; a worker
// that waits blocked costs wall time but no CPU time, so compare both).
func BenchmarkGemmScaling(b *testing.B) {
	shapes := []shape{{1024, 1536, 384}, {1024, 1024, 1024}, {4096, 2048, 512}, {4096, 512, 2048}, {512, 2048, 4096}}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range shapes {
		for _, op := range []string{"NN", "NT", "TN"} {
			o := newOperands(rng, s, op[0] == 'T', op[1] == 'T', 0)
			v := pick(s.m, s.n)
			b.Run(fmt.Sprintf("%s/%v", op, s), func(b *testing.B) {
				cpu0, _ := ProcessCPUTime()
				for b.Loop() {
					v.gemm(o.transA, o.transB, s.m, s.n, s.k, 1, o.a, o.lda, o.b, o.ldb, 0, o.c, o.ldc)
				}
				cpu1, ok := ProcessCPUTime()
				flop := 2 * float64(s.m*s.n*s.k) * float64(b.N)
				b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if ok && cpu1 > cpu0 {
					b.ReportMetric(flop/(cpu1-cpu0).Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
