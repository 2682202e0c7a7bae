package sign

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bodies above MemoryBody are spooled to a temporary file that the handler
// reads like any body and that is gone once the handler returns; a client
// can sign such a body from its hash without holding it in memory.
func TestLargeBodies(t *testing.T) {
	miner, _ := FromURI("//Charlie")
	alice, _ := FromURI("//Alice")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var got []byte
	var spooled []os.DirEntry
	srv := httptest.NewServer(Verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		spooled, _ = os.ReadDir(tmp)
		if r.ContentLength != int64(len(got)) {
			t.Errorf("ContentLength %d, body %d", r.ContentLength, len(got))
		}
	}), Options{Hotkey: miner.Address(), MemoryBody: 100, MaxBody: 1 << 20}))
	defer srv.Close()

	// Streamed from a file, signed by hash.
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
	if resp.StatusCode != 200 || !bytes.Equal(got, payload) {
		t.Fatalf("status %d, handler read %d bytes, want %d", resp.StatusCode, len(got), len(payload))
	}
	if len(spooled) != 1 || !strings.HasPrefix(spooled[0].Name(), "crucible-body-") {
		t.Fatalf("while handling, temp dir held %v, want one spooled body", spooled)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("spooled body left behind: %v", left)
	}

	// Over MaxBody while spooling: 413, nothing left behind.
	big := bytes.Repeat([]byte("x"), (1<<20)+10)
	req, _ = http.NewRequest("PUT", srv.URL, bytes.NewReader(big))
	must(t, SignRequest(req, alice, miner.Address(), time.Now()))
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("spooled body left behind: %v", left)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
