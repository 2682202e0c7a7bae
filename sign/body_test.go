package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// A streamed body reaches the handler as it arrives and is checked at its
// end; a client signs a large body from its hash without holding it in
// memory.
func TestStreamedBodies(t *testing.T) {
	miner, _ := FromURI("//Charlie")
	alice, _ := FromURI("//Alice")
	var got []byte
	var readErr error
	srv := httptest.NewServer(Verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, readErr = io.ReadAll(r.Body)
		if readErr != nil {
			http.Error(w, readErr.Error(), http.StatusUnauthorized)
		}
	}), Options{Hotkey: miner.Address(), Stream: true, MaxBody: 1 << 20}))
	defer srv.Close()

	payload := bytes.Repeat([]byte("weights!"), 4096) // 32 KiB
	path := filepath.Join(t.TempDir(), "model.safetensors")
	must(t, os.WriteFile(path, payload, 0o600))
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	req, _ := http.NewRequest("PUT", srv.URL, f)
	req.ContentLength = int64(len(payload))
	must(t, SignRequestHash(req, alice, miner.Address(), sha256.Sum256(payload), time.Now()))
	c := &http.Client{Transport: &Transport{Signer: alice, Target: miner.Address()}} // passes it through
	resp, err := c.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, payload) || readErr != nil {
		t.Fatalf("status %d, handler read %d bytes (%v), want %d", resp.StatusCode, len(got), readErr, len(payload))
	}

	// Signed for one body, sent with another of the same length: the
	// handler's read fails at the end, as unauthorized.
	other := bytes.Repeat([]byte("WEIGHTS!"), 4096)
	req, _ = http.NewRequest("PUT", srv.URL, bytes.NewReader(other))
	must(t, SignRequestHash(req, alice, miner.Address(), sha256.Sum256(payload), time.Now()))
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if crucible.ErrorCode(readErr) != crucible.EUNAUTHORIZED || !strings.Contains(readErr.Error(), "does not match") {
		t.Fatalf("swapped body: handler's read ended with %v", readErr)
	}

	// Over MaxBody: 413 before the handler runs when the length is
	// announced; mid-stream when it is not.
	big := bytes.Repeat([]byte("x"), (1<<20)+10)
	req, _ = http.NewRequest("PUT", srv.URL, bytes.NewReader(big))
	must(t, SignRequest(req, alice, miner.Address(), time.Now()))
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	got, readErr = nil, nil
	req, _ = http.NewRequest("PUT", srv.URL, io.MultiReader(bytes.NewReader(big))) // chunked: no length
	req.ContentLength = -1
	must(t, SignRequestHash(req, alice, miner.Address(), sha256.Sum256(big), time.Now()))
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if crucible.ErrorCode(readErr) != crucible.ETOOLARGE {
		t.Fatalf("unannounced oversized body: handler's read ended with %v", readErr)
	}
}

// bomb is a body that must never be read.
type bomb struct{ t *testing.T }

func (b bomb) Read([]byte) (int, error) {
	b.t.Error("the body of a refused request was read")
	return 0, errors.New("read")
}

// A caller that is not admitted is refused from the headers: not one byte
// of its body is read, and its nonce is not recorded, so a flood of
// refused requests neither fills the replay cache nor locks out honest
// callers.
func TestRefusedBeforeBody(t *testing.T) {
	miner, _ := FromURI("//Charlie")
	alice, _ := FromURI("//Alice")
	mallory, _ := FromURI("//Mallory")
	replay := NewReplayCache(3)
	v := NewVerifier(Options{Hotkey: miner.Address(), Replay: replay, Authorize: func(_ context.Context, hk string) error {
		if hk != alice.Address() {
			return crucible.Errorf(crucible.EFORBIDDEN, "%s may not call", hk)
		}
		return nil
	}})
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	body := []byte(`{"task_id":"x"}`)
	for i := 0; i < 10; i++ {
		req := httptest.NewRequest("POST", "/", nil)
		must(t, SignRequestHash(req, mallory, miner.Address(), sha256.Sum256(body), time.Now()))
		req.Body, req.ContentLength = io.NopCloser(bomb{t}), int64(len(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusForbidden {
			t.Fatalf("refused caller: %d %s", w.Code, w.Body)
		}
	}
	// Unsigned and body without its hash header: refused unread too.
	req := httptest.NewRequest("POST", "/", nil)
	req.Body, req.ContentLength = io.NopCloser(bomb{t}), 20<<30
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("unsigned 20 GiB PUT: %d", w.Code)
	}
	if replay.Len() != 0 {
		t.Fatalf("refused callers left %d nonces", replay.Len())
	}
	for i := 0; i < 3; i++ {
		req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		must(t, SignRequest(req, alice, miner.Address(), time.Now()))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("honest caller after the flood: %d %s", w.Code, w.Body)
		}
	}
}

// Nonces kept in a file are refused again after the cache is reopened (a
// restart); expired ones and a torn last line are dropped.
func TestReplayCacheSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nonces")
	c, err := OpenReplayCache(path, 0)
	must(t, err)
	now := time.Now()
	for _, k := range []string{"a 1_x", "b 2_y"} {
		if r, err := c.add(k, now.Add(time.Minute), now); err != nil || r != replayFresh {
			t.Fatalf("add %s: %v %v", k, r, err)
		}
	}
	if r, _ := c.add("old 3_z", now.Add(-time.Second), now.Add(-time.Minute)); r != replayFresh {
		t.Fatal("old not fresh")
	}
	// No Close: a process killed with -9 closes nothing. Add a torn line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	f.WriteString("12345")
	f.Close()
	c2, err := OpenReplayCache(path, 0)
	must(t, err)
	defer c2.Close()
	if !c2.seen("a 1_x", now) || !c2.seen("b 2_y", now) {
		t.Fatal("nonces forgotten across a restart")
	}
	if c2.seen("old 3_z", now) || c2.Len() != 2 {
		t.Fatalf("expired nonce kept: len %d", c2.Len())
	}
	// The rewritten file holds the live entries only, and keeps working.
	if r, err := c2.add("c 4_w", now.Add(time.Minute), now); err != nil || r != replayFresh {
		t.Fatal(r, err)
	}
	c3, err := OpenReplayCache(path, 0)
	must(t, err)
	defer c3.Close()
	if c3.Len() != 3 {
		t.Fatalf("after a second reopen: %d nonces, want 3", c3.Len())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
