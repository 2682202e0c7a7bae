package safetensors

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/crucible-net/crucible/ml/tensor"
)

// benchFile writes a 64 MiB-of-float32 tensor stored as dt.
func benchFile(b *testing.B, dt tensor.DType) (string, int) {
	b.Helper()
	n := 16 << 20
	data := make([]float32, n)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	if err := Write(path, []Tensor{{Name: "w", DType: dt, Shape: []int{n}, Data: data}}, nil); err != nil {
		b.Fatal(err)
	}
	return path, n
}

func benchRead(b *testing.B, dt tensor.DType) {
	path, n := benchFile(b, dt)
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	dst := make([]float32, n)
	b.SetBytes(int64(n * 4))
	b.ResetTimer()
	for b.Loop() {
		if err := f.ReadFloat32("w", dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFloat32F32(b *testing.B)  { benchRead(b, tensor.F32) }
func BenchmarkReadFloat32BF16(b *testing.B) { benchRead(b, tensor.BF16) }
func BenchmarkReadFloat32F16(b *testing.B)  { benchRead(b, tensor.F16) }

func BenchmarkWriteBF16(b *testing.B) {
	n := 16 << 20
	data := make([]float32, n)
	path := filepath.Join(b.TempDir(), "w.safetensors")
	b.SetBytes(int64(n * 4))
	for b.Loop() {
		if err := Write(path, []Tensor{{Name: "w", DType: tensor.BF16, Shape: []int{n}, Data: data}}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
