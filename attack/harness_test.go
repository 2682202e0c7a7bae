package attack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/sign"
)

// net is a running network for one test: the validator, its miners, the
// directories they keep state in.
type testNet struct {
	*localnet.Net
	dir string
}

// startNet runs a validator and len(miners) miners on the tiny model until
// the test ends.
func startNet(t *testing.T, miners []string, validator func(*validatornode.Config), miner func(*minernode.Config), more ...func(*localnet.Config)) *testNet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if _, err := localnet.TinyModel(models, "tiny"); err != nil {
		t.Fatal(err)
	}
	cfg := localnet.Config{Dir: dir, Models: models, Miners: miners,
		Validator: func(c *validatornode.Config) {
			c.TestCap, c.OfferTimeout, c.Poll = 50, 10*time.Second, 500*time.Millisecond
			if validator != nil {
				validator(c)
			}
		},
		Miner: func(_ int, c *minernode.Config) {
			c.UploadMargin = 2 * time.Second
			if miner != nil {
				miner(c)
			}
		},
	}
	if os.Getenv("CRUCIBLE_TEST_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	for _, f := range more {
		f(&cfg)
	}
	n, err := localnet.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := n.Wait(); err != nil {
			t.Errorf("network stopped with: %v", err)
		}
	})
	if err := n.Validator.SyncMetagraph(ctx); err != nil {
		t.Fatal(err)
	}
	return &testNet{Net: n, dir: dir}
}

// reply is an HTTP answer: its status and its error body, if any.
type reply struct {
	status int
	body   string
}

// code is the error code of a refusal ("" for a success).
func (r reply) code() string {
	var e api.ErrorResponse
	if r.status < 400 || api.DecodeJSON(strings.NewReader(r.body), 1<<20, &e) != nil {
		return ""
	}
	return e.Code
}

// do sends req and reads the whole answer.
func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return reply{resp.StatusCode, string(b)}
}

// signedReq builds a request signed by k for target.
func signedReq(t *testing.T, k *sign.Keypair, target, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := sign.SignRequest(req, k, target, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// expect fails the test unless r is a refusal with the given status, whose
// message names want (when set).
func expect(t *testing.T, what string, r reply, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (%s)", what, r.status, status, strings.TrimSpace(r.body))
		return
	}
	if want != "" && !strings.Contains(r.body, want) {
		t.Errorf("%s: the refusal %q does not say %q", what, strings.TrimSpace(r.body), want)
	}
}

// tree is a directory's content: every path below it with a hash of what it
// holds (files) or "dir".
type tree map[string]string

// snapshot records dir's tree.
func snapshot(t *testing.T, dir string) tree {
	t.Helper()
	out := tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// unchanged fails the test when dir's tree differs from before, listing
// what was added, removed or changed; ignore skips paths (such as a
// database that records every request) by prefix. The nodes' nonce files
// (which record each admitted signed request) are always skipped.
func unchanged(t *testing.T, what string, before tree, dir string, ignore ...string) {
	t.Helper()
	after := snapshot(t, dir)
	var diffs []string
	skip := func(p string) bool {
		if filepath.Base(p) == "nonces" {
			return true
		}
		for _, pre := range ignore {
			if strings.HasPrefix(p, pre) {
				return true
			}
		}
		return false
	}
	for p, h := range after {
		if b, ok := before[p]; !skip(p) && (!ok || b != h) {
			diffs = append(diffs, "+"+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !skip(p) && !ok {
			diffs = append(diffs, "-"+p)
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("%s changed %s: %s", what, dir, strings.Join(diffs, " "))
	}
}

// apiReq builds a customer API request with an API key ("" for none).
func apiReq(t *testing.T, key, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// newAccount has the admin create an account and returns its key's
// secret.
func newAccount(t *testing.T, n *testNet, name string) string {
	t.Helper()
	body := []byte(`{"account_name":"` + name + `"}`)
	r := do(t, apiReq(t, n.Validator.AdminKey(), "POST", n.Validator.URL()+api.PathKeys, body))
	if r.status != http.StatusCreated {
		t.Fatalf("create account %s: %d %s", name, r.status, r.body)
	}
	var k api.CreatedKey
	if err := api.DecodeJSON(strings.NewReader(r.body), 1<<20, &k); err != nil {
		t.Fatal(err)
	}
	return k.Secret
}
