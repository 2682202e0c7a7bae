package tokens

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Writer streams sequences into a new store. It is not safe for concurrent
// use: one goroutine appends, in order.
type Writer struct {
	path   string
	kind   string
	vocab  int
	idSize int

	out           *os.File // the store being written, at a temporary name
	ids           *bufio.Writer
	sum           hash.Hash
	maskF, offF   *os.File // spill files of the mask bits and the offsets
	mask, offs    *bufio.Writer
	maskByte      byte
	maskBits      int
	meta          Meta
	buf           []byte
	finished, bad bool
}

// TempPattern is the pattern of the temporary files a Writer creates beside
// its destination (for callers that clean up after killed processes).
const TempPattern = ".*.tokens-tmp"

// Create starts a store of the given kind at path, for token ids below
// vocab. Nothing appears at path until Commit.
func Create(path, kind string, vocab int) (*Writer, error) {
	if kind != KindSequences && kind != KindPairs {
		return nil, fmt.Errorf("token store %s: unknown kind %q", path, kind)
	}
	if vocab <= 0 || vocab > 1<<31-1 {
		return nil, fmt.Errorf("token store %s: vocabulary size %d is out of range", path, vocab)
	}
	w := &Writer{path: path, kind: kind, vocab: vocab, sum: sha256.New()}
	var dt string
	w.idSize, dt = idBytes(vocab)
	w.meta = Meta{Version: Version, Kind: kind, VocabSize: vocab, IDType: dt}
	dir, base := filepath.Dir(path), filepath.Base(path)
	var err error
	temp := func() (*os.File, error) { return os.CreateTemp(dir, "."+base+".*.tokens-tmp") }
	if w.out, err = temp(); err != nil {
		return nil, fmt.Errorf("token store %s: %w", path, err)
	}
	if w.maskF, err = temp(); err != nil {
		w.Abort()
		return nil, fmt.Errorf("token store %s: %w", path, err)
	}
	if w.offF, err = temp(); err != nil {
		w.Abort()
		return nil, fmt.Errorf("token store %s: %w", path, err)
	}
	if _, err := w.out.Seek(HeaderSize, io.SeekStart); err != nil {
		w.Abort()
		return nil, fmt.Errorf("token store %s: %w", path, err)
	}
	w.ids = bufio.NewWriterSize(w.out, 1<<20)
	w.mask = bufio.NewWriterSize(w.maskF, 256<<10)
	w.offs = bufio.NewWriterSize(w.offF, 256<<10)
	w.putOffset(0)
	return w, nil
}

func (w *Writer) putOffset(v int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	w.offs.Write(b[:])
}

// Meta returns the counts so far (Commit fills in the checksum).
func (w *Writer) Meta() Meta { return w.meta }

// Append adds one sequence: its ids and its labels, aligned the Hugging
// Face way (each label is its token's id, or IgnoreIndex where the token
// does not count). Ids must be in [0, vocab).
func (w *Writer) Append(ids, labels []int32) error {
	if w.finished {
		return errors.New("token store: append after commit or abort")
	}
	if len(ids) != len(labels) {
		return fmt.Errorf("token store: sequence %d has %d ids and %d labels", w.meta.Sequences, len(ids), len(labels))
	}
	need := len(ids) * w.idSize
	if cap(w.buf) < need {
		w.buf = make([]byte, need)
	}
	b := w.buf[:need]
	for i, id := range ids {
		if id < 0 || int(id) >= w.vocab {
			return fmt.Errorf("token store: sequence %d, token %d: id %d is outside the vocabulary of %d", w.meta.Sequences, i, id, w.vocab)
		}
		if l := labels[i]; l != IgnoreIndex && l != id {
			return fmt.Errorf("token store: sequence %d, token %d: label %d is neither the token's id %d nor %d", w.meta.Sequences, i, l, id, IgnoreIndex)
		}
		if w.idSize == 2 {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(id))
		} else {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(id))
		}
	}
	if _, err := w.ids.Write(b); err != nil {
		w.bad = true
		return fmt.Errorf("token store %s: %w", w.path, err)
	}
	w.sum.Write(b)
	for _, l := range labels {
		if l != IgnoreIndex {
			w.maskByte |= 1 << w.maskBits
			w.meta.Counted++
		}
		w.maskBits++
		if w.maskBits == 8 {
			w.mask.WriteByte(w.maskByte)
			w.maskByte, w.maskBits = 0, 0
		}
	}
	w.meta.Tokens += int64(len(ids))
	w.meta.Sequences++
	w.meta.Longest = max(w.meta.Longest, len(ids))
	w.putOffset(w.meta.Tokens)
	return nil
}

// Commit finishes the store: it appends the mask and the offsets, writes
// the header with the checksum and source (any JSON the producer wants to
// record; nil for none), syncs, and renames the file into place. On error
// nothing is left at the destination or beside it.
func (w *Writer) Commit(source json.RawMessage) (Meta, error) {
	if w.finished {
		return Meta{}, errors.New("token store: commit after commit or abort")
	}
	fail := func(err error) (Meta, error) {
		w.Abort()
		return Meta{}, fmt.Errorf("token store %s: %w", w.path, err)
	}
	if w.bad {
		return fail(errors.New("an earlier write failed"))
	}
	if w.kind == KindPairs && w.meta.Sequences%2 != 0 {
		return fail(fmt.Errorf("a pairs store needs an even number of sequences, got %d", w.meta.Sequences))
	}
	if w.maskBits > 0 {
		w.mask.WriteByte(w.maskByte)
	}
	maskLen := maskBytes(w.meta.Tokens, w.idSize)
	if pad := maskLen - (w.meta.Tokens+7)/8; pad > 0 {
		w.mask.Write(make([]byte, pad))
	}
	for _, b := range []*bufio.Writer{w.ids, w.mask, w.offs} {
		if err := b.Flush(); err != nil {
			return fail(err)
		}
	}
	// The spill files follow the ids, through the hash.
	dst := io.MultiWriter(w.out, w.sum)
	for _, f := range []*os.File{w.maskF, w.offF} {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fail(err)
		}
		if _, err := io.Copy(dst, bufio.NewReaderSize(f, 1<<20)); err != nil {
			return fail(err)
		}
	}
	if source != nil && !json.Valid(source) {
		return fail(errors.New("source is not valid JSON"))
	}
	w.meta.Source = source
	w.meta.SHA256 = hex.EncodeToString(w.sum.Sum(nil))
	hdr, err := w.header(maskLen)
	if err != nil {
		return fail(err)
	}
	if _, err := w.out.WriteAt(hdr, 0); err != nil {
		return fail(err)
	}
	if err := w.out.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := w.out.Sync(); err != nil {
		return fail(err)
	}
	tmp := w.out.Name()
	if err := w.out.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, w.path); err != nil {
		return fail(err)
	}
	w.out = nil
	syncDir(filepath.Dir(w.path))
	w.Abort() // removes the spill files
	return w.meta, nil
}

// header encodes the safetensors header, padded to HeaderSize.
func (w *Writer) header(maskLen int64) ([]byte, error) {
	meta, err := json.Marshal(w.meta)
	if err != nil {
		return nil, err
	}
	type entry struct {
		DType   string  `json:"dtype"`
		Shape   []int64 `json:"shape"`
		Offsets []int64 `json:"data_offsets"`
	}
	idsEnd := w.meta.Tokens * int64(w.idSize)
	maskEnd := idsEnd + maskLen
	offEnd := maskEnd + 8*(w.meta.Sequences+1)
	h := map[string]any{
		"__metadata__": map[string]string{metaFormat: Format, metaVersion: strconv.Itoa(Version), metaMeta: string(meta)},
		TensorIDs:      entry{w.meta.IDType, []int64{w.meta.Tokens}, []int64{0, idsEnd}},
		TensorMask:     entry{"U8", []int64{maskLen}, []int64{idsEnd, maskEnd}},
		TensorOffsets:  entry{"I64", []int64{w.meta.Sequences + 1}, []int64{maskEnd, offEnd}},
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if len(js) > HeaderSize-8 {
		return nil, fmt.Errorf("header of %d bytes does not fit the %d reserved (the source description is too large)", len(js), HeaderSize-8)
	}
	out := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint64(out, HeaderSize-8)
	copy(out[8:], js)
	for i := 8 + len(js); i < HeaderSize; i++ {
		out[i] = ' '
	}
	return out, nil
}

// Abort stops writing and removes the temporary files. It may be called
// after a failed Commit or any other error, and more than once.
func (w *Writer) Abort() {
	w.finished = true
	for _, f := range []*os.File{w.out, w.maskF, w.offF} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	w.out, w.maskF, w.offF = nil, nil, nil
}

// syncDir makes a rename in dir durable, where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
