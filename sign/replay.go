package sign

import (
	"bufio"
	"container/heap"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ReplayCache remembers the nonces it accepted until they can no longer be
// fresh, so that each nonce is accepted once. Memory is bounded by the number
// of nonces accepted within one freshness window (plus a hard cap), and only
// nonces of correctly signed requests from admitted callers are ever added.
//
// A cache opened on a file (OpenReplayCache) appends each nonce to it before
// the request goes on, and reads the unexpired ones back when it is opened
// again: a restart (even a kill -9) does not reopen the window for replays.
type ReplayCache struct {
	mu      sync.Mutex
	seenSet map[string]struct{}
	expiry  expiryHeap
	maxSize int

	file    *os.File // nil: in memory only
	path    string
	written int // lines in the file since it was last rewritten
}

// DefaultReplayCapacity is the most nonces a ReplayCache holds by default.
const DefaultReplayCapacity = 1 << 20

// NewReplayCache returns an empty in-memory cache holding at most capacity
// nonces (DefaultReplayCapacity when capacity ≤ 0).
func NewReplayCache(capacity int) *ReplayCache {
	if capacity <= 0 {
		capacity = DefaultReplayCapacity
	}
	return &ReplayCache{seenSet: map[string]struct{}{}, maxSize: capacity}
}

// OpenReplayCache returns a cache kept in the file at path (created when
// missing), holding the nonces recorded there that have not expired by
// now. Lines that cannot be read (a torn last line after a crash) are
// skipped. Close it when the node stops.
func OpenReplayCache(path string, capacity int) (*ReplayCache, error) {
	c := NewReplayCache(capacity)
	c.path = path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	now := time.Now()
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			at, key, ok := strings.Cut(sc.Text(), " ")
			ns, err := strconv.ParseInt(at, 10, 64)
			if !ok || err != nil || key == "" {
				continue
			}
			if exp := time.Unix(0, ns); exp.After(now) {
				if _, dup := c.seenSet[key]; !dup && len(c.seenSet) < c.maxSize {
					c.seenSet[key] = struct{}{}
					heap.Push(&c.expiry, expiryEntry{key: key, at: exp})
				}
			}
		}
		f.Close()
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	if err := c.rewrite(); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the cache's file, if any.
func (c *ReplayCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file == nil {
		return nil
	}
	err := c.file.Close()
	c.file = nil
	return err
}

// rewrite replaces the file with the live entries and reopens it for
// appending. Callers hold c.mu (or own c alone).
func (c *ReplayCache) rewrite() error {
	if c.path == "" {
		return nil
	}
	tmp := c.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, e := range c.expiry {
		fmt.Fprintf(w, "%d %s\n", e.at.UnixNano(), e.key)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("replay cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	if c.file != nil {
		c.file.Close()
	}
	c.file, err = os.OpenFile(c.path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	c.written = len(c.expiry)
	return nil
}

// Result of ReplayCache.add.
type replayResult int

const (
	replayFresh replayResult = iota
	replaySeen
	replayFull
)

// expire drops every entry that expired by now. Callers hold c.mu.
func (c *ReplayCache) expire(now time.Time) {
	for len(c.expiry) > 0 && !c.expiry[0].at.After(now) {
		e := heap.Pop(&c.expiry).(expiryEntry)
		delete(c.seenSet, e.key)
	}
}

// seen reports whether key is held (and not expired by now), without
// recording it.
func (c *ReplayCache) seen(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	_, ok := c.seenSet[key]
	return ok
}

// add records key until expires, first dropping every entry that expired by
// now. It reports whether key was already there, or the cache is full; the
// error is a failure to write the file (the key is then not recorded).
func (c *ReplayCache) add(key string, expires, now time.Time) (replayResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, ok := c.seenSet[key]; ok {
		return replaySeen, nil
	}
	if len(c.seenSet) >= c.maxSize {
		return replayFull, nil
	}
	if c.file != nil {
		if c.written > 1024 && c.written > 2*len(c.seenSet) {
			if err := c.rewrite(); err != nil {
				return replayFresh, err
			}
		}
		if _, err := fmt.Fprintf(c.file, "%d %s\n", expires.UnixNano(), key); err != nil {
			return replayFresh, fmt.Errorf("replay cache: %w", err)
		}
		c.written++
	}
	c.seenSet[key] = struct{}{}
	heap.Push(&c.expiry, expiryEntry{key: key, at: expires})
	return replayFresh, nil
}

// Len returns the number of nonces held.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seenSet)
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
