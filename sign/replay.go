package sign

import (
	"container/heap"
	"sync"
	"time"
)

// ReplayCache remembers the nonces it accepted until they can no longer be
// fresh, so that each nonce is accepted once. Memory is bounded by the number
// of nonces accepted within one freshness window (plus a hard cap), and only
// nonces of correctly signed requests are ever added.
type ReplayCache struct {
	mu      sync.Mutex
	seen    map[string]struct{}
	expiry  expiryHeap
	maxSize int
}

// DefaultReplayCapacity is the most nonces a ReplayCache holds by default.
const DefaultReplayCapacity = 1 << 20

// NewReplayCache returns an empty cache holding at most capacity nonces
// (DefaultReplayCapacity when capacity ≤ 0).
func NewReplayCache(capacity int) *ReplayCache {
	if capacity <= 0 {
		capacity = DefaultReplayCapacity
	}
	return &ReplayCache{seen: map[string]struct{}{}, maxSize: capacity}
}

// Result of ReplayCache.Add.
type replayResult int

const (
	replayFresh replayResult = iota
	replaySeen
	replayFull
)

// add records key until expires, first dropping every entry that expired by
// now. It reports whether key was already there, or the cache is full.
func (c *ReplayCache) add(key string, expires, now time.Time) replayResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.expiry) > 0 && !c.expiry[0].at.After(now) {
		e := heap.Pop(&c.expiry).(expiryEntry)
		delete(c.seen, e.key)
	}
	if _, ok := c.seen[key]; ok {
		return replaySeen
	}
	if len(c.seen) >= c.maxSize {
		return replayFull
	}
	c.seen[key] = struct{}{}
	heap.Push(&c.expiry, expiryEntry{key: key, at: expires})
	return replayFresh
}

// Len returns the number of nonces held.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

type expiryEntry struct {
	key string
	at  time.Time
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
