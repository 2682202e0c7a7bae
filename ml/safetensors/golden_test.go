package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/crucible-net/crucible/ml/tensor"
)

// goldenTensor is one entry of testdata/*.json, made by
// tools/goldens/safetensors/make_goldens.py with PyTorch's conversions:
// float values as Python reprs of the float32 value, integers as numbers.
type goldenTensor struct {
	DType  string            `json:"dtype"`
	Shape  []int             `json:"shape"`
	Values []json.RawMessage `json:"values"`
}

func loadGolden(t *testing.T, path string) map[string]goldenTensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]goldenTensor
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// source is what File and Set have in common.
type source interface {
	Names() []string
	Info(string) (TensorInfo, bool)
	Float32(string) ([]float32, error)
	Raw(string) ([]byte, tensor.DType, error)
}

func checkGolden(t *testing.T, src source, golden map[string]goldenTensor) {
	t.Helper()
	if len(src.Names()) != len(golden) {
		t.Fatalf("names %v, want %d tensors", src.Names(), len(golden))
	}
	for name, g := range golden {
		ti, ok := src.Info(name)
		if !ok {
			t.Fatalf("tensor %q missing", name)
		}
		if ti.DType.String() != g.DType || !tensor.Shape(ti.Shape).Equal(g.Shape) {
			t.Fatalf("%q: %s %v, want %s %v", name, ti.DType, ti.Shape, g.DType, g.Shape)
		}
		if ti.DType.IsFloat() {
			got, err := src.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(g.Values) {
				t.Fatalf("%q: %d values, want %d", name, len(got), len(g.Values))
			}
			for i, raw := range g.Values {
				var s string
				if err := json.Unmarshal(raw, &s); err != nil {
					t.Fatal(err)
				}
				w, err := strconv.ParseFloat(s, 64)
				if err != nil {
					t.Fatal(err)
				}
				want := float32(w)
				if math.Float32bits(got[i]) != math.Float32bits(want) {
					t.Errorf("%q[%d] = %v, want %v", name, i, got[i], want)
				}
			}
			continue
		}
		if _, err := src.Float32(name); err == nil {
			t.Errorf("Float32(%q) of a %s tensor succeeded", name, ti.DType)
		}
		raw, dt, err := src.Raw(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, rv := range g.Values {
			var want int64
			if err := json.Unmarshal(rv, &want); err != nil {
				t.Fatal(err)
			}
			var got int64
			switch dt {
			case tensor.I64:
				got = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			case tensor.I32:
				got = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			case tensor.U8, tensor.BOOL:
				got = int64(raw[i])
			default:
				t.Fatalf("%q: unexpected dtype %s", name, dt)
			}
			if got != want {
				t.Errorf("%q[%d] = %d, want %d", name, i, got, want)
			}
		}
	}
}

func TestGoldenFile(t *testing.T) {
	f, err := Open("testdata/golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkGolden(t, f, loadGolden(t, "testdata/golden.json"))
	want := map[string]string{"format": "pt", "source": "tools/goldens/safetensors"}
	if !reflect.DeepEqual(f.Metadata(), want) {
		t.Errorf("metadata %v, want %v", f.Metadata(), want)
	}
}

func TestGoldenShardedDir(t *testing.T) {
	s, err := OpenDir("testdata/sharded")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Shards() != 2 {
		t.Errorf("Shards() = %d", s.Shards())
	}
	checkGolden(t, s, loadGolden(t, "testdata/sharded.json"))
	if p, _ := s.File("b.weight"); filepath.Base(p) != "model-00002-of-00002.safetensors" {
		t.Errorf("File(b.weight) = %s", p)
	}
}

// TestRewriteGolden reads the golden file and writes its float tensors back
// with Write: the values survive and the header is well formed.
func TestRewriteGolden(t *testing.T) {
	f, err := Open("testdata/golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []Tensor
	for _, n := range f.Names() {
		ti, _ := f.Info(n)
		if !ti.DType.IsFloat() || ti.DType == tensor.F64 { // F64 does not survive float32
			continue
		}
		d, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, Tensor{Name: n, DType: ti.DType, Shape: ti.Shape, Data: d})
	}
	out := filepath.Join(t.TempDir(), "out.safetensors")
	if err := Write(out, ts, f.Metadata()); err != nil {
		t.Fatal(err)
	}
	g, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, x := range ts {
		a, _, _ := f.Raw(x.Name)
		b, _, err := g.Raw(x.Name)
		if err != nil || string(a) != string(b) {
			t.Errorf("%q: bytes differ after rewrite", x.Name)
		}
	}
}
