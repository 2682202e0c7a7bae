package safetensors

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/tensor"
)

func randData(r *rand.Rand, n int) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(r.NormFloat64())
	}
	return d
}

// stored returns what reading back t's values yields after storage as dt.
func stored(dt tensor.DType, x float32) float32 {
	switch dt {
	case tensor.F16:
		return tensor.F16ToF32(tensor.F32ToF16(x))
	case tensor.BF16:
		return tensor.BF16ToF32(tensor.F32ToBF16(x))
	}
	return x
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	shapes := [][]int{{}, {0}, {1}, {7}, {3, 5}, {2, 0, 4}, {2, 3, 4}, {1, 1, 1, 1, 9}}
	var ts []Tensor
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.F64} {
		for i, s := range shapes {
			n := tensor.Shape(s).Numel()
			ts = append(ts, Tensor{Name: dt.String() + ".t" + string(rune('a'+i)), DType: dt, Shape: s, Data: randData(r, n)})
		}
	}
	meta := map[string]string{"format": "pt", "note": "<&> \"quoted\""}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.Metadata(), meta) {
		t.Errorf("metadata = %v, want %v", f.Metadata(), meta)
	}
	names := f.Names()
	if len(names) != len(ts) {
		t.Fatalf("%d names, want %d", len(names), len(ts))
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Fatalf("names not sorted: %q before %q", names[i-1], names[i])
		}
	}
	var prevEnd int64
	for _, name := range names { // written in name order
		ti, _ := f.Info(name)
		if ti.Begin != prevEnd {
			t.Fatalf("tensor %q begins at %d, want %d (name order)", name, ti.Begin, prevEnd)
		}
		prevEnd = ti.End
	}
	for _, want := range ts {
		ti, ok := f.Info(want.Name)
		if !ok || ti.DType != want.DType || !tensor.Shape(ti.Shape).Equal(want.Shape) || ti.Name != want.Name {
			t.Fatalf("Info(%q) = %+v, %v", want.Name, ti, ok)
		}
		got, err := f.Float32(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want.Data) {
			t.Fatalf("%q: %d values, want %d", want.Name, len(got), len(want.Data))
		}
		for i := range got {
			if e := stored(want.DType, want.Data[i]); math.Float32bits(got[i]) != math.Float32bits(e) {
				t.Fatalf("%q[%d] = %v, want %v", want.Name, i, got[i], e)
			}
		}
		raw, dt, err := f.Raw(want.Name)
		if err != nil || dt != want.DType || len(raw) != len(want.Data)*dt.Size() {
			t.Fatalf("Raw(%q) = %d bytes, %v, %v", want.Name, len(raw), dt, err)
		}
	}
	// The data buffer starts 8-byte aligned.
	b, _ := os.ReadFile(path)
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if (8+n)%8 != 0 {
		t.Errorf("header length %d leaves the data unaligned", n)
	}
	if err := f.ReadFloat32("F32.tc", make([]float32, 2)); err == nil || !strings.Contains(err.Error(), `"F32.tc"`) {
		t.Errorf("ReadFloat32 with a wrong length: %v", err)
	}
	if _, err := f.Float32("missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Float32(missing): %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Raw("F32.ta"); err == nil {
		t.Error("Raw after Close succeeded")
	}
}

func TestWriteEmptyAndNoMetadata(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.safetensors")
	if err := Write(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Names()) != 0 || f.Metadata() != nil {
		t.Errorf("names %v, metadata %v", f.Names(), f.Metadata())
	}
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		ts   []Tensor
		want string
	}{
		{"duplicate", []Tensor{{Name: "a", DType: tensor.F32, Shape: []int{1}, Data: []float32{1}}, {Name: "a", DType: tensor.F32, Shape: []int{1}, Data: []float32{2}}}, `"a": duplicate`},
		{"empty name", []Tensor{{Name: "", DType: tensor.F32, Shape: []int{}, Data: []float32{1}}}, "invalid name"},
		{"reserved", []Tensor{{Name: "__metadata__", DType: tensor.F32, Shape: []int{}, Data: []float32{1}}}, "invalid name"},
		{"int dtype", []Tensor{{Name: "a", DType: tensor.I32, Shape: []int{1}, Data: []float32{1}}}, "I32"},
		{"size", []Tensor{{Name: "a", DType: tensor.F16, Shape: []int{2, 2}, Data: []float32{1}}}, "needs 4 values"},
		{"negative", []Tensor{{Name: "a", DType: tensor.F16, Shape: []int{-1}, Data: nil}}, "invalid shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".safetensors")
			err := Write(path, tt.ts, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want one naming %s and %q", err, path, tt.want)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("a file was left behind")
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestConcurrentReads reads one file from several goroutines (run with
// -race).
func TestConcurrentReads(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	ts := []Tensor{
		{Name: "a", DType: tensor.BF16, Shape: []int{300}, Data: randData(r, 300)},
		{Name: "b", DType: tensor.F16, Shape: []int{3, 100}, Data: randData(r, 300)},
	}
	path := filepath.Join(t.TempDir(), "c.safetensors")
	if err := Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			x := ts[i%2]
			got, err := f.Float32(x.Name)
			if err == nil && got[299] != stored(x.DType, x.Data[299]) {
				err = os.ErrInvalid
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
