package chain

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

func newTestServer(t *testing.T, opts ServerOptions) (*Local, *httptest.Server) {
	t.Helper()
	l, err := OpenLocal(LocalOptions{Params: devParams()})
	must(t, err)
	srv := httptest.NewServer(NewHandler(l, opts))
	t.Cleanup(srv.Close)
	return l, srv
}

func TestServerWriteAuthorization(t *testing.T) {
	ctx := context.Background()
	l, srv := newTestServer(t, ServerOptions{Authenticate: testAuth})
	c := NewClient(srv.URL, testSign, srv.Client())
	_, err := c.Register(ctx, "alice", "alice-cold")
	must(t, err)

	// Signed by someone else than the hotkey it acts for.
	forged := NewClient(srv.URL, func(r *http.Request, _ string) error { return testSign(r, "mallory") }, srv.Client())
	for name, err := range map[string]error{
		"register":    func() error { _, err := forged.Register(ctx, "bob", "x"); return err }(),
		"serve_axon":  forged.ServeAxon(ctx, "alice", "10.0.0.1", 1),
		"set_weights": forged.SetWeights(ctx, "alice", []uint16{0}, []uint16{1}, 0),
		"add_stake":   forged.AddStake(ctx, "alice", 1),
	} {
		if crucible.ErrorCode(err) != crucible.EFORBIDDEN {
			t.Errorf("%s signed by another key: %v", name, err)
		}
	}
	// Unsigned writes are refused by the authenticator.
	unsigned := NewClient(srv.URL, func(*http.Request, string) error { return nil }, srv.Client())
	if _, err := unsigned.Register(ctx, "bob", "x"); crucible.ErrorCode(err) != crucible.EUNAUTHORIZED {
		t.Errorf("unsigned register: %v", err)
	}
	// The coldkey may stake to its hotkey.
	must(t, c.AddStakeAs(ctx, "alice-cold", "alice", 5))
	m, err := l.Metagraph(ctx)
	must(t, err)
	if m.Neurons[0].Stake != 5 {
		t.Fatalf("stake %v", m.Neurons[0].Stake)
	}
	// Reads need no signature.
	if _, err := unsigned.Metagraph(ctx); err != nil {
		t.Fatal(err)
	}
	// This server's clock is not for hand-moving.
	if err := c.Advance(ctx, 1); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Errorf("advance: %v", err)
	}
}

func TestServerWithoutAuthenticatorIsReadOnly(t *testing.T) {
	_, srv := newTestServer(t, ServerOptions{})
	c := NewClient(srv.URL, testSign, srv.Client())
	if _, err := c.Register(context.Background(), "alice", "x"); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Fatalf("register: %v", err)
	}
	if _, err := c.CurrentBlock(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestServerErrors(t *testing.T) {
	_, srv := newTestServer(t, ServerOptions{Authenticate: testAuth, AllowAdvance: true})
	post := func(path, body string, signer string) (int, ErrorResponse) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		if signer != "" {
			req.Header.Set("X-Test-Signer", signer)
		}
		resp, err := srv.Client().Do(req)
		must(t, err)
		defer resp.Body.Close()
		var e ErrorResponse
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	tests := []struct {
		path, body, signer string
		status             int
		code, name, msg    string
	}{
		{"/v1/register", `{"hotkey": `, "a", 400, crucible.EINVALID, "", "request body"},
		{"/v1/register", `{"hotkey": "a", "coldkey": "b"}`, "", 401, crucible.EUNAUTHORIZED, "", "not signed"},
		{"/v1/set_weights", `{"hotkey": "a", "uids": [0], "weights": [1]}`, "a", 404, crucible.ENOTFOUND, "HotKeyNotRegisteredInSubNet", "hotkey a"},
		{"/v1/advance", `{"blocks": -1}`, "", 400, crucible.EINVALID, "", "blocks"},
		{"/v1/nothing", `{}`, "", 404, crucible.ENOTFOUND, "", "no such endpoint"},
		{"/v1/register", strings.Repeat(" ", maxRequestBody+1), "a", 413, crucible.ETOOLARGE, "", "larger than"},
	}
	for _, tt := range tests {
		status, e := post(tt.path, tt.body, tt.signer)
		if status != tt.status || e.Code != tt.code || e.Name != tt.name || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("POST %s %.20q: %d %+v, want %d %s %s %q", tt.path, tt.body, status, e, tt.status, tt.code, tt.name, tt.msg)
		}
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := NewClient(url, testSign, nil)
	_, err := c.Metagraph(context.Background())
	if err == nil || !strings.Contains(crucible.ErrorHint(err), "crucible chain") {
		t.Fatalf("err = %v (hint %q)", err, crucible.ErrorHint(err))
	}
	// A reply that is not the chain's JSON is reported with its status.
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer srv2.Close()
	_, err = NewClient(srv2.URL, testSign, nil).CurrentBlock(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientWaitBlock(t *testing.T) {
	ctx := context.Background()
	l, srv := newTestServer(t, ServerOptions{Authenticate: testAuth})
	c := NewClient(srv.URL, testSign, srv.Client())
	var _ BlockWaiter = c
	var _ BlockWaiter = l
	done := make(chan error, 1)
	go func() { done <- c.WaitBlock(ctx, 2) }()
	must(t, l.Advance(ctx, 2))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	must(t, c.WaitBlock(ctx, 1)) // already there
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- c.WaitBlock(cctx, 100) }()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("WaitBlock ignored cancellation")
	}
	resp, err := srv.Client().Get(srv.URL + "/v1/block?wait=soon")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("bad wait: %d", resp.StatusCode)
	}
}
