package tokenizer

import "sort"

// trainWord is a distinct piece of the training text as its current symbols.
type trainWord struct {
	syms  []int32
	count int
}

// learnMerges runs BPE training on the piece counts: up to budget merges,
// each new token appended to *tokens. It keeps pair counts up to date as
// merges change words, and finds the most frequent pair with a lazy max-heap
// (an entry whose count is stale is re-pushed with the current one).
func learnMerges(counts map[string]int, budget int, tokens *[]string) [][2]int {
	pieces := make([]string, 0, len(counts))
	for p := range counts {
		pieces = append(pieces, p)
	}
	sort.Strings(pieces) // determinism
	words := make([]trainWord, len(pieces))
	pairCount := map[uint64]int{}
	where := map[uint64][]int32{}
	for i, p := range pieces {
		syms := make([]int32, len(p))
		for k := 0; k < len(p); k++ {
			syms[k] = int32(p[k])
		}
		words[i] = trainWord{syms: syms, count: counts[p]}
		for k := 0; k+1 < len(syms); k++ {
			key := pairKey(syms[k], syms[k+1])
			pairCount[key] += words[i].count
			where[key] = append(where[key], int32(i))
		}
	}
	h := &pairHeap{}
	for key, c := range pairCount {
		h.push(pairEntry{key, c})
	}
	byString := map[string]int{}
	for id, tok := range *tokens {
		byString[tok] = id
	}
	var merges [][2]int
	added := 0
	for added < budget && h.len() > 0 {
		top := h.pop()
		cur := pairCount[top.key]
		if cur != top.count {
			if cur > 0 {
				h.push(pairEntry{top.key, cur})
			}
			continue
		}
		if cur <= 0 {
			continue
		}
		a, b := int32(top.key>>32), int32(uint32(top.key))
		merged := (*tokens)[a] + (*tokens)[b]
		id, exists := byString[merged]
		if !exists {
			id = len(*tokens)
			*tokens = append(*tokens, merged)
			byString[merged] = id
			added++
		}
		merges = append(merges, [2]int{int(a), int(b)})
		touched := map[uint64]bool{}
		for _, wi := range where[top.key] {
			w := &words[wi]
			if !hasPair(w.syms, a, b) {
				continue // stale entry: an earlier merge changed the word
			}
			for k := 0; k+1 < len(w.syms); k++ {
				pairCount[pairKey(w.syms[k], w.syms[k+1])] -= w.count
			}
			w.syms = mergePair(w.syms, a, b, int32(id))
			for k := 0; k+1 < len(w.syms); k++ {
				key := pairKey(w.syms[k], w.syms[k+1])
				pairCount[key] += w.count
				if w.syms[k] == int32(id) || w.syms[k+1] == int32(id) {
					where[key] = append(where[key], wi)
				}
				touched[key] = true
			}
		}
		delete(where, top.key)
		for key := range touched {
			if c := pairCount[key]; c > 0 {
				h.push(pairEntry{key, c})
			}
		}
	}
	return merges
}

func hasPair(syms []int32, a, b int32) bool {
	for k := 0; k+1 < len(syms); k++ {
		if syms[k] == a && syms[k+1] == b {
			return true
		}
	}
	return false
}

// mergePair replaces each non-overlapping (a, b), left to right, with id.
func mergePair(syms []int32, a, b, id int32) []int32 {
	out := syms[:0]
	for k := 0; k < len(syms); k++ {
		if k+1 < len(syms) && syms[k] == a && syms[k+1] == b {
			out = append(out, id)
			k++
			continue
		}
		out = append(out, syms[k])
	}
	return out
}

type pairEntry struct {
	key   uint64
	count int
}

// pairHeap is a max-heap by count; among equal counts the smaller pair key
// (left id, then right id) comes first.
type pairHeap struct{ s []pairEntry }

func (h *pairHeap) len() int { return len(h.s) }

func (h *pairHeap) less(i, j int) bool {
	if h.s[i].count != h.s[j].count {
		return h.s[i].count > h.s[j].count
	}
	return h.s[i].key < h.s[j].key
}

func (h *pairHeap) push(e pairEntry) {
	h.s = append(h.s, e)
	for i := len(h.s) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.s[i], h.s[p] = h.s[p], h.s[i]
		i = p
	}
}

func (h *pairHeap) pop() pairEntry {
	top := h.s[0]
	last := len(h.s) - 1
	h.s[0] = h.s[last]
	h.s = h.s[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(h.s) {
			break
		}
		if r := l + 1; r < len(h.s) && h.less(r, l) {
			l = r
		}
		if !h.less(l, i) {
			break
		}
		h.s[i], h.s[l] = h.s[l], h.s[i]
		i = l
	}
	return top
}
