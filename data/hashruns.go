package data

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"io"
	"os"
	"slices"
)

// hashRuns collects one 64-bit hash per row and counts, at the end, the
// hashes equal to an earlier one, in memory that does not grow with the
// rows: past spillHashes hashes, the buffer is sorted and written to a
// temporary file (a run), and the count merges the sorted runs. The count
// is exact for the hashes (the same as sorting them all in memory); rows
// that differ count as duplicates only if their 64-bit hashes collide
// (about one pair in 10^19). If a run cannot be written (no temporary
// space), the hashes stay in memory instead.
type hashRuns struct {
	buf  []uint64
	runs []*os.File
	max  int // spill past this many hashes; 0 means spillHashes
}

// spillHashes is the hashes held in memory before a run is written:
// 8 MB.
const spillHashes = 1 << 20

func (r *hashRuns) add(h uint64) {
	max := r.max
	if max <= 0 {
		max = spillHashes
	}
	if len(r.buf) >= max && r.spill() {
		r.buf = r.buf[:0]
	}
	r.buf = append(r.buf, h)
}

// spill writes the buffer, sorted, to a new run and reports whether it
// did.
func (r *hashRuns) spill() bool {
	f, err := os.CreateTemp("", "crucible-check-*.hashes")
	if err != nil {
		return false
	}
	os.Remove(f.Name()) // the open file stays readable; nothing is left behind
	slices.Sort(r.buf)
	w := bufio.NewWriterSize(f, 1<<16)
	var b [8]byte
	for _, h := range r.buf {
		binary.LittleEndian.PutUint64(b[:], h)
		w.Write(b[:])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return false
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return false
	}
	r.runs = append(r.runs, f)
	return true
}

// repeats returns the number of hashes equal to an earlier one and
// releases the runs. A run that cannot be read back makes the count
// wrong; it returns ok false then.
func (r *hashRuns) repeats() (n int, ok bool) {
	defer r.close()
	slices.Sort(r.buf)
	if len(r.runs) == 0 {
		for i := 1; i < len(r.buf); i++ {
			if r.buf[i] == r.buf[i-1] {
				n++
			}
		}
		return n, true
	}
	// Merge the runs and the buffer (a run of its own, in memory).
	h := &runHeap{}
	mem := 0
	next := func(i int) (uint64, bool) {
		if i < 0 {
			if mem == len(r.buf) {
				return 0, false
			}
			mem++
			return r.buf[mem-1], true
		}
		var b [8]byte
		if _, err := io.ReadFull(h.readers[i], b[:]); err != nil {
			if err != io.EOF {
				ok = false
			}
			return 0, false
		}
		return binary.LittleEndian.Uint64(b[:]), true
	}
	ok = true
	for i, f := range r.runs {
		h.readers = append(h.readers, bufio.NewReaderSize(f, 1<<16))
		if v, more := next(i); more {
			h.items = append(h.items, runItem{v, i})
		}
	}
	if v, more := next(-1); more {
		h.items = append(h.items, runItem{v, -1})
	}
	heap.Init(h)
	first, prev := true, uint64(0)
	for len(h.items) > 0 {
		top := h.items[0]
		if !first && top.v == prev {
			n++
		}
		first, prev = false, top.v
		if v, more := next(top.run); more {
			h.items[0].v = v
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return n, ok
}

func (r *hashRuns) close() {
	for _, f := range r.runs {
		f.Close()
	}
	r.runs, r.buf = nil, nil
}

type runItem struct {
	v   uint64
	run int // -1 for the in-memory buffer
}

type runHeap struct {
	items   []runItem
	readers []*bufio.Reader
}

func (h *runHeap) Len() int           { return len(h.items) }
func (h *runHeap) Less(i, j int) bool { return h.items[i].v < h.items[j].v }
func (h *runHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *runHeap) Push(x any)         { h.items = append(h.items, x.(runItem)) }
func (h *runHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// lengthCounts counts token lengths by value, so that the exact minimum,
// maximum, mean and nearest-rank percentiles come out of memory bounded
// by the distinct lengths, not the rows.
type lengthCounts struct {
	counts map[int]int64
	n      int64
}

func (l *lengthCounts) add(n int) {
	if l.counts == nil {
		l.counts = map[int]int64{}
	}
	l.counts[n]++
	l.n++
}

// stats returns the lengths' summary; maxLength > 0 counts those over it.
func (l *lengthCounts) stats(maxLength int) *TokenStats {
	if l.n == 0 {
		return nil
	}
	keys := make([]int, 0, len(l.counts))
	for k := range l.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ts := &TokenStats{Min: keys[0], Max: keys[len(keys)-1]}
	for _, k := range keys {
		c := l.counts[k]
		ts.Total += int64(k) * c
		if maxLength > 0 && k > maxLength {
			ts.OverMax += int(c)
		}
	}
	ts.Mean = float64(ts.Total) / float64(l.n)
	ts.P50 = l.percentile(keys, 50)
	ts.P95 = l.percentile(keys, 95)
	return ts
}

// percentile is the nearest-rank percentile: the value at rank
// ⌈p·n/100⌉ (at least 1) of the sorted lengths.
func (l *lengthCounts) percentile(keys []int, p int) int {
	rank := (int64(p)*l.n + 99) / 100
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for _, k := range keys {
		seen += l.counts[k]
		if seen >= rank {
			return k
		}
	}
	return keys[len(keys)-1]
}
