package tokens

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/safetensors"
)

// Store is an opened token store. Its read methods are safe for concurrent
// use, but not concurrently with Close.
type Store struct {
	path string
	f    *safetensors.File
	meta Meta
	ids  []byte // the mapped tensors
	mask []byte
	offs []byte
	wide bool // ids are U32

	// read counts the bytes decoded since the mapping's pages were last
	// handed back (see dropEvery).
	read atomic.Int64
}

// dropEvery is how many bytes of sequences are decoded between two
// hand-backs of the mapping's pages.
const dropEvery = 64 << 20

// ErrFormat marks a file that is not a valid token store.
var ErrFormat = errors.New("not a valid token store")

// Open maps the store at path and checks it: the safetensors header, the
// format and version, the tensors' names, types and shapes against the
// metadata's counts, and the offsets (starting at 0, never decreasing,
// ending at the token count). It does not read the ids (see Verify).
func Open(path string) (*Store, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token store: %w: %w", ErrFormat, err)
	}
	s := &Store{path: path, f: f}
	if err := s.check(); err != nil {
		f.Close()
		return nil, fmt.Errorf("token store %s: %w: %w", path, ErrFormat, err)
	}
	f.DropResident()
	return s, nil
}

func (s *Store) check() error {
	md := s.f.Metadata()
	if md[metaFormat] != Format {
		return fmt.Errorf("metadata format is %q, want %q", md[metaFormat], Format)
	}
	if v, err := strconv.Atoi(md[metaVersion]); err != nil || v != Version {
		return fmt.Errorf("format version %q; this build reads version %d (a newer crucible wrote it?)", md[metaVersion], Version)
	}
	if err := json.Unmarshal([]byte(md[metaMeta]), &s.meta); err != nil {
		return fmt.Errorf("metadata %q: %v", metaMeta, err)
	}
	if err := s.meta.check(); err != nil {
		return err
	}
	names := s.f.Names()
	if !slices.Equal(names, []string{TensorIDs, TensorMask, TensorOffsets}) {
		return fmt.Errorf("tensors %v, want %s, %s and %s", names, TensorIDs, TensorMask, TensorOffsets)
	}
	tensor := func(name, dtype string, n int64, atLeast bool) ([]byte, error) {
		b, dt, err := s.f.Raw(name)
		if err != nil {
			return nil, err
		}
		info, _ := s.f.Info(name)
		if dt.String() != dtype || len(info.Shape) != 1 {
			return nil, fmt.Errorf("tensor %s is %s %v, want a vector of %s", name, dt, info.Shape, dtype)
		}
		if got := int64(info.Shape[0]); got != n && !(atLeast && got > n) {
			return nil, fmt.Errorf("tensor %s has %d elements, the metadata implies %d", name, got, n)
		}
		return b, nil
	}
	m := s.meta
	var err error
	if s.ids, err = tensor(TensorIDs, m.IDType, m.Tokens, false); err != nil {
		return err
	}
	s.wide = m.IDType == "U32"
	if s.mask, err = tensor(TensorMask, "U8", (m.Tokens+7)/8, true); err != nil {
		return err
	}
	if s.offs, err = tensor(TensorOffsets, "I64", m.Sequences+1, false); err != nil {
		return err
	}
	prev, longest := int64(0), int64(0)
	if first := s.offset(0); first != 0 {
		return fmt.Errorf("offsets start at %d, not 0", first)
	}
	for i := 1; i <= int(m.Sequences); i++ {
		o := s.offset(i)
		if o < prev || o > m.Tokens {
			return fmt.Errorf("offset %d is %d, after %d (offsets must not decrease nor pass the %d tokens)", i, o, prev, m.Tokens)
		}
		longest = max(longest, o-prev)
		prev = o
	}
	if prev != m.Tokens {
		return fmt.Errorf("offsets end at %d, not at the %d tokens", prev, m.Tokens)
	}
	if longest != int64(m.Longest) {
		return fmt.Errorf("the longest sequence has %d tokens, the metadata says %d", longest, m.Longest)
	}
	return nil
}

func (s *Store) offset(i int) int64 { return int64(binary.LittleEndian.Uint64(s.offs[8*i:])) }

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Meta returns the store's description.
func (s *Store) Meta() Meta { return s.meta }

// Verify reads the whole data buffer (with ordinary reads, so that it does
// not grow resident memory), checks its SHA-256 against the metadata, every
// id against the vocabulary and the mask's counts. Errors wrap ErrFormat.
func (s *Store) Verify() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("token store %s: %w: %s", s.path, ErrFormat, fmt.Sprintf(format, args...))
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(s.f.DataOffset(), io.SeekStart); err != nil {
		return fmt.Errorf("token store %s: %w", s.path, err)
	}
	h := sha256.New()
	r := bufio.NewReaderSize(io.TeeReader(f, h), 1<<20)
	idsLen := int64(len(s.ids))
	vocab := uint32(s.meta.VocabSize)
	buf := make([]byte, 1<<20)
	var at int64
	for at < idsLen {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), idsLen-at)])
		if err != nil {
			return fail("reading ids: %v", err)
		}
		if s.wide {
			for i := 0; i+4 <= n; i += 4 {
				if id := binary.LittleEndian.Uint32(buf[i:]); id >= vocab {
					return fail("token %d has id %d, outside the vocabulary of %d", (at+int64(i))/4, id, vocab)
				}
			}
		} else {
			for i := 0; i+2 <= n; i += 2 {
				if id := uint32(binary.LittleEndian.Uint16(buf[i:])); id >= vocab {
					return fail("token %d has id %d, outside the vocabulary of %d", (at+int64(i))/2, id, vocab)
				}
			}
		}
		at += int64(n)
	}
	var counted int64
	maskLen, bitBytes := int64(len(s.mask)), (s.meta.Tokens+7)/8
	for at = 0; at < maskLen; {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), maskLen-at)])
		if err != nil {
			return fail("reading the mask: %v", err)
		}
		for i, b := range buf[:n] {
			k := at + int64(i)
			if k == bitBytes-1 && s.meta.Tokens%8 != 0 {
				if b>>(s.meta.Tokens%8) != 0 {
					return fail("mask bits are set past the last token")
				}
			} else if k >= bitBytes && b != 0 {
				return fail("mask padding is not zero")
			}
			counted += int64(bits.OnesCount8(b))
		}
		at += int64(n)
	}
	if counted != s.meta.Counted {
		return fail("the mask counts %d tokens, the metadata %d", counted, s.meta.Counted)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fail("reading the offsets: %v", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.meta.SHA256 {
		return fail("checksum %s, the metadata says %s (the file is corrupt or was changed)", got, s.meta.SHA256)
	}
	return nil
}

// Len is the number of sequences.
func (s *Store) Len() int { return int(s.meta.Sequences) }

// SeqLen is the number of tokens of sequence i.
func (s *Store) SeqLen(i int) int {
	s.touched(8)
	return int(s.offset(i+1) - s.offset(i))
}

// touched counts bytes read from the mapping and hands its pages back to
// the kernel every dropEvery bytes, so that scans over the whole store
// (the lengths of every sequence, their scored tokens) and long runs keep
// only what they use resident.
func (s *Store) touched(n int64) {
	if s.read.Add(n) > dropEvery {
		s.read.Store(0)
		s.f.DropResident()
	}
}

// Counted is the number of positions of sequence i after the first whose
// mask bit is set: the positions eval scores.
func (s *Store) Counted(i int) int {
	lo, hi := s.offset(i)+1, s.offset(i+1)
	s.touched(8 + (hi-lo)/8)
	if lo >= hi {
		return 0
	}
	return s.countBits(lo, hi)
}

// countBits counts the set mask bits of tokens [lo, hi).
func (s *Store) countBits(lo, hi int64) int {
	n := 0
	for lo < hi && lo%64 != 0 {
		n += int(s.mask[lo/8] >> (lo % 8) & 1)
		lo++
	}
	for ; lo+64 <= hi; lo += 64 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(s.mask[lo/8:]))
	}
	for ; lo < hi; lo++ {
		n += int(s.mask[lo/8] >> (lo % 8) & 1)
	}
	return n
}

// Seq decodes sequence i into new slices.
func (s *Store) Seq(i int) eval.Sequence {
	lo, hi := s.offset(i), s.offset(i+1)
	n := int(hi - lo)
	seq := eval.Sequence{IDs: make([]int32, n), Labels: make([]int32, n)}
	if s.wide {
		for k := range n {
			seq.IDs[k] = int32(binary.LittleEndian.Uint32(s.ids[4*(lo+int64(k)):]))
		}
	} else {
		src := s.ids[2*lo : 2*hi]
		for k := range n {
			seq.IDs[k] = int32(binary.LittleEndian.Uint16(src[2*k:]))
		}
	}
	for k := range n {
		t := lo + int64(k)
		if s.mask[t/8]>>(t%8)&1 != 0 {
			seq.Labels[k] = seq.IDs[k]
		} else {
			seq.Labels[k] = IgnoreIndex
		}
	}
	width := int64(2)
	if s.wide {
		width = 4
	}
	s.touched(int64(n)*width + int64(n)/8 + 16)
	return seq
}

// Close unmaps the store. Sequences returned by Seq stay valid.
func (s *Store) Close() error { return s.f.Close() }

var _ eval.Source = (*Store)(nil)
