package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/crucible-net/crucible/ml/tensor"
)

// Tensor is a tensor to write: Data holds numel(Shape) float32 values that
// are stored converted to DType (F32, F16, BF16 or F64; narrowing rounds to
// nearest even).
type Tensor struct {
	Name  string
	DType tensor.DType
	Shape []int
	Data  []float32
}

// bytes returns the stored size of t.
func (t Tensor) bytes() int64 { return int64(len(t.Data)) * int64(t.DType.Size()) }

// writeChunk is the number of elements encoded at a time while writing, so
// that a large tensor never needs a second full-size buffer.
const writeChunk = 1 << 20

// headerEntry is one tensor entry of the JSON header as written.
type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// checkTensors validates tensors for writing and returns them sorted by name.
func checkTensors(tensors []Tensor) ([]Tensor, error) {
	sorted := make([]Tensor, len(tensors))
	copy(sorted, tensors)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for i, t := range sorted {
		if t.Name == "" || t.Name == metadataKey {
			return nil, fmt.Errorf("tensor %q: invalid name", t.Name)
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return nil, fmt.Errorf("tensor %q: duplicate name", t.Name)
		}
		if !t.DType.IsFloat() {
			return nil, fmt.Errorf("tensor %q: cannot store float32 data as %s", t.Name, t.DType)
		}
		n, ok := tensor.Shape(t.Shape).NumelChecked()
		if !ok {
			return nil, fmt.Errorf("tensor %q: invalid shape %v", t.Name, t.Shape)
		}
		if n != int64(len(t.Data)) {
			return nil, fmt.Errorf("tensor %q: shape %v needs %d values, have %d", t.Name, tensor.Shape(t.Shape), n, len(t.Data))
		}
	}
	return sorted, nil
}

// encodeHeader returns the JSON header for sorted tensors, padded with
// spaces so that 8+len(header) is a multiple of 8.
func encodeHeader(sorted []Tensor, metadata map[string]string) ([]byte, error) {
	entries := make(map[string]any, len(sorted)+1)
	if len(metadata) > 0 {
		entries[metadataKey] = metadata
	}
	var off int64
	for _, t := range sorted {
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		end := off + t.bytes()
		entries[t.Name] = headerEntry{DType: t.DType.String(), Shape: shape, DataOffsets: []int64{off, end}}
		off = end
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(entries); err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	hdr := bytes.TrimRight(b.Bytes(), "\n")
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	if len(hdr) > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the %d-byte limit", len(hdr), MaxHeaderSize)
	}
	return hdr, nil
}

// Write stores tensors (sorted by name) and metadata in a safetensors file
// at path. The file appears atomically: it is written to a temporary file in
// the same directory, synced, and renamed over path.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	if err := write(path, tensors, metadata); err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	return nil
}

func write(path string, tensors []Tensor, metadata map[string]string) error {
	sorted, err := checkTensors(tensors)
	if err != nil {
		return err
	}
	hdr, err := encodeHeader(sorted, metadata)
	if err != nil {
		return err
	}
	return writeAtomic(path, func(w *bufio.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
		w.Write(n[:])
		w.Write(hdr)
		var scratch []byte
		for _, t := range sorted {
			size := t.DType.Size()
			for lo := 0; lo < len(t.Data); lo += writeChunk {
				hi := min(lo+writeChunk, len(t.Data))
				need := (hi - lo) * size
				if cap(scratch) < need {
					scratch = make([]byte, need)
				}
				chunk := scratch[:need]
				if err := tensor.EncodeFloat32(chunk, t.Data[lo:hi], t.DType); err != nil {
					return fmt.Errorf("tensor %q: %w", t.Name, err)
				}
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// writeAtomic creates path with the content fill writes: temporary file in
// the same directory, flush, fsync, rename, then a best-effort fsync of the
// directory so that the rename itself is durable.
func writeAtomic(path string, fill func(w *bufio.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err = fill(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // not supported everywhere; the rename already happened
		d.Close()
	}
	return nil
}
