package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/crucible-net/crucible/ml/tensor"
)

// File is one opened, validated safetensors file. Its methods may be called
// from several goroutines at once, but not concurrently with Close.
type File struct {
	path   string
	data   []byte // the whole file, mapped or read
	buf    []byte // the data buffer: data[8+N:]
	hdr    *header
	unmap  func() error
	closed bool
}

// Open opens and validates the safetensors file at path. Tensor data is not
// read until asked for; on unix the file is memory-mapped.
func Open(path string) (*File, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) { // the path is already in our prefix
			return nil, fmt.Errorf("safetensors %s: %s: %w", path, pe.Op, pe.Err)
		}
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	f := &File{path: path, data: data, unmap: unmap}
	if err := f.parse(); err != nil {
		_ = unmap()
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	return f, nil
}

func (f *File) parse() error {
	size := int64(len(f.data))
	if size < 8 {
		return fmt.Errorf("file is %d bytes, too short for the 8-byte header length", size)
	}
	n := binary.LittleEndian.Uint64(f.data[:8])
	if n > MaxHeaderSize {
		return fmt.Errorf("header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return fmt.Errorf("header length %d is larger than the %d bytes after it (truncated file?)", n, size-8)
	}
	f.buf = f.data[8+n:]
	h, err := parseHeader(f.data[8:8+n], int64(len(f.buf)))
	if err != nil {
		return err
	}
	f.hdr = h
	return nil
}

// Path returns the path the file was opened from.
func (f *File) Path() string { return f.path }

// Names returns the tensor names, sorted.
func (f *File) Names() []string { return slices.Clone(f.hdr.names) }

// Info returns the description of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	ti, ok := f.hdr.infos[name]
	if ok {
		ti.Shape = slices.Clone(ti.Shape)
	}
	return ti, ok
}

// Metadata returns a copy of the header's "__metadata__" object (nil when
// the file has none).
func (f *File) Metadata() map[string]string {
	if f.hdr.meta == nil {
		return nil
	}
	m := make(map[string]string, len(f.hdr.meta))
	for k, v := range f.hdr.meta {
		m[k] = v
	}
	return m
}

// Raw returns the stored little-endian bytes of the named tensor and its
// dtype. The bytes alias the mapped file: they are valid until Close and
// must not be modified.
func (f *File) Raw(name string) ([]byte, tensor.DType, error) {
	if f.closed {
		return nil, tensor.Invalid, fmt.Errorf("safetensors %s: tensor %q: file is closed", f.path, name)
	}
	ti, ok := f.hdr.infos[name]
	if !ok {
		return nil, tensor.Invalid, fmt.Errorf("safetensors %s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	return f.buf[ti.Begin:ti.End:ti.End], ti.DType, nil
}

// Float32 returns the named tensor converted to a new float32 slice. The
// tensor must have a float dtype (F32, F16, BF16 or F64).
func (f *File) Float32(name string) ([]float32, error) {
	ti, ok := f.hdr.infos[name]
	if !ok {
		return nil, fmt.Errorf("safetensors %s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	dst := make([]float32, ti.Numel())
	if err := f.ReadFloat32(name, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// ReadFloat32 converts the named tensor into dst, whose length must equal
// the tensor's element count. The tensor must have a float dtype.
func (f *File) ReadFloat32(name string, dst []float32) error {
	raw, dt, err := f.Raw(name)
	if err != nil {
		return err
	}
	ti := f.hdr.infos[name]
	if n := ti.Numel(); len(dst) != n {
		return fmt.Errorf("safetensors %s: tensor %q: destination has %d elements, tensor %v has %d", f.path, name, len(dst), tensor.Shape(ti.Shape), n)
	}
	if !dt.IsFloat() {
		return fmt.Errorf("safetensors %s: tensor %q: dtype %s is not a float type", f.path, name, dt)
	}
	if err := tensor.DecodeFloat32(dst, raw, dt); err != nil {
		return fmt.Errorf("safetensors %s: tensor %q: %w", f.path, name, err)
	}
	return nil
}

// Close releases the mapping. Slices returned by Raw must not be used
// afterwards; Close is idempotent.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.buf = nil
	f.data = nil
	if err := f.unmap(); err != nil {
		return fmt.Errorf("safetensors %s: close: %w", f.path, err)
	}
	return nil
}

// ErrNotFound is wrapped by the errors of lookups of a tensor name that is
// not stored.
var ErrNotFound = errors.New("no such tensor")

// DataOffset returns where the data buffer starts in the file: 8 plus the
// header's length.
func (f *File) DataOffset() int64 { return int64(len(f.data) - len(f.buf)) }

// DropResident hands the file's pages that this process has read back to
// the kernel (they stay in the page cache; the next read maps them again),
// so that reading a file much larger than memory piece by piece does not
// grow the process's resident memory. It is a no-op where files are not
// memory-mapped.
func (f *File) DropResident() error {
	if f.closed || len(f.data) == 0 {
		return nil
	}
	return dropResident(f.data)
}
