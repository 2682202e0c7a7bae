package hub_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/data/hub/hubtest"
)

// modelDir writes a small model directory: two regular files and two large
// ones (LFS on the test hub).
func modelDir(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# a model\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "model.safetensors"), bytes.Repeat([]byte("weights!"), 4096), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "tokenizer.json"), bytes.Repeat([]byte("t"), 3000), 0o644)
	return dir
}

// TestPushAndPull pushes a directory to the local hub (repository created,
// small files in the commit, large ones through LFS) and pulls it back
// with the download client: the same bytes.
func TestPushAndPull(t *testing.T) {
	h := hubtest.New(t, "hf_write_token_123")
	dir := modelDir(t)
	c := &hub.Client{Endpoint: h.URL, Token: h.Token, Cache: hub.Cache{Dir: t.TempDir()}}
	res, err := c.Push(context.Background(), hub.Model, "alice/tuned", dir, hub.PushOptions{Private: true, Message: "crucible task 1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 4 || len(res.Uploaded) != 2 || res.Commit == "" || !h.Private("alice/tuned") {
		t.Fatalf("push: %+v", res)
	}
	snap, err := c.Download(context.Background(), hub.Model, hub.Ref{Repo: "alice/tuned", Rev: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "README.md", "model.safetensors", "sub/tokenizer.json"} {
		want, _ := os.ReadFile(filepath.Join(dir, f))
		got, err := os.ReadFile(filepath.Join(snap, f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s pulled back differs (%v)", f, err)
		}
	}
	// Pushing again (a new commit to the existing repository) sends no
	// large file twice.
	res, err = c.Push(context.Background(), hub.Model, "alice/tuned", dir, hub.PushOptions{})
	if err != nil || len(res.Uploaded) != 0 || len(res.Reused) != 2 {
		t.Fatalf("second push: %v %+v", err, res)
	}
	for _, line := range h.Requests() {
		if strings.Contains(line, h.Token) {
			t.Errorf("the token appears in a request line: %s", line)
		}
	}
}

// TestPushResumes breaks the connection during a large file's upload: the
// push fails, and running it again sends only what the hub still lacks.
func TestPushResumes(t *testing.T) {
	h := hubtest.New(t, "hf_write_token_123")
	dir := modelDir(t)
	c := &hub.Client{Endpoint: h.URL, Token: h.Token}
	h.BreakUploads(1)
	if _, err := c.Push(context.Background(), hub.Model, "alice/tuned", dir, hub.PushOptions{}); err == nil {
		t.Fatal("a push whose upload broke off succeeded")
	}
	if _, ok := h.File("alice/tuned", "config.json"); ok {
		t.Fatal("a broken push committed files")
	}
	res, err := c.Push(context.Background(), hub.Model, "alice/tuned", dir, hub.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Uploads() != 2 || len(res.Uploaded)+len(res.Reused) != 2 {
		t.Errorf("resumed push: %d uploads in all, %+v", h.Uploads(), res)
	}
	if b, ok := h.File("alice/tuned", "model.safetensors"); !ok || len(b) != 8*4096 {
		t.Error("model.safetensors is not on the hub after the resumed push")
	}
}

// TestPushRefusals: no token, a wrong token (whose value no error repeats),
// a repository id that is not ORG/NAME.
func TestPushRefusals(t *testing.T) {
	h := hubtest.New(t, "hf_write_token_123")
	dir := modelDir(t)
	ctx := context.Background()
	_, err := (&hub.Client{Endpoint: h.URL}).Push(ctx, hub.Model, "alice/x", dir, hub.PushOptions{})
	if crucible.ErrorCode(err) != crucible.EUNAUTHORIZED || !strings.Contains(crucible.ErrorHint(err), "HF_TOKEN") {
		t.Errorf("no token: %v", err)
	}
	_, err = (&hub.Client{Endpoint: h.URL, Token: "hf_secret_wrong_456"}).Push(ctx, hub.Model, "alice/x", dir, hub.PushOptions{})
	if crucible.ErrorCode(err) != crucible.EUNAUTHORIZED || strings.Contains(err.Error()+crucible.ErrorHint(err), "hf_secret_wrong_456") {
		t.Errorf("wrong token: %v", err)
	}
	for _, repo := range []string{"tuned", "a/b/c", "../x", "a/b@main", ""} {
		if _, err := (&hub.Client{Endpoint: h.URL, Token: h.Token}).Push(ctx, hub.Model, repo, dir, hub.PushOptions{}); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("repository %q: %v", repo, err)
		}
	}
}
