// Package ratelimit keeps token buckets by key (an account, an address):
// each key may make a burst of requests at once and then a steady number a
// minute. Idle buckets are forgotten, so that callers who come once (or
// a flood of addresses) do not grow memory without bound.
//
// PerAddress limits every request a node serves by the caller's address
// (IPv4 address, IPv6 /64); the customer API limits accounts on top.
package ratelimit

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Limiter keeps one token bucket per key, each refilled at the rate its
// caller names. It is safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	burst   float64
	now     func() time.Time
	buckets map[string]*bucket
	takes   int
}

type bucket struct {
	tokens float64
	at     time.Time
	full   time.Time // when the bucket is full again if left alone
}

// New returns a limiter whose buckets hold at most burst tokens (and never
// more than a minute's worth); now is the clock (nil: time.Now).
func New(burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{burst: float64(max(burst, 1)), now: now, buckets: map[string]*bucket{}}
}

// Take takes a token from key's bucket, refilled at perMinute tokens a
// minute, and returns 0; or, when the bucket is empty, returns how long
// until a token is there (taking nothing).
func (l *Limiter) Take(key string, perMinute int) time.Duration {
	if perMinute <= 0 {
		perMinute = 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.takes++; l.takes%4096 == 0 {
		for k, b := range l.buckets {
			if now.After(b.full) {
				delete(l.buckets, k) // as good as new: forget it
			}
		}
	}
	rate := float64(perMinute) / 60
	capacity := math.Min(l.burst, float64(perMinute))
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: capacity, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(capacity, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	b.tokens--
	b.full = now.Add(time.Duration((capacity - b.tokens) / rate * float64(time.Second)))
	return 0
}

// Len returns the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Address is the key of a request's caller: its IP address, or the /64 of
// an IPv6 one (one host usually holds a whole /64).
func Address(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Refuse answers 429 with Retry-After for a wait, saying who is limited.
func Refuse(w http.ResponseWriter, wait time.Duration, who, hint string) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	api.WriteError(w, crucible.Errorf(crucible.ERATELIMITED, "too many requests from %s; retry in %d s", who, max(secs, 1)).WithHint(hint))
}

// PerAddress limits every request to h by the caller's address: perMinute
// a minute after a burst. Refusals are 429 with Retry-After; log (when not
// nil) is told of each refused address once a minute at most.
func PerAddress(h http.Handler, l *Limiter, perMinute int, log func(addr string)) http.Handler {
	var mu sync.Mutex
	told := map[string]time.Time{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := Address(r)
		if wait := l.Take("addr "+addr, perMinute); wait > 0 {
			if log != nil {
				mu.Lock()
				if now := time.Now(); now.Sub(told[addr]) > time.Minute {
					if len(told) > 10000 {
						clear(told)
					}
					told[addr] = now
					mu.Unlock()
					log(addr)
				} else {
					mu.Unlock()
				}
			}
			Refuse(w, wait, "address "+addr, fmt.Sprintf("an address may make %d requests a minute", perMinute))
			return
		}
		h.ServeHTTP(w, r)
	})
}
