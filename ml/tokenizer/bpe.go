package tokenizer

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// merge is the result of merging a pair of symbols: the merge's rank (its
// line in the merges list; lower merges first) and the id it produces.
type merge struct {
	rank, id int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpe is the BPE model: a vocabulary and ranked merges over token ids.
type bpe struct {
	// vocab maps each token, as tokenizer.json writes it, to its id.
	// wholeVocab is the map ignore_merges looks pieces up in: vocab itself,
	// or for byte-level models the same tokens as raw bytes.
	vocab, wholeVocab map[string]int32
	merges            map[uint64]merge

	byteLevel    bool       // symbols start as single bytes
	byteIDs      [256]int32 // byte-level: id of each byte; byte fallback: id of <0xNN>, or -1
	byteFallback bool
	unkID        int32 // -1 when the model has no unk token
	fuseUnk      bool
	ignoreMerges bool // a piece that is itself in the vocab is one token

	cache wordCache
}

// encodePiece appends the ids of one pre-tokenised piece to dst, looking
// in lc first when it is not nil.
func (m *bpe) encodePiece(dst []int32, piece string, lc *localCache) []int32 {
	if piece == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.wholeVocab[piece]; ok {
			return append(dst, id)
		}
	}
	if m.byteLevel && len(piece) <= 2 {
		// One or two bytes: at most one merge, cheaper than the cache.
		a := m.byteIDs[piece[0]]
		if len(piece) == 1 {
			return append(dst, a)
		}
		b := m.byteIDs[piece[1]]
		if mg, ok := m.merges[pairKey(a, b)]; ok {
			return append(dst, mg.id)
		}
		return append(dst, a, b)
	}
	var slot *localEntry
	if lc != nil && len(piece) <= localKeyMax {
		slot = lc.slot(piece)
		if int(slot.klen) == len(piece) && string(slot.key[:slot.klen]) == piece {
			return append(dst, slot.ids[:slot.n]...)
		}
	}
	ids, ok := m.cache.get(piece)
	if !ok {
		var buf [64]int32
		syms := m.symbols(buf[:0], piece)
		if len(syms) < 64 {
			syms = m.mergeScan(syms)
		} else {
			syms = m.mergeHeap(syms)
		}
		m.cache.put(piece, syms)
		ids = syms
	}
	if slot != nil && len(ids) <= localIDsMax {
		slot.klen = uint8(copy(slot.key[:], piece))
		slot.n = uint8(copy(slot.ids[:], ids))
	}
	return append(dst, ids...)
}

// localCache is the word cache of one encoder (see Tokenizer.Encoder):
// direct-mapped, not shared, with keys and ids inline, so that a hit reads
// one cache line and no lock or atomic. It holds short pieces with few
// ids, which are nearly all the pieces of natural text; the rest go to
// the shared cache. Its size is fixed: localSlots entries of 48 bytes.
type localCache struct {
	seed  maphash.Seed
	slots []localEntry
}

const (
	localSlots  = 1 << 15
	localKeyMax = 26
	localIDsMax = 5
)

type localEntry struct {
	klen, n uint8
	key     [localKeyMax]byte
	ids     [localIDsMax]int32
}

func newLocalCache() *localCache {
	return &localCache{seed: maphash.MakeSeed(), slots: make([]localEntry, localSlots)}
}

// slot returns the entry piece maps to (holding it or not).
func (c *localCache) slot(piece string) *localEntry {
	return &c.slots[maphash.String(c.seed, piece)&(localSlots-1)]
}

// symbols splits piece into its initial symbols: bytes for byte-level
// models; characters otherwise, falling back to <0xNN> byte tokens or unk
// for characters outside the vocabulary.
func (m *bpe) symbols(dst []int32, piece string) []int32 {
	if m.byteLevel {
		for i := 0; i < len(piece); i++ {
			dst = append(dst, m.byteIDs[piece[i]])
		}
		return dst
	}
	prevUnk := false
	for i := 0; i < len(piece); {
		_, w := utf8.DecodeRuneInString(piece[i:])
		ch := piece[i : i+w]
		i += w
		if id, ok := m.vocab[ch]; ok {
			dst = append(dst, id)
			prevUnk = false
			continue
		}
		if m.byteFallback && m.hasBytes(ch) {
			for k := 0; k < len(ch); k++ {
				dst = append(dst, m.byteIDs[ch[k]])
			}
			prevUnk = false
			continue
		}
		if m.unkID < 0 {
			continue // no unk token: the character is dropped, as in the reference
		}
		if !(m.fuseUnk && prevUnk) {
			dst = append(dst, m.unkID)
		}
		prevUnk = true
	}
	return dst
}

func (m *bpe) hasBytes(ch string) bool {
	for k := 0; k < len(ch); k++ {
		if m.byteIDs[ch[k]] < 0 {
			return false
		}
	}
	return true
}

// mergeScan applies merges lowest rank first, leftmost first among equal
// ranks, finding each with a linear scan: quick for the short pieces that
// make up nearly all text.
func (m *bpe) mergeScan(syms []int32) []int32 {
	for len(syms) > 1 {
		best, at := merge{rank: -1}, -1
		for i := 0; i+1 < len(syms); i++ {
			mg, ok := m.merges[pairKey(syms[i], syms[i+1])]
			if ok && (at < 0 || mg.rank < best.rank) {
				best, at = mg, i
			}
		}
		if at < 0 {
			break
		}
		syms[at] = best.id
		syms = append(syms[:at+1], syms[at+2:]...)
	}
	return syms
}

// wordCache remembers the ids of recently seen pieces. It is a two-way
// set-associative table of immutable entries published with atomic
// pointers: a lookup takes no lock and writes nothing, so encoders on
// every core share it without contending, and a miss replaces one of the
// two entries of its set, which bounds memory (cacheSlots entries) without
// bookkeeping. An entry is only used when its key equals the piece, so a
// hash collision costs a recomputation, never a wrong id.
type wordCache struct {
	table atomic.Pointer[cacheTable]
}

const (
	cacheSlots    = 1 << 16 // a power of two
	cacheMaxPiece = 128     // longer pieces are rare and not worth keeping
)

type cacheTable struct {
	seed  maphash.Seed
	slots [cacheSlots]atomic.Pointer[cacheEntry]
}

type cacheEntry struct {
	key string
	ids []int32
}

// tab returns the table, made on first use.
func (c *wordCache) tab() *cacheTable {
	if t := c.table.Load(); t != nil {
		return t
	}
	c.table.CompareAndSwap(nil, &cacheTable{seed: maphash.MakeSeed()})
	return c.table.Load()
}

func (c *wordCache) get(s string) ([]int32, bool) {
	if len(s) > cacheMaxPiece {
		return nil, false
	}
	t := c.tab()
	i := maphash.String(t.seed, s) & (cacheSlots - 1)
	if e := t.slots[i].Load(); e != nil && e.key == s {
		return e.ids, true
	}
	if e := t.slots[i^1].Load(); e != nil && e.key == s {
		return e.ids, true
	}
	return nil, false
}

func (c *wordCache) put(s string, ids []int32) {
	if len(s) > cacheMaxPiece {
		return
	}
	t := c.tab()
	h := maphash.String(t.seed, s)
	i := h & (cacheSlots - 1)
	// Fill the set's empty way first; when both are taken, a bit of the
	// hash above the index picks the one to replace.
	if t.slots[i].Load() != nil && (t.slots[i^1].Load() == nil || h&cacheSlots != 0) {
		i ^= 1
	}
	// The key is cloned: s is a slice of the caller's text, which the
	// cache must not keep alive.
	t.slots[i].Store(&cacheEntry{key: strings.Clone(s), ids: slices.Clone(ids)})
}
