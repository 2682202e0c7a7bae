package tokenizer

import (
	"strings"
	"sync"
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

// encodePiece appends the ids of one pre-tokenised piece to dst.
func (m *bpe) encodePiece(dst []int, piece string) []int {
	if piece == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.wholeVocab[piece]; ok {
			return append(dst, int(id))
		}
	}
	if m.byteLevel && len(piece) <= 2 {
		// One or two bytes: at most one merge, cheaper than the cache.
		a := m.byteIDs[piece[0]]
		if len(piece) == 1 {
			return append(dst, int(a))
		}
		b := m.byteIDs[piece[1]]
		if mg, ok := m.merges[pairKey(a, b)]; ok {
			return append(dst, int(mg.id))
		}
		return append(dst, int(a), int(b))
	}
	if ids, ok := m.cache.get(piece); ok {
		for _, id := range ids {
			dst = append(dst, int(id))
		}
		return dst
	}
	var buf [64]int32
	syms := m.symbols(buf[:0], piece)
	if len(syms) < 64 {
		syms = m.mergeScan(syms)
	} else {
		syms = m.mergeHeap(syms)
	}
	m.cache.put(piece, syms)
	for _, id := range syms {
		dst = append(dst, int(id))
	}
	return dst
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

// wordCache remembers the ids of recently seen pieces. It is sharded so that
// concurrent encoders rarely contend, and each shard is dropped whole when it
// fills up, which bounds memory without bookkeeping.
type wordCache struct {
	shards [cacheShards]cacheShard
}

const (
	cacheShards   = 16
	cacheShardMax = 4096
	cacheMaxPiece = 128 // longer pieces are rare and not worth keeping
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string][]int32
}

// shard picks a shard from the piece's length and end bytes: cheap, and
// spread enough for locking (the map hashes the whole piece anyway).
func (c *wordCache) shard(s string) *cacheShard {
	h := uint(len(s))*31 + uint(s[0])*7 + uint(s[len(s)-1])
	return &c.shards[h%cacheShards]
}

func (c *wordCache) get(s string) ([]int32, bool) {
	if len(s) > cacheMaxPiece {
		return nil, false
	}
	sh := c.shard(s)
	sh.mu.RLock()
	ids, ok := sh.m[s]
	sh.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(s string, ids []int32) {
	if len(s) > cacheMaxPiece {
		return
	}
	sh := c.shard(s)
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= cacheShardMax {
		sh.m = make(map[string][]int32, 256)
	}
	// Clone the key: s is a slice of the caller's text, which the cache
	// must not keep alive.
	sh.m[strings.Clone(s)] = append([]int32(nil), ids...)
	sh.mu.Unlock()
}
