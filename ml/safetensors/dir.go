package safetensors

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"

	"github.com/crucible-net/crucible/ml/tensor"
)

// The file names of a Hugging Face model directory.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// shardName matches the shard files WriteDir creates.
var shardName = regexp.MustCompile(`^model-\d{5}-of-\d{5}\.safetensors$`)

// Set is the weights of a model directory: one model.safetensors, or the
// shards that model.safetensors.index.json lists in its weight_map. Its
// methods may be called from several goroutines at once, but not
// concurrently with Close.
type Set struct {
	dir    string
	files  []*File          // open shards, in index order
	where  map[string]*File // tensor name → its file
	names  []string         // sorted
	shards int
}

// index is the JSON of model.safetensors.index.json.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenDir opens the weights in dir. A model.safetensors there is used when
// present (as the Hugging Face loaders do); otherwise
// model.safetensors.index.json names the shards, every one of which must
// exist and hold the tensors the index assigns to it. Only the tensors named
// in the weight map are exposed.
func OpenDir(dir string) (*Set, error) {
	single := filepath.Join(dir, SingleFile)
	if _, err := os.Stat(single); err == nil {
		f, err := Open(single)
		if err != nil {
			return nil, err
		}
		return &Set{dir: dir, files: []*File{f}, where: whereAll(f), names: f.Names(), shards: 1}, nil
	}
	idxPath := filepath.Join(dir, IndexFile)
	raw, err := os.ReadFile(idxPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("safetensors: open dir %s: neither %s nor %s exists", dir, SingleFile, IndexFile)
	}
	if err != nil {
		return nil, fmt.Errorf("safetensors: open dir %s: %w", dir, err)
	}
	var idx index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", idxPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors %s: empty or missing weight_map", idxPath)
	}
	s := &Set{dir: dir, where: make(map[string]*File, len(idx.WeightMap))}
	byShard := map[string]*File{}
	for _, name := range sortedKeys(idx.WeightMap) {
		shard := idx.WeightMap[name]
		if shard == "" || filepath.Base(shard) != shard || shard == "." || shard == ".." {
			s.Close()
			return nil, fmt.Errorf("safetensors %s: tensor %q: invalid shard file name %q", idxPath, name, shard)
		}
		f, ok := byShard[shard]
		if !ok {
			f, err = Open(filepath.Join(dir, shard))
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("safetensors %s: shard for tensor %q: %w", idxPath, name, err)
			}
			byShard[shard] = f
			s.files = append(s.files, f)
		}
		if _, ok := f.hdr.infos[name]; !ok {
			s.Close()
			return nil, fmt.Errorf("safetensors %s: tensor %q: the index puts it in this shard, which does not hold it", f.path, name)
		}
		s.where[name] = f
		s.names = append(s.names, name)
	}
	s.shards = len(s.files)
	return s, nil
}

func whereAll(f *File) map[string]*File {
	m := make(map[string]*File, len(f.hdr.names))
	for _, n := range f.hdr.names {
		m[n] = f
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Dir returns the directory the set was opened from.
func (s *Set) Dir() string { return s.dir }

// Shards returns the number of files in the set.
func (s *Set) Shards() int { return s.shards }

// Names returns the tensor names, sorted.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Info returns the description of the named tensor (offsets relative to its
// shard's data buffer).
func (s *Set) Info(name string) (TensorInfo, bool) {
	f, ok := s.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// File returns the path of the file that holds the named tensor.
func (s *Set) File(name string) (string, bool) {
	f, ok := s.where[name]
	if !ok {
		return "", false
	}
	return f.path, true
}

// Metadata returns the "__metadata__" of the first file of the set.
func (s *Set) Metadata() map[string]string {
	if len(s.files) == 0 {
		return nil
	}
	return s.files[0].Metadata()
}

func (s *Set) lookup(name string) (*File, error) {
	f, ok := s.where[name]
	if !ok {
		return nil, fmt.Errorf("safetensors %s: tensor %q: %w", s.dir, name, ErrNotFound)
	}
	return f, nil
}

// Raw returns the stored bytes and dtype of the named tensor; see File.Raw.
func (s *Set) Raw(name string) ([]byte, tensor.DType, error) {
	f, err := s.lookup(name)
	if err != nil {
		return nil, tensor.Invalid, err
	}
	return f.Raw(name)
}

// Float32 returns the named tensor converted to a new float32 slice.
func (s *Set) Float32(name string) ([]float32, error) {
	f, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	return f.Float32(name)
}

// ReadFloat32 converts the named tensor into dst (len must equal numel).
func (s *Set) ReadFloat32(name string, dst []float32) error {
	f, err := s.lookup(name)
	if err != nil {
		return err
	}
	return f.ReadFloat32(name, dst)
}

// Close closes every file of the set and returns the first error.
func (s *Set) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// WriteDir writes tensors as the weights of model directory dir (created if
// needed): one model.safetensors when their data fits in maxShardBytes (or
// maxShardBytes <= 0), else shards model-0000i-of-0000N.safetensors of at
// most maxShardBytes each (a larger tensor gets a shard of its own) plus
// model.safetensors.index.json. Every file is written atomically, and weight
// files of an earlier layout that would confuse OpenDir are removed.
func WriteDir(dir string, tensors []Tensor, metadata map[string]string, maxShardBytes int64) error {
	if err := writeDir(dir, tensors, metadata, maxShardBytes); err != nil {
		return fmt.Errorf("safetensors: write dir %s: %w", dir, err)
	}
	return nil
}

func writeDir(dir string, tensors []Tensor, metadata map[string]string, maxShardBytes int64) error {
	sorted, err := checkTensors(tensors)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var total int64
	for _, t := range sorted {
		total += t.bytes()
	}
	if maxShardBytes <= 0 || total <= maxShardBytes {
		if err := Write(filepath.Join(dir, SingleFile), sorted, metadata); err != nil {
			return err
		}
		return removeStale(dir, nil)
	}
	var groups [][]Tensor
	var cur []Tensor
	var curBytes int64
	for _, t := range sorted {
		if len(cur) > 0 && curBytes+t.bytes() > maxShardBytes {
			groups = append(groups, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, t)
		curBytes += t.bytes()
	}
	groups = append(groups, cur)
	weightMap := make(map[string]string, len(sorted))
	keep := map[string]bool{}
	for i, g := range groups {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		if err := Write(filepath.Join(dir, name), g, metadata); err != nil {
			return err
		}
		keep[name] = true
		for _, t := range g {
			weightMap[t.Name] = name
		}
	}
	// A model.safetensors from before would shadow the new index.
	if err := os.Remove(filepath.Join(dir, SingleFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	idx := index{Metadata: map[string]any{"total_size": total}, WeightMap: weightMap}
	js, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	err = writeAtomic(filepath.Join(dir, IndexFile), func(w *bufio.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", IndexFile, err)
	}
	return removeStale(dir, keep)
}

// removeStale deletes the index and shard files in dir that are not in keep
// (keep == nil: a single-file layout, so the index goes too).
func removeStale(dir string, keep map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		stale := (keep == nil && name == IndexFile) || (shardName.MatchString(name) && !keep[name])
		if !stale {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
