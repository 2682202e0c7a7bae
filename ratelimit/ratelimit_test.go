package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(3, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if w := l.Take("a", 60); w != 0 {
			t.Fatalf("take %d: wait %s", i, w)
		}
	}
	if w := l.Take("a", 60); w != time.Second {
		t.Fatalf("empty bucket: wait %s, want 1s", w)
	}
	if w := l.Take("b", 60); w != 0 {
		t.Fatal("another key shares a's bucket")
	}
	now = now.Add(time.Second)
	if w := l.Take("a", 60); w != 0 {
		t.Fatalf("after a second: wait %s", w)
	}
	// Idle buckets are forgotten.
	now = now.Add(time.Hour)
	for i := 0; i < 5000; i++ {
		l.Take("c"+strconv.Itoa(i%2), 60)
	}
	if n := l.Len(); n > 3 {
		t.Fatalf("%d buckets held after the others went idle", n)
	}
}

func TestPerAddress(t *testing.T) {
	l := New(2, nil)
	h := PerAddress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), l, 2, nil)
	codes := map[string][]int{}
	for _, addr := range []string{"10.0.0.1:1", "10.0.0.1:2", "10.0.0.1:3", "[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8::3]:1", "[2001:db8:1::1]:1"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		codes[Address(r)] = append(codes[Address(r)], w.Code)
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	want := map[string][]int{"10.0.0.1": {200, 200, 429}, "2001:db8::/64": {200, 200, 429}, "2001:db8:1::/64": {200}}
	for k, w := range want {
		if got := codes[k]; len(got) != len(w) || got[len(got)-1] != w[len(w)-1] {
			t.Errorf("%s: %v, want %v", k, got, w)
		}
	}
}
