// Package safetensors reads and writes the Hugging Face safetensors format,
// the file format of model weights and PEFT adapters that crucible loads
// and delivers.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON
// header, then the data buffer. The header maps each tensor name to its
// dtype, shape and [begin, end) byte range within the buffer, plus an
// optional "__metadata__" object of string values. Files come from miners
// and customers, so Open checks every header field before touching data:
// the header size limit, valid UTF-8 JSON that starts with '{', no duplicate
// names, known dtypes, non-negative dimensions, each range's length equal to
// numel·element size, and ranges that tile the buffer exactly (sorted,
// contiguous, non-overlapping, in bounds, covering all of it). Every error
// names the file and, where there is one, the tensor.
//
// Reading memory-maps the file where the platform allows it, so tensors are
// converted to float32 straight from the page cache. Writing is atomic (a
// temporary file in the same directory, fsync, rename), tensors are laid
// out sorted by name, and the header is padded with spaces so that the data
// buffer starts 8-byte aligned, as the reference writer does. Model
// directories (one model.safetensors, or shards named by
// model.safetensors.index.json) are read by OpenDir and written by WriteDir.
package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"

	"github.com/crucible-net/crucible/ml/tensor"
)

// MaxHeaderSize is the largest JSON header accepted, in bytes (the limit of
// the reference implementation).
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key of the string-to-string metadata.
const metadataKey = "__metadata__"

// TensorInfo describes one stored tensor. Begin and End are byte offsets
// relative to the start of the data buffer (End exclusive).
type TensorInfo struct {
	Name  string
	DType tensor.DType
	Shape []int
	Begin int64
	End   int64
}

// Numel returns the number of elements of the tensor.
func (ti TensorInfo) Numel() int { return tensor.Shape(ti.Shape).Numel() }

// header is a parsed and validated header.
type header struct {
	infos map[string]TensorInfo
	names []string // sorted
	meta  map[string]string
}

// rawEntry is one tensor entry as it appears in the JSON header. Other
// fields are ignored, as the reference implementation ignores them.
type rawEntry struct {
	DType       string   `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseHeader parses and validates the JSON header hdr of a file whose data
// buffer is bufLen bytes long. Errors name the offending tensor but not the
// file; the caller adds that.
func parseHeader(hdr []byte, bufLen int64) (*header, error) {
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, errors.New("header does not start with '{'")
	}
	if !utf8.Valid(hdr) {
		return nil, errors.New("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	h := &header{infos: map[string]TensorInfo{}}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("header JSON: unexpected %v", tok)
		}
		if name == metadataKey {
			if seenMeta {
				return nil, fmt.Errorf("duplicate %q in header", metadataKey)
			}
			seenMeta = true
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				return nil, fmt.Errorf("%s: must be an object of strings: %w", metadataKey, err)
			}
			h.meta = m
			continue
		}
		if _, dup := h.infos[name]; dup {
			return nil, fmt.Errorf("tensor %q: duplicate name in header", name)
		}
		var e rawEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		ti, err := checkEntry(name, e, bufLen)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		h.infos[name] = ti
		h.names = append(h.names, name)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("header JSON: after the object: %w", err)
		}
		return nil, fmt.Errorf("header JSON: unexpected %v after the object", tok)
	}
	sort.Strings(h.names)
	if err := checkLayout(h, bufLen); err != nil {
		return nil, err
	}
	return h, nil
}

// checkEntry validates one entry on its own: dtype, shape, and a byte range
// whose length matches the shape and that lies inside the buffer.
func checkEntry(name string, e rawEntry, bufLen int64) (TensorInfo, error) {
	dt, err := tensor.ParseDType(e.DType)
	if err != nil {
		return TensorInfo{}, err
	}
	if e.Shape == nil {
		return TensorInfo{}, errors.New("missing shape")
	}
	if e.DataOffsets == nil {
		return TensorInfo{}, errors.New("missing data_offsets")
	}
	shape := make([]int, len(*e.Shape))
	for i, d := range *e.Shape {
		if d < 0 || int64(int(d)) != d {
			return TensorInfo{}, fmt.Errorf("shape %v: invalid dimension %d", *e.Shape, d)
		}
		shape[i] = int(d)
	}
	off := *e.DataOffsets
	if len(off) != 2 {
		return TensorInfo{}, fmt.Errorf("data_offsets %v: want [begin, end]", off)
	}
	begin, end := off[0], off[1]
	if begin < 0 || end < begin {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d]: invalid range", begin, end)
	}
	if end > bufLen {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d]: past the end of the %d-byte data buffer", begin, end, bufLen)
	}
	numel, ok := tensor.Shape(shape).NumelChecked()
	if !ok {
		return TensorInfo{}, fmt.Errorf("shape %v: element count overflows", shape)
	}
	if want := numel * int64(dt.Size()); end-begin != want {
		return TensorInfo{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, but %s %v needs %d", begin, end, end-begin, dt, tensor.Shape(shape), want)
	}
	return TensorInfo{Name: name, DType: dt, Shape: shape, Begin: begin, End: end}, nil
}

// checkLayout checks that the byte ranges tile the data buffer exactly:
// sorted by offset, each starts where the previous ended, and the last ends
// at the end of the buffer.
func checkLayout(h *header, bufLen int64) error {
	order := make([]TensorInfo, 0, len(h.infos))
	for _, ti := range h.infos {
		order = append(order, ti)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	var pos int64
	prev := ""
	for _, ti := range order {
		switch {
		case ti.Begin < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q, which ends at %d", ti.Name, ti.Begin, ti.End, prev, pos)
		case ti.Begin > pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a gap: the previous tensor ends at %d", ti.Name, ti.Begin, ti.End, pos)
		}
		pos = ti.End
		prev = ti.Name
	}
	if pos != bufLen {
		return fmt.Errorf("tensors cover %d bytes of the %d-byte data buffer", pos, bufLen)
	}
	return nil
}
