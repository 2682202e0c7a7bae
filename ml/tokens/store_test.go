package tokens

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/safetensors"
)

// randomSeqs makes n sequences over a vocabulary, each with a prompt that
// does not count and a response that does.
func randomSeqs(n, vocab int, seed uint64) []eval.Sequence {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]eval.Sequence, n)
	for i := range out {
		k := rng.IntN(40)
		s := eval.Sequence{IDs: make([]int32, k), Labels: make([]int32, k)}
		p := rng.IntN(k + 1)
		for j := range k {
			s.IDs[j] = int32(rng.IntN(vocab))
			s.Labels[j] = IgnoreIndex
			if j >= p || rng.IntN(7) == 0 {
				s.Labels[j] = s.IDs[j]
			}
		}
		out[i] = s
	}
	return out
}

func writeStore(t *testing.T, path, kind string, vocab int, seqs []eval.Sequence) Meta {
	t.Helper()
	w, err := Create(path, kind, vocab)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seqs {
		if err := w.Append(s.IDs, s.Labels); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Commit(json.RawMessage(`{"what":"test"}`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	for _, vocab := range []int{300, 1 << 16, 1<<16 + 1, 200_000} {
		dir := t.TempDir()
		path := filepath.Join(dir, "s.safetensors")
		seqs := randomSeqs(333, vocab, uint64(vocab))
		meta := writeStore(t, path, KindSequences, vocab, seqs)
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(); err != nil {
			t.Fatal(err)
		}
		wantType := "U16"
		if vocab > 1<<16 {
			wantType = "U32"
		}
		if got := s.Meta(); got.IDType != wantType || got.SHA256 != meta.SHA256 || got.Sequences != 333 || string(got.Source) != `{"what":"test"}` {
			t.Fatalf("vocab %d: meta %+v", vocab, got)
		}
		var tokens, counted int64
		longest := 0
		for i, want := range seqs {
			got := s.Seq(i)
			if !slices.Equal(got.IDs, want.IDs) || !slices.Equal(got.Labels, want.Labels) || s.SeqLen(i) != len(want.IDs) || s.Counted(i) != want.Counted() {
				t.Fatalf("vocab %d: sequence %d differs: %v/%v, want %v/%v", vocab, i, got.IDs, got.Labels, want.IDs, want.Labels)
			}
			tokens += int64(len(want.IDs))
			for _, l := range want.Labels {
				if l != IgnoreIndex {
					counted++
				}
			}
			longest = max(longest, len(want.IDs))
		}
		m := s.Meta()
		if m.Tokens != tokens || m.Counted != counted || m.Longest != longest {
			t.Fatalf("counts %+v, want tokens %d counted %d longest %d", m, tokens, counted, longest)
		}
		s.Close()
		if left, _ := filepath.Glob(filepath.Join(dir, TempPattern)); len(left) > 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	}
}

// The store is a plain safetensors file: an independent reader sees the
// documented tensors, aligned as documented.
func TestIsSafetensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.safetensors")
	seqs := randomSeqs(50, 1000, 3)
	writeStore(t, path, KindSequences, 1000, seqs)
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.DataOffset() != HeaderSize {
		t.Fatalf("data at %d, want %d", f.DataOffset(), HeaderSize)
	}
	ids, _, _ := f.Raw(TensorIDs)
	mask, _, _ := f.Raw(TensorMask)
	offs, _, _ := f.Raw(TensorOffsets)
	info, _ := f.Info(TensorOffsets)
	if info.Begin%8 != 0 {
		t.Fatalf("offsets start at %d, not 8-aligned", info.Begin)
	}
	var at int64
	for i, s := range seqs {
		lo, hi := int64(binary.LittleEndian.Uint64(offs[8*i:])), int64(binary.LittleEndian.Uint64(offs[8*i+8:]))
		if lo != at || hi-lo != int64(len(s.IDs)) {
			t.Fatalf("sequence %d at [%d, %d), want start %d length %d", i, lo, hi, at, len(s.IDs))
		}
		for k := range s.IDs {
			tok := lo + int64(k)
			id := int32(binary.LittleEndian.Uint16(ids[2*tok:]))
			bit := mask[tok/8]>>(tok%8)&1 == 1
			if id != s.IDs[k] || bit != (s.Labels[k] != IgnoreIndex) {
				t.Fatalf("sequence %d token %d: id %d bit %v", i, k, id, bit)
			}
		}
		at = hi
	}
	md := f.Metadata()
	if md["format"] != Format || md["version"] != "1" || !strings.Contains(md["crucible"], `"kind":"sequences"`) {
		t.Fatalf("metadata %v", md)
	}
}

func TestVerifyFindsCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.safetensors")
	seqs := randomSeqs(200, 500, 4)
	writeStore(t, path, KindSequences, 500, seqs)
	good, _ := os.ReadFile(path)
	corrupt := func(at int, b byte) string {
		data := slices.Clone(good)
		data[at] = b
		p := filepath.Join(dir, "bad.safetensors")
		os.WriteFile(p, data, 0o644)
		return p
	}
	// A flipped id: the checksum catches it, and an id past the vocabulary
	// is named.
	for _, tc := range []struct {
		at   int
		b    byte
		want string
	}{
		{HeaderSize + 10, good[HeaderSize+10] ^ 1, "checksum"},
		{HeaderSize + 11, 0xff, "outside the vocabulary"},
	} {
		s, err := Open(corrupt(tc.at, tc.b))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Verify()
		s.Close()
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("corrupt byte %d: %v, want %q", tc.at, err, tc.want)
		}
	}
}

func TestOpenRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.safetensors")
	writeStore(t, path, KindSequences, 500, randomSeqs(21, 500, 5))
	good, _ := os.ReadFile(path)
	hdrLen := binary.LittleEndian.Uint64(good)
	hdr := string(good[8 : 8+hdrLen])
	mutate := func(old, new string) []byte {
		if !strings.Contains(hdr, old) {
			t.Fatalf("header lacks %q", old)
		}
		h := strings.Replace(hdr, old, new, 1)
		h += strings.Repeat(" ", len(hdr)-len(h))
		return append(append(slices.Clone(good[:8]), h...), good[8+hdrLen:]...)
	}
	cases := map[string][]byte{
		"not a safetensors file": []byte("hello"),
		"wrong format":           mutate(`"format":"crucible-tokens"`, `"format":"crucible-tokenz"`),
		"newer version":          mutate(`"version":"1"`, `"version":"9"`),
		"wrong id type":          mutate(`\"ids_dtype\":\"U16\"`, `\"ids_dtype\":\"U32\"`),
		"odd pairs":              mutate(`\"kind\":\"sequences\"`, `\"kind\":\"pairs\"`),
		"truncated":              good[:len(good)-9],
	}
	// Offsets that decrease.
	bad := slices.Clone(good)
	offsAt := len(bad) - 8*22
	binary.LittleEndian.PutUint64(bad[offsAt+8*3:], 1<<40)
	cases["offsets out of order"] = bad
	for name, data := range cases {
		p := filepath.Join(dir, "bad.safetensors")
		os.WriteFile(p, data, 0o644)
		s, err := Open(p)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened", name)
			continue
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v does not wrap ErrFormat", name, err)
		}
	}
}

func TestWriterRefusesBadInputAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.safetensors")
	w, err := Create(path, KindPairs, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append([]int32{1, 2}, []int32{IgnoreIndex}); err == nil {
		t.Fatal("length mismatch accepted")
	}
	if err := w.Append([]int32{1, 100}, []int32{IgnoreIndex, 100}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("id past the vocabulary: %v", err)
	}
	if err := w.Append([]int32{1, 2}, []int32{IgnoreIndex, 3}); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("label that is not the id: %v", err)
	}
	if err := w.Append([]int32{1, 2}, []int32{IgnoreIndex, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(nil); err == nil || !strings.Contains(err.Error(), "even number") {
		t.Fatalf("odd pairs committed: %v", err)
	}
	w2, _ := Create(path, KindSequences, 100)
	w2.Append([]int32{1, 2}, []int32{IgnoreIndex, 2})
	w2.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestPairsAndEmpty(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.safetensors")
	pairs := []eval.Pair{
		{Chosen: eval.Sequence{IDs: []int32{1, 2, 3}, Labels: []int32{IgnoreIndex, IgnoreIndex, 3}}, Rejected: eval.Sequence{IDs: []int32{1, 2, 4, 5}, Labels: []int32{IgnoreIndex, IgnoreIndex, 4, 5}}},
	}
	w, _ := Create(path, KindPairs, 10)
	for _, p := range pairs {
		w.Append(p.Chosen.IDs, p.Chosen.Labels)
		w.Append(p.Rejected.IDs, p.Rejected.Labels)
	}
	m, err := w.Commit(nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pairs() != 1 {
		t.Fatalf("pairs %d", m.Pairs())
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := eval.PairAt(s, 0); !slices.Equal(got.Rejected.IDs, pairs[0].Rejected.IDs) || s.Counted(1) != 2 {
		t.Fatalf("pair %+v", got)
	}
	// An empty store is valid.
	empty := filepath.Join(dir, "e.safetensors")
	w, _ = Create(empty, KindSequences, 10)
	if _, err := w.Commit(nil); err != nil {
		t.Fatal(err)
	}
	e, err := Open(empty)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(); err != nil || e.Len() != 0 {
		t.Fatalf("empty store: %v, %d sequences", err, e.Len())
	}
	e.Close()
}
