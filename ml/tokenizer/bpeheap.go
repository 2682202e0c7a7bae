package tokenizer

// mergeHeap gives the same result as mergeScan in O(n log n) for long pieces
// (a run of thousands of letters without a space), where the scan would be
// quadratic. Symbols live in a doubly linked list; a heap of candidate merges
// is ordered by rank, then position, and stale candidates are skipped.
func (m *bpe) mergeHeap(syms []int32) []int32 {
	n := len(syms)
	prev := make([]int32, n)
	next := make([]int32, n)
	alive := make([]bool, n)
	for i := range syms {
		prev[i], next[i], alive[i] = int32(i-1), int32(i+1), true
	}
	next[n-1] = -1

	var h candHeap
	push := func(i int32) {
		j := next[i]
		if j < 0 {
			return
		}
		if mg, ok := m.merges[pairKey(syms[i], syms[j])]; ok {
			h.push(cand{rank: mg.rank, pos: i, left: syms[i], right: syms[j]})
		}
	}
	for i := 0; i+1 < n; i++ {
		push(int32(i))
	}
	for len(h) > 0 {
		c := h.pop()
		i := c.pos
		j := next[i]
		if !alive[i] || j < 0 || syms[i] != c.left || syms[j] != c.right {
			continue // stale: one side merged since this candidate was pushed
		}
		syms[i] = m.merges[pairKey(c.left, c.right)].id
		alive[j] = false
		next[i] = next[j]
		if k := next[j]; k >= 0 {
			prev[k] = i
		}
		if p := prev[i]; p >= 0 {
			push(p)
		}
		push(i)
	}
	out := syms[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

type cand struct {
	rank, pos   int32
	left, right int32
}

// candHeap is a min-heap of merge candidates by rank, then position.
type candHeap []cand

func (h candHeap) less(a, b int) bool {
	if h[a].rank != h[b].rank {
		return h[a].rank < h[b].rank
	}
	return h[a].pos < h[b].pos
}

func (h *candHeap) push(c cand) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *candHeap) pop() cand {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		if r := l + 1; r < len(s) && s.less(r, l) {
			l = r
		}
		if !s.less(l, i) {
			break
		}
		s[i], s[l] = s[l], s[i]
		i = l
	}
	*h = s
	return top
}
