package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/crucible"
)

// stores returns a Local store always and, when CRUCIBLE_TEST_S3_URL is
// set, an S3 store opened as a node opens it (blob.Open with
// s3://bucket/prefix and the AWS environment variables), each fresh for the
// test.
func stores(t *testing.T) map[string]blob.Store {
	out := map[string]blob.Store{"local": newLocal(t)}
	if u := os.Getenv("CRUCIBLE_TEST_S3_URL"); u != "" {
		out["s3"] = newS3(t, u)
	}
	return out
}

var testSigner, _ = blob.NewSigner([]byte("0123456789abcdef-test-secret"))

func newLocal(t *testing.T) blob.Store {
	s, err := blob.Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// S3Env returns the AWS environment variables that point blob.Open at CI's
// S3 server.
func s3Env(endpoint string) func(string) string {
	env := map[string]string{"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": os.Getenv("CRUCIBLE_TEST_S3_ACCESS_KEY"),
		"AWS_SECRET_ACCESS_KEY": os.Getenv("CRUCIBLE_TEST_S3_SECRET_KEY")}
	return func(k string) string { return env[k] }
}

// newS3 creates a new bucket and returns a store under a prefix in it; the
// bucket is emptied and removed afterwards.
func newS3(t *testing.T, endpoint string) blob.Store {
	var b [4]byte
	_, _ = rand.Read(b[:])
	bucket := os.Getenv("CRUCIBLE_TEST_S3_BUCKET") + "-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	admin, err := blob.NewS3(ctx, blob.S3Config{
		Endpoint: endpoint, AccessKey: os.Getenv("CRUCIBLE_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("CRUCIBLE_TEST_S3_SECRET_KEY"), Bucket: bucket, CreateBucket: true, TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		objs, _ := admin.List(ctx, "")
		for _, o := range objs {
			_ = admin.Delete(ctx, o.Key)
		}
		if err := admin.Client().RemoveBucket(ctx, bucket); err != nil {
			t.Errorf("remove bucket %s: %v", bucket, err)
		}
	})
	s, err := blob.Open(ctx, "s3://"+bucket+"/crucible/test", s3Env(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func forEachStore(t *testing.T, fn func(t *testing.T, s blob.Store)) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) { fn(t, s) })
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := crucible.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readAll(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutGetStat(t *testing.T) {
	forEachStore(t, func(t *testing.T, s blob.Store) {
		ctx := context.Background()
		for _, c := range []struct {
			key  string
			data []byte
		}{
			{"empty", nil},
			{"tasks/t1/train.jsonl", []byte(`{"q":"a","a":"b"}` + "\n")},
			{"models/m 1/model.safetensors", randomBytes(3<<20 + 17)},
			{"ünïcode/ключ.bin", []byte("x")},
		} {
			info, err := s.Put(ctx, c.key, bytes.NewReader(c.data))
			if err != nil {
				t.Fatalf("put %s: %v", c.key, err)
			}
			if info.Key != c.key || info.Size != int64(len(c.data)) || info.SHA256 != sha(c.data) {
				t.Errorf("put %s: info %+v, want size %d sha %s", c.key, info, len(c.data), sha(c.data))
			}
			st, err := s.Stat(ctx, c.key)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size != info.Size || st.SHA256 != info.SHA256 || st.ModTime.IsZero() {
				t.Errorf("stat %s = %+v, put said %+v", c.key, st, info)
			}
			if got := readAll(t, s, c.key); !bytes.Equal(got, c.data) {
				t.Errorf("get %s: %d bytes differ from the %d put", c.key, len(got), len(c.data))
			}
		}
		// Overwrite replaces content and hash.
		if _, err := s.Put(ctx, "empty", strings.NewReader("now full")); err != nil {
			t.Fatal(err)
		}
		st, err := s.Stat(ctx, "empty")
		if err != nil || st.SHA256 != sha([]byte("now full")) || string(readAll(t, s, "empty")) != "now full" {
			t.Errorf("after overwrite: %+v, %v", st, err)
		}
		_, err = s.Get(ctx, "missing")
		wantCode(t, err, crucible.ENOTFOUND)
		_, err = s.Stat(ctx, "tasks/missing")
		wantCode(t, err, crucible.ENOTFOUND)
		_, err = s.Stat(ctx, "tasks") // a prefix of objects is not an object
		wantCode(t, err, crucible.ENOTFOUND)
	})
}

func TestPutCancelled(t *testing.T) {
	forEachStore(t, func(t *testing.T, s blob.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Put(ctx, "c/x", bytes.NewReader(randomBytes(1<<20))); !errors.Is(err, context.Canceled) {
			t.Fatalf("put with a cancelled context: %v", err)
		}
		_, err := s.Stat(context.Background(), "c/x")
		wantCode(t, err, crucible.ENOTFOUND)
		// A reader that fails leaves no object either.
		_, err = s.Put(context.Background(), "c/y", io.MultiReader(strings.NewReader("part"), errReader{}))
		if err == nil {
			t.Fatal("put from a failing reader succeeded")
		}
		_, err = s.Stat(context.Background(), "c/y")
		wantCode(t, err, crucible.ENOTFOUND)
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestDeleteAndList(t *testing.T) {
	forEachStore(t, func(t *testing.T, s blob.Store) {
		ctx := context.Background()
		keys := []string{"a/1", "a/2/x", "a/2/y", "ab", "b", "a-z"}
		for _, k := range keys {
			if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
				t.Fatal(err)
			}
		}
		list := func(prefix string) []string {
			infos, err := s.List(ctx, prefix)
			if err != nil {
				t.Fatalf("list %q: %v", prefix, err)
			}
			var out []string
			for _, i := range infos {
				if i.Size != int64(len(i.Key)) {
					t.Errorf("list: %s has size %d", i.Key, i.Size)
				}
				out = append(out, i.Key)
			}
			return out
		}
		cases := map[string][]string{
			"":      {"a-z", "a/1", "a/2/x", "a/2/y", "ab", "b"},
			"a/":    {"a/1", "a/2/x", "a/2/y"},
			"a":     {"a-z", "a/1", "a/2/x", "a/2/y", "ab"},
			"a/2/":  {"a/2/x", "a/2/y"},
			"a/2/x": {"a/2/x"},
			"c/":    nil,
			"zz":    nil,
		}
		for prefix, want := range cases {
			if got := list(prefix); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("list %q = %v, want %v", prefix, got, want)
			}
		}
		for _, k := range []string{"a/2/x", "a/2/y", "missing", "a/2/x"} {
			if err := s.Delete(ctx, k); err != nil {
				t.Fatalf("delete %s: %v", k, err)
			}
		}
		if got := list("a/"); strings.Join(got, ",") != "a/1" {
			t.Errorf("after delete: %v", got)
		}
		_, err := s.Get(ctx, "a/2/x")
		wantCode(t, err, crucible.ENOTFOUND)
	})
}

func TestInvalidKeys(t *testing.T) {
	bad := []string{"", "/abs", "a/../b", "..", "./a", "a//b", "a/", `a\b`, "a\x00b", "a\nb", strings.Repeat("k", 1025), "\xff"}
	forEachStore(t, func(t *testing.T, s blob.Store) {
		ctx := context.Background()
		for _, k := range bad {
			_, err := s.Put(ctx, k, strings.NewReader("x"))
			wantCode(t, err, crucible.EINVALID)
			_, err = s.Get(ctx, k)
			wantCode(t, err, crucible.EINVALID)
			_, err = s.Stat(ctx, k)
			wantCode(t, err, crucible.EINVALID)
			wantCode(t, s.Delete(ctx, k), crucible.EINVALID)
		}
	})
	for _, k := range []string{"a", "a/b.c", "tasks/7f/train.jsonl", "..a/b..", "a b/c"} {
		if err := blob.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v", k, err)
		}
	}
}

func httpGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestLinks serves signed download links over each store with Handler:
// a valid link gets the object, a link for another key, a tampered or an
// expired one gets 401.
func TestLinks(t *testing.T) {
	forEachStore(t, func(t *testing.T, s blob.Store) {
		ctx := context.Background()
		data := randomBytes(100_000)
		if _, err := s.Put(ctx, "tasks/t 1/train.jsonl", bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(blob.Handler(s, testSigner, "/blobs/"))
		defer srv.Close()
		u := testSigner.URL(srv.URL+"/blobs", "tasks/t 1/train.jsonl", time.Hour)
		code, body := httpGet(t, u)
		if code != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("GET signed URL: status %d, %d bytes", code, len(body))
		}
		tampered := strings.Replace(u, "train.jsonl", "test.jsonl", 1)
		if code, _ := httpGet(t, tampered); code != http.StatusUnauthorized {
			t.Errorf("GET with another key: status %d, want 401", code)
		}
		i := strings.LastIndex(u, "=") + 1
		flipped := u[:i] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", u[i])+1)%16]) + u[i+1:]
		if code, _ := httpGet(t, flipped); code != http.StatusUnauthorized {
			t.Errorf("GET with a tampered signature: status %d, want 401", code)
		}
		expired := testSigner.URLUntil(srv.URL+"/blobs", "tasks/t 1/train.jsonl", time.Now().Add(-time.Minute))
		if code, _ := httpGet(t, expired); code != http.StatusUnauthorized {
			t.Errorf("GET with an expired link: status %d, want 401", code)
		}
		missing := testSigner.URL(srv.URL+"/blobs", "tasks/none", time.Hour)
		if code, _ := httpGet(t, missing); code != http.StatusNotFound {
			t.Errorf("GET of a missing object: status %d, want 404", code)
		}
	})
}

func TestOpenSpecs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		spec string
		env  map[string]string
		code string
	}{
		{"ftp://x", nil, crucible.EINVALID},
		{"s3://", nil, crucible.EINVALID},
		{"s3://bucket/p", nil, crucible.EINVALID}, // no credentials
		{"s3://bucket/..", map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, crucible.EINVALID},
		{"s3://bucket", map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_ENDPOINT_URL": "not a url"}, crucible.EINVALID},
	} {
		env := tc.env
		_, err := blob.Open(ctx, tc.spec, func(k string) string { return env[k] })
		if crucible.ErrorCode(err) != tc.code {
			t.Errorf("Open(%q): %v, want %s", tc.spec, err, tc.code)
		}
	}
}
