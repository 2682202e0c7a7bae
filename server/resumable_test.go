package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// flakyTransport breaks some requests to the upload endpoint: the first
// chunk's answer is lost after the server took it, the third chunk never
// arrives.
type flakyTransport struct {
	puts atomic.Int32
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPut {
		return http.DefaultTransport.RoundTrip(r)
	}
	switch f.puts.Add(1) {
	case 1:
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
		}
		return nil, errors.New("connection reset by peer")
	case 3:
		return nil, errors.New("network is unreachable")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A resumable upload through the client goes on where the server stands
// after lost answers and broken requests, and ends with the receipt a task
// can name.
func TestResumableUploadThroughClient(t *testing.T) {
	e := newEnv(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good, err := os.ReadFile("testdata/instruct.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	ft := &flakyTransport{}
	c := api.NewClient(e.ts.URL, e.customer)
	c.HTTP = &http.Client{Transport: ft}
	var started string
	up, err := c.UploadResumable(ctx, "instruct.jsonl", bytes.NewReader(good), int64(len(good)), api.ResumableOptions{
		ChunkSize: 1000, Poll: 5 * time.Millisecond, Started: func(id string) { started = id }})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != started || up.Rows == 0 || up.Size != int64(len(good)) || ft.puts.Load() < 9 {
		t.Fatalf("receipt %+v after %d chunks", up, ft.puts.Load())
	}
	if _, err := c.Estimate(ctx, api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref()}); err != nil {
		t.Fatalf("a task cannot name the upload: %v", err)
	}
	// A bad dataset is refused with its line.
	bad, _ := os.ReadFile("testdata/bad.jsonl")
	_, err = api.NewClient(e.ts.URL, e.customer).UploadResumable(ctx, "bad.jsonl", bytes.NewReader(bad), int64(len(bad)), api.ResumableOptions{Poll: 5 * time.Millisecond})
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "bad.jsonl:3:") {
		t.Fatalf("bad upload: %v", err)
	}
}

// The endpoints refuse another account's session, a missing offset, a
// chunk over the limit and a size over the limit, and a refusal changes
// nothing.
func TestResumableUploadAttacks(t *testing.T) {
	e := newEnv(t, Options{MaxUpload: 100, MaxResumable: 5000})
	var s api.UploadSession
	e.do(e.customer, "POST", api.PathUploads, api.BeginUpload{Name: "rows.jsonl", Size: 300}, http.StatusCreated, &s)
	path := api.PathUploads + "/" + s.ID
	status := func(key, method, path string, body io.Reader) int {
		resp := e.raw(key, method, path, body, nil)
		resp.Body.Close()
		return resp.StatusCode
	}
	// In order: the refusals come before the one good chunk, so that
	// each is refused for what it is (not for an offset the good chunk
	// moved), and the good chunk at offset 0 shows they stored nothing.
	for _, c := range []struct {
		name, key, method, path string
		body                    string
		unannounced             bool // sent without a Content-Length
		want                    int
	}{
		{"no key", "", "GET", path, "", false, http.StatusUnauthorized},
		{"another account", e.other, "GET", path, "", false, http.StatusNotFound},
		{"another's chunk", e.other, "PUT", path + "?offset=0", "xx", false, http.StatusNotFound},
		{"another's delete", e.other, "DELETE", path, "", false, http.StatusNotFound},
		{"no offset", e.customer, "PUT", path, "xx", false, http.StatusBadRequest},
		{"negative offset", e.customer, "PUT", path + "?offset=-1", "xx", false, http.StatusBadRequest},
		{"wrong offset", e.customer, "PUT", path + "?offset=5", "xx", false, http.StatusConflict},
		{"chunk too large", e.customer, "PUT", path + "?offset=0", strings.Repeat("x", 101), false, http.StatusRequestEntityTooLarge},
		{"chunk too large, length unannounced", e.customer, "PUT", path + "?offset=0", strings.Repeat("x", 101), true, http.StatusRequestEntityTooLarge},
		{"a good chunk", e.customer, "PUT", path + "?offset=0", strings.Repeat("x", 99), false, http.StatusOK},
		{"unknown session", e.customer, "GET", api.PathUploads + "/0123456789abcdef0123456789abcdef", "", false, http.StatusNotFound},
		{"traversal", e.customer, "GET", api.PathUploads + "/..%2f..%2fetc", "", false, http.StatusNotFound},
		{"over the size", e.customer, "POST", api.PathUploads, `{"name":"big.jsonl","size":5001}`, false, http.StatusRequestEntityTooLarge},
		{"not a dataset name", e.customer, "POST", api.PathUploads, `{"name":"x.exe","size":10}`, false, http.StatusBadRequest},
	} {
		var body io.Reader = strings.NewReader(c.body)
		if c.unannounced {
			body = io.MultiReader(body) // not a type NewRequest takes the length of
		}
		if got := status(c.key, c.method, c.path, body); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	// Only the one good chunk is in.
	e.do(e.customer, "GET", path, nil, http.StatusOK, &s)
	if s.Received != 99 || s.State != api.UploadReceiving {
		t.Fatalf("after the refusals: %+v", s)
	}
	e.do(e.customer, "DELETE", path, nil, http.StatusNoContent, nil)
	e.do(e.customer, "GET", path, nil, http.StatusNotFound, nil)
}
