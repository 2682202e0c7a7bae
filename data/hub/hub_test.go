package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

// fakeHub imitates the parts of the Hugging Face hub API crucible uses:
// revision info with blobs, and resolve downloads with Range support.
type fakeHub struct {
	t      *testing.T
	files  map[string][]byte // path -> content served
	listed map[string][]byte // path -> content the listing describes (differs for a corrupt file)
	lfs    map[string]bool
	// cutOnce: path whose first download is cut after half the bytes.
	cutOnce string
	mu      sync.Mutex
	ranges  []string // Range headers seen, per request
	auth    string
	// ignoreRange serves whole files with 200 even to Range requests, as
	// some mirrors do; wantToken refuses requests without this token.
	ignoreRange bool
	wantToken   string
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.auth = r.Header.Get("Authorization")
	h.mu.Unlock()
	if h.wantToken != "" && h.auth != "Bearer "+h.wantToken {
		http.Error(w, "Access to model org/tiny is restricted.", http.StatusUnauthorized)
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/models/org/tiny/revision/"), strings.HasPrefix(r.URL.Path, "/api/datasets/org/data/revision/"):
		rev := strings.TrimPrefix(r.URL.Path[strings.Index(r.URL.Path, "/revision/"):], "/revision/")
		if rev != "main" && rev != commit {
			http.Error(w, "Revision Not Found", http.StatusNotFound)
			return
		}
		var sib []map[string]any
		for p, content := range h.listed {
			s := map[string]any{"rfilename": p, "size": len(content)}
			sum := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(content))), content...))
			s["blobId"] = hex.EncodeToString(sum[:])
			if h.lfs[p] {
				sh := sha256.Sum256(content)
				s["lfs"] = map[string]any{"sha256": hex.EncodeToString(sh[:]), "size": len(content)}
			}
			sib = append(sib, s)
		}
		json.NewEncoder(w).Encode(map[string]any{"id": "org/tiny", "sha": commit, "siblings": sib})
	case strings.Contains(r.URL.Path, "/resolve/"+commit+"/"):
		p := r.URL.Path[strings.Index(r.URL.Path, "/resolve/")+len("/resolve/"+commit+"/"):]
		content, ok := h.files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.mu.Lock()
		h.ranges = append(h.ranges, p+" "+r.Header.Get("Range"))
		cut := h.cutOnce == p
		if cut {
			h.cutOnce = ""
		}
		h.mu.Unlock()
		if cut {
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.WriteHeader(http.StatusOK)
			w.Write(content[:len(content)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // drop the connection mid-body
		}
		if h.ignoreRange {
			w.Write(content)
			return
		}
		http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(content))
	default:
		http.NotFound(w, r)
	}
}

func newHub(t *testing.T) (*fakeHub, *Client) {
	weights := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	files := map[string][]byte{
		"config.json":        []byte(`{"model_type":"llama"}`),
		"model.safetensors":  weights,
		"sub/tokenizer.json": []byte(`{"version":"1.0"}`),
	}
	h := &fakeHub{t: t, files: files, listed: files, lfs: map[string]bool{"model.safetensors": true}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, &Client{Endpoint: srv.URL, Token: "secret", HTTP: srv.Client(), Cache: Cache{Dir: t.TempDir()}}
}

func TestDownloadIntoCacheLayout(t *testing.T) {
	h, c := newHub(t)
	ref, _ := ParseRef("org/tiny")
	dir, err := c.Download(context.Background(), Model, ref)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.Cache.Dir, "models--org--tiny", "snapshots", commit); dir != want {
		t.Errorf("dir %s, want %s", dir, want)
	}
	for p, content := range h.files {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s: %v", p, err)
		}
		target, err := os.Readlink(filepath.Join(dir, p))
		if err != nil || !strings.HasPrefix(target, "../") || !strings.Contains(target, "blobs/") {
			t.Errorf("%s is not a relative link into blobs: %q %v", p, target, err)
		}
	}
	sh := sha256.Sum256(h.files["model.safetensors"])
	if _, err := os.Stat(filepath.Join(c.Cache.Dir, "models--org--tiny", "blobs", hex.EncodeToString(sh[:]))); err != nil {
		t.Errorf("LFS blob not named by its sha256: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(c.Cache.Dir, "models--org--tiny", "refs", "main")); string(b) != commit {
		t.Errorf("refs/main = %q", b)
	}
	if h.auth != "Bearer secret" {
		t.Errorf("authorization %q", h.auth)
	}
	// A second download finds everything in the cache.
	n := len(h.ranges)
	if _, err := c.Download(context.Background(), Model, ref); err != nil || len(h.ranges) != n {
		t.Errorf("second download fetched again (%d requests) or failed: %v", len(h.ranges)-n, err)
	}
	// And the resolver finds it offline, by branch and by commit.
	res := Resolver{Cache: c.Cache, Kind: Model}
	for _, r := range []string{"org/tiny", "org/tiny@main", "org/tiny@" + commit} {
		if got, err := res.Resolve(r); err != nil || got != dir {
			t.Errorf("Resolve(%s) = %s, %v", r, got, err)
		}
	}
}

func TestDownloadResumesInterrupted(t *testing.T) {
	for _, retries := range []int{0, 1} {
		t.Run(fmt.Sprint("retries=", retries), func(t *testing.T) {
			h, c := newHub(t)
			c.Retries = retries
			h.cutOnce = "model.safetensors"
			ref, _ := ParseRef("org/tiny")
			_, err := c.Download(context.Background(), Model, ref, "*.safetensors")
			if retries == 0 {
				if err == nil || !strings.Contains(err.Error(), "interrupted") {
					t.Fatalf("cut download: %v", err)
				}
				sh := sha256.Sum256(h.files["model.safetensors"])
				part := filepath.Join(c.Cache.Dir, "models--org--tiny", "blobs", hex.EncodeToString(sh[:])+".incomplete")
				if st, err := os.Stat(part); err != nil || st.Size() != int64(len(h.files["model.safetensors"])/2) {
					t.Fatalf("partial file: %v", err)
				}
				_, err = c.Download(context.Background(), Model, ref, "*.safetensors")
			}
			if err != nil {
				t.Fatal(err)
			}
			half := len(h.files["model.safetensors"]) / 2
			want := []string{"model.safetensors ", fmt.Sprintf("model.safetensors bytes=%d-", half)}
			if fmt.Sprint(h.ranges) != fmt.Sprint(want) {
				t.Errorf("requests %q, want %q", h.ranges, want)
			}
			got, err := os.ReadFile(filepath.Join(c.Cache.Dir, "models--org--tiny", "snapshots", commit, "model.safetensors"))
			if err != nil || !bytes.Equal(got, h.files["model.safetensors"]) {
				t.Errorf("resumed file differs: %v", err)
			}
			if _, err := os.Stat(filepath.Join(c.Cache.Dir, "models--org--tiny", "snapshots", commit, "config.json")); err == nil {
				t.Error("include filter ignored")
			}
		})
	}
}

func TestDownloadRejectsCorrupt(t *testing.T) {
	for _, name := range []string{"model.safetensors", "config.json"} { // sha256 and git blob id
		t.Run(name, func(t *testing.T) {
			h, c := newHub(t)
			served := map[string][]byte{}
			for k, v := range h.files {
				served[k] = v
			}
			bad := append([]byte(nil), served[name]...)
			bad[len(bad)-1] ^= 1
			served[name] = bad
			h.files = served
			ref, _ := ParseRef("org/tiny")
			_, err := c.Download(context.Background(), Model, ref, name)
			if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
				t.Fatalf("corrupt download: %v", err)
			}
			blobs, _ := os.ReadDir(filepath.Join(c.Cache.Dir, "models--org--tiny", "blobs"))
			if len(blobs) != 0 {
				t.Errorf("corrupt data left in the cache: %v", blobs)
			}
			if _, err := os.Stat(filepath.Join(c.Cache.Dir, "models--org--tiny", "snapshots", commit, name)); err == nil {
				t.Error("corrupt file linked into the snapshot")
			}
		})
	}
}

func TestDatasetDownloadAndErrors(t *testing.T) {
	_, c := newHub(t)
	ref, _ := ParseRef("org/data")
	dir, err := c.Download(context.Background(), Dataset, ref, "config.json")
	if err != nil || !strings.Contains(dir, "datasets--org--data") {
		t.Fatalf("dataset: %s %v", dir, err)
	}
	missing, _ := ParseRef("org/tiny@v9")
	if _, err := c.Download(context.Background(), Model, missing); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Errorf("unknown revision: %v", err)
	}
}

func TestResolveOffline(t *testing.T) {
	cache := Cache{Dir: t.TempDir()}
	// A cache laid out by hand, as an operator would copy one in.
	snap := filepath.Join(cache.Dir, "models--org--m", "snapshots", commit)
	os.MkdirAll(snap, 0o755)
	os.MkdirAll(filepath.Join(cache.Dir, "models--org--m", "refs"), 0o755)
	os.WriteFile(filepath.Join(cache.Dir, "models--org--m", "refs", "main"), []byte(commit+"\n"), 0o644)
	local := t.TempDir()
	res := Resolver{Cache: cache, Kind: Model}
	tests := []struct {
		ref, want, code, hint string
	}{
		{ref: "org/m", want: snap},
		{ref: local, want: local},
		{ref: "org/other", code: crucible.ENOTFOUND, hint: "crucible data pull org/other@main"},
		{ref: "org/m@dev", code: crucible.ENOTFOUND, hint: filepath.Join(cache.Dir, "models--org--m", "snapshots", "<commit>")},
		{ref: "./no/such/dir", code: crucible.ENOTFOUND},
		{ref: "bad id!", code: crucible.EINVALID},
	}
	for _, tt := range tests {
		got, err := res.Resolve(tt.ref)
		if tt.code != "" {
			if crucible.ErrorCode(err) != tt.code || !strings.Contains(crucible.ErrorHint(err), tt.hint) {
				t.Errorf("Resolve(%q): %v (hint %q)", tt.ref, err, crucible.ErrorHint(err))
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %s, %v", tt.ref, got, err)
		}
	}
	// A file name is a missing file, even without a directory part, not a
	// repository absent from the cache.
	for _, ref := range []string{"train.jsonl", "org/prefs.PARQUET", "data.csv@main"} {
		_, err := Resolver{Cache: cache, Kind: Dataset}.Resolve(ref)
		if crucible.ErrorCode(err) != crucible.ENOTFOUND || !strings.Contains(err.Error(), "does not exist") || crucible.ErrorHint(err) != "" {
			t.Errorf("Resolve(%q): %v (hint %q), want a missing path", ref, err, crucible.ErrorHint(err))
		}
	}
	ds := Resolver{Cache: cache, Kind: Dataset}
	if _, err := ds.Resolve("org/d"); !strings.Contains(crucible.ErrorHint(err), "crucible data pull --dataset org/d@main") {
		t.Errorf("dataset hint: %v", crucible.ErrorHint(err))
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", "/x/hf")
	if got := DefaultCacheDir(); got != "/x/hf/hub" {
		t.Errorf("HF_HOME: %s", got)
	}
	t.Setenv("HF_HUB_CACHE", "/y")
	if got := DefaultCacheDir(); got != "/y" {
		t.Errorf("HF_HUB_CACHE: %s", got)
	}
}

func TestDownloadRestartsWhenRangeIgnored(t *testing.T) {
	h, c := newHub(t)
	h.cutOnce = "model.safetensors"
	ref, _ := ParseRef("org/tiny")
	if _, err := c.Download(context.Background(), Model, ref, "*.safetensors"); err == nil {
		t.Fatal("cut download succeeded")
	}
	h.ignoreRange = true
	dir, err := c.Download(context.Background(), Model, ref, "*.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil || !bytes.Equal(got, h.files["model.safetensors"]) {
		t.Errorf("restarted file differs: %v", err)
	}
	if len(h.ranges) != 2 || !strings.HasSuffix(h.ranges[1], "-") {
		t.Errorf("requests %q", h.ranges)
	}
}

func TestDownloadUnauthorized(t *testing.T) {
	h, c := newHub(t)
	h.wantToken = "right"
	ref, _ := ParseRef("org/tiny")
	_, err := c.Download(context.Background(), Model, ref)
	if crucible.ErrorCode(err) != crucible.EUNAUTHORIZED || !strings.Contains(crucible.ErrorHint(err), "HF_TOKEN") {
		t.Errorf("wrong token: %v (hint %q)", err, crucible.ErrorHint(err))
	}
	c.Token = "right"
	if _, err := c.Download(context.Background(), Model, ref, "config.json"); err != nil {
		t.Errorf("right token: %v", err)
	}
}
