package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/fuzzguard"
)

// build returns a file with the given header and a zero-filled data buffer
// of bufLen bytes.
func build(header string, bufLen int) []byte {
	b := make([]byte, 8, 8+len(header)+bufLen)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, bufLen)...)
}

func TestOpenRejects(t *testing.T) {
	valid := build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8)
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(hugeLen, 200_000_000)
	overLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(overLen, 9)
	tests := []struct {
		name string
		data []byte
		want []string // substrings the error must contain
	}{
		{"empty file", nil, []string{"too short"}},
		{"truncated length", []byte{1, 2, 3}, []string{"too short"}},
		{"header past end", overLen, []string{"header length 9", "truncated"}},
		{"header too large", hugeLen, []string{"exceeds"}},
		{"truncated data", valid[:len(valid)-3], []string{`tensor "a"`, "past the end"}},
		{"trailing data", append(append([]byte{}, valid...), 0, 0), []string{"cover 8 bytes of the 10-byte"}},
		{"empty header", build(``, 0), []string{"'{'"}},
		{"not an object", build(`[1,2]`, 0), []string{"'{'"}},
		{"invalid JSON", build(`{"a":{"dtype":"F32",`, 0), []string{"tensor \"a\""}},
		{"invalid JSON key", build(`{"a" 1}`, 0), []string{"colon"}},
		{"non-string key", build(`{1:2}`, 0), []string{"header JSON"}},
		{"invalid UTF-8", build("{\"\xff\":{}}", 0), []string{"UTF-8"}},
		{"trailing garbage", build(`{} x`, 0), []string{"after the object"}},
		{"two objects", build(`{}{}`, 0), []string{"after the object"}},
		{"unknown dtype", build(`{"w":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}`, 1), []string{`tensor "w"`, `unknown dtype "F4"`}},
		{"missing dtype", build(`{"w":{"shape":[1],"data_offsets":[0,1]}}`, 1), []string{`tensor "w"`, "dtype"}},
		{"missing shape", build(`{"w":{"dtype":"U8","data_offsets":[0,1]}}`, 1), []string{`tensor "w"`, "missing shape"}},
		{"missing offsets", build(`{"w":{"dtype":"U8","shape":[1]}}`, 1), []string{`tensor "w"`, "missing data_offsets"}},
		{"entry not object", build(`{"w":5}`, 0), []string{`tensor "w"`}},
		{"negative dim", build(`{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, 0), []string{`tensor "w"`, "invalid dimension"}},
		{"fractional dim", build(`{"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}}`, 0), []string{`tensor "w"`}},
		{"overflowing shape", build(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0), []string{`tensor "w"`, "overflows"}},
		{"three offsets", build(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, 1), []string{`tensor "w"`, "want [begin, end]"}},
		{"reversed offsets", build(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}`, 1), []string{`tensor "w"`, "invalid range"}},
		{"negative offset", build(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}`, 1), []string{`tensor "w"`, "invalid range"}},
		{"out of bounds", build(`{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, 2), []string{`tensor "w"`, "past the end of the 2-byte"}},
		{"size mismatch", build(`{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}`, 8), []string{`tensor "w"`, "hold 8 bytes", "needs 16"}},
		{"overlap", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, 6), []string{`tensor "b"`, `overlap tensor "a"`}},
		{"same range", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, 4), []string{"overlap"}},
		{"gap", build(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}`, 6), []string{`tensor "b"`, "gap"}},
		{"gap at start", build(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, 4), []string{`tensor "a"`, "gap"}},
		{"duplicate name", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), []string{`tensor "a"`, "duplicate"}},
		{"duplicate metadata", build(`{"__metadata__":{},"__metadata__":{}}`, 0), []string{"duplicate", "__metadata__"}},
		{"metadata not strings", build(`{"__metadata__":{"n":1}}`, 0), []string{"__metadata__"}},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".safetensors")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOpenAccepts(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		n    int
	}{
		{"empty object", build(`{}`, 0), 0},
		{"space padded", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}     `, 1), 1},
		{"zero-size tensors share an offset", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},"c":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, 8), 3},
		{"extra field", build(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":{"y":[1]}}}`, 1), 1},
		{"unsorted header", build(`{"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), 2},
		{"every dtype", build(`{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[1,2]},"c":{"dtype":"U16","shape":[1],"data_offsets":[2,4]},"d":{"dtype":"U32","shape":[1],"data_offsets":[4,8]},"e":{"dtype":"U64","shape":[1],"data_offsets":[8,16]},"f":{"dtype":"I16","shape":[1],"data_offsets":[16,18]},"g":{"dtype":"I8","shape":[1],"data_offsets":[18,19]},"h":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[19,20]}}`, 20), 8},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i))+".safetensors")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := len(f.Names()); got != tt.n {
				t.Errorf("%d tensors, want %d", got, tt.n)
			}
		})
	}
}

func TestOpenMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.safetensors")
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open of a directory succeeded")
	}
}

// FuzzOpen feeds arbitrary bytes to the parser: it must return an error or
// a file whose every float tensor converts, never panic or read out of
// bounds.
func FuzzOpen(f *testing.F) {
	f.Add(build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(build(`{"__metadata__":{"k":"v"},"a":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[],"data_offsets":[4,6]}}`, 6))
	f.Add(build(`{"a":{"dtype":"F64","shape":[0],"data_offsets":[0,0]}}`, 0))
	f.Add(build(`{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}`, 3))
	f.Add([]byte{})
	if b, err := os.ReadFile("testdata/golden.safetensors"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzguard.Within(t, func() {
			file := &File{path: "fuzz", data: data, unmap: func() error { return nil }}
			if err := file.parse(); err != nil {
				return
			}
			for _, n := range file.Names() {
				ti, _ := file.Info(n)
				raw, _, err := file.Raw(n)
				if err != nil || int64(len(raw)) != ti.End-ti.Begin {
					t.Fatalf("Raw(%q): %d bytes, %v", n, len(raw), err)
				}
				if ti.DType.IsFloat() && ti.Numel() < 1<<20 {
					if _, err := file.Float32(n); err != nil {
						t.Fatalf("Float32(%q): %v", n, err)
					}
				}
			}
		})
	})
}
