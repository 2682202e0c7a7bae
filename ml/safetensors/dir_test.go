package safetensors

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/tensor"
)

func modelTensors() []Tensor {
	r := rand.New(rand.NewPCG(7, 7))
	return []Tensor{
		{Name: "embed.weight", DType: tensor.BF16, Shape: []int{16, 8}, Data: randData(r, 128)},      // 256 bytes
		{Name: "layers.0.attn.weight", DType: tensor.F32, Shape: []int{8, 8}, Data: randData(r, 64)}, // 256 bytes
		{Name: "layers.0.norm.weight", DType: tensor.F32, Shape: []int{8}, Data: randData(r, 8)},     // 32 bytes
		{Name: "layers.1.attn.weight", DType: tensor.F16, Shape: []int{8, 8}, Data: randData(r, 64)}, // 128 bytes
		{Name: "lm_head.weight", DType: tensor.F32, Shape: []int{16, 8}, Data: randData(r, 128)},     // 512 bytes
		{Name: "scalar", DType: tensor.F32, Shape: []int{}, Data: []float32{3}},
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func checkSet(t *testing.T, dir string, ts []Tensor, shards int) {
	t.Helper()
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Shards() != shards {
		t.Errorf("Shards() = %d, want %d", s.Shards(), shards)
	}
	if len(s.Names()) != len(ts) {
		t.Fatalf("names %v", s.Names())
	}
	for _, want := range ts {
		ti, ok := s.Info(want.Name)
		if !ok || ti.DType != want.DType || !tensor.Shape(ti.Shape).Equal(want.Shape) {
			t.Fatalf("Info(%q) = %+v", want.Name, ti)
		}
		got := make([]float32, len(want.Data))
		if err := s.ReadFloat32(want.Name, got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != stored(want.DType, want.Data[i]) {
				t.Fatalf("%q[%d] = %v", want.Name, i, got[i])
			}
		}
	}
	if s.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", s.Metadata())
	}
}

func TestWriteDirLayouts(t *testing.T) {
	ts := modelTensors()
	meta := map[string]string{"format": "pt"}
	dir := filepath.Join(t.TempDir(), "model")

	// Sharded: 600-byte shards, greedy in name order.
	if err := WriteDir(dir, ts, meta, 600); err != nil {
		t.Fatal(err)
	}
	want := []string{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", IndexFile}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Metadata.TotalSize != 256+256+32+128+512+4 {
		t.Errorf("total_size %d", idx.Metadata.TotalSize)
	}
	if idx.WeightMap["embed.weight"] != want[0] || idx.WeightMap["layers.0.norm.weight"] != want[0] || idx.WeightMap["layers.1.attn.weight"] != want[1] || idx.WeightMap["lm_head.weight"] != want[2] {
		t.Errorf("weight_map %v", idx.WeightMap)
	}
	checkSet(t, dir, ts, 3)

	// A shard limit below one tensor's size still works: it gets its own shard.
	if err := WriteDir(dir, ts, meta, 100); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); len(got) != 7 || got[0] != "model-00001-of-00006.safetensors" {
		t.Fatalf("files %v (stale shards left?)", got)
	}
	checkSet(t, dir, ts, 6)

	// Back to one file: the index and shards go.
	if err := WriteDir(dir, ts, meta, 0); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{SingleFile}) {
		t.Fatalf("files %v", got)
	}
	checkSet(t, dir, ts, 1)

	// And sharded again: model.safetensors must not shadow the new index.
	if err := WriteDir(dir, ts, meta, 1000); err != nil {
		t.Fatal(err)
	}
	checkSet(t, dir, ts, 2)
	if _, err := os.Stat(filepath.Join(dir, SingleFile)); err == nil {
		t.Error("stale model.safetensors left beside the index")
	}
}

func TestOpenDirRejects(t *testing.T) {
	ts := modelTensors()
	tests := []struct {
		name   string
		break_ func(dir string) error
		want   []string
	}{
		{"no weights", func(dir string) error { return os.Remove(filepath.Join(dir, IndexFile)) }, []string{"neither"}},
		{"missing shard", func(dir string) error {
			return os.Remove(filepath.Join(dir, "model-00002-of-00003.safetensors"))
		}, []string{"model-00002-of-00003.safetensors", `tensor "layers.1.attn.weight"`, "no such file"}},
		{"tensor not in shard", func(dir string) error {
			return rewriteIndex(dir, func(m map[string]string) { m["lm_head.weight"] = "model-00001-of-00003.safetensors" })
		}, []string{"model-00001-of-00003.safetensors", `tensor "lm_head.weight"`, "does not hold it"}},
		{"index names unknown tensor", func(dir string) error {
			return rewriteIndex(dir, func(m map[string]string) { m["ghost"] = "model-00003-of-00003.safetensors" })
		}, []string{`tensor "ghost"`}},
		{"shard outside dir", func(dir string) error {
			return rewriteIndex(dir, func(m map[string]string) { m["ghost"] = "../x.safetensors" })
		}, []string{`tensor "ghost"`, "invalid shard file name"}},
		{"corrupt index", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"weight_map":`), 0o644)
		}, []string{IndexFile}},
		{"empty index", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{}`), 0o644)
		}, []string{IndexFile, "weight_map"}},
		{"corrupt shard", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "model-00003-of-00003.safetensors"), []byte("garbage!!"), 0o644)
		}, []string{"model-00003-of-00003.safetensors", "header"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteDir(dir, ts, nil, 600); err != nil {
				t.Fatal(err)
			}
			if err := tt.break_(dir); err != nil {
				t.Fatal(err)
			}
			s, err := OpenDir(dir)
			if err == nil {
				s.Close()
				t.Fatal("OpenDir succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func rewriteIndex(dir string, edit func(map[string]string)) error {
	path := filepath.Join(dir, IndexFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return err
	}
	edit(idx.WeightMap)
	b, err = json.Marshal(idx)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
