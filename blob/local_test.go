package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

func TestSignerExpiry(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	sig := s.Sign("k", now.Unix()+60)
	cases := []struct {
		name    string
		key     string
		expires int64
		sig     string
		at      time.Time
		ok      bool
	}{
		{"valid", "k", now.Unix() + 60, sig, now, true},
		{"last second", "k", now.Unix() + 60, sig, now.Add(60 * time.Second), true},
		{"expired", "k", now.Unix() + 60, sig, now.Add(61 * time.Second), false},
		{"other key", "k2", now.Unix() + 60, sig, now, false},
		{"extended expiry", "k", now.Unix() + 3600, sig, now, false},
		{"empty sig", "k", now.Unix() + 60, "", now, false},
	}
	for _, c := range cases {
		s.now = func() time.Time { return c.at }
		err := s.Verify(c.key, c.expires, c.sig)
		if c.ok != (err == nil) {
			t.Errorf("%s: Verify = %v", c.name, err)
		}
		if err != nil && crucible.ErrorCode(err) != crucible.EUNAUTHORIZED {
			t.Errorf("%s: code %q", c.name, crucible.ErrorCode(err))
		}
	}
	if _, err := NewSigner([]byte("short")); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("short secret: %v", err)
	}
}

func TestLocalSpecifics(t *testing.T) {
	ctx := context.Background()
	signer, _ := NewSigner([]byte("0123456789abcdef"))
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	l, err := NewLocal(LocalConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/b/", Handler(l, signer, "/b/"))

	// A key cannot be both an object and a prefix directory.
	if _, err := l.Put(ctx, "a", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "a/b", strings.NewReader("x")); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Errorf("put under an object: %v", err)
	}
	if _, err := l.Put(ctx, "d/e", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "d", strings.NewReader("x")); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Errorf("put over a prefix: %v", err)
	}

	// A file changed behind the store's back gets its hash recomputed.
	if _, err := l.Put(ctx, "m", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.dataPath("m"), []byte("newer"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := l.Stat(ctx, "m")
	if err != nil || info.Size != 5 {
		t.Fatalf("stat after external change: %+v, %v", info, err)
	}
	if want := sha256Hex("newer"); info.SHA256 != want {
		t.Errorf("recomputed hash %s, want %s", info.SHA256, want)
	}

	// The handler serves ranges and HEAD, and refuses an expired link.
	if _, err := l.Put(ctx, "r/data", strings.NewReader("0123456789")); err != nil {
		t.Fatal(err)
	}
	u := signer.URL(srv.URL+"/b", "r/data", time.Minute)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=2-4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(body) != "234" || resp.Header.Get("ETag") != `"`+sha256Hex("0123456789")+`"` {
		t.Errorf("range GET: %d %q etag %s", resp.StatusCode, body, resp.Header.Get("ETag"))
	}
	resp, err = http.Head(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != 10 {
		t.Errorf("HEAD: %d length %d", resp.StatusCode, resp.ContentLength)
	}
	signer.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired link: status %d, want 401", resp.StatusCode)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
