package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// testNet is a miner (Charlie) guarded by Verify, with a metagraph in which
// Alice is a validator with 2000 TAO, Bob a validator with 10 TAO, and Dave is
// not registered.
type testNet struct {
	miner, alice, bob, dave *Keypair
	srv                     *httptest.Server
	now                     time.Time
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	n := &testNet{now: time.Unix(1_800_000_000, 0)}
	for uri, kp := range map[string]**Keypair{"//Charlie": &n.miner, "//Alice": &n.alice, "//Bob": &n.bob, "//Dave": &n.dave} {
		k, err := FromURI(uri)
		if err != nil {
			t.Fatal(err)
		}
		*kp = k
	}
	nodes := map[string]*crucible.Node{
		n.alice.Address(): {Hotkey: n.alice.Address(), Stake: 2000},
		n.bob.Address():   {Hotkey: n.bob.Address(), Stake: 10},
	}
	lookup := func(_ context.Context, hk string) (*crucible.Node, error) {
		if nd, ok := nodes[hk]; ok {
			return nd, nil
		}
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no node %s", hk)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := Caller(r.Context())
		body, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(map[string]string{"caller": caller, "body": string(body), "method": r.Method})
	})
	n.srv = httptest.NewServer(Verify(h, Options{
		Hotkey:    n.miner.Address(),
		Authorize: MinStake(lookup, 1000),
		Now:       func() time.Time { return n.now },
		MaxBody:   1 << 10,
	}))
	t.Cleanup(n.srv.Close)
	return n
}

// client returns a client that signs as signer for target, at the net's
// clock shifted by skew, sending through base (nil: the default transport).
func (n *testNet) client(signer Signer, target string, skew time.Duration, base http.RoundTripper) *http.Client {
	return &http.Client{Transport: &Transport{
		Signer: signer, Target: target, Base: base,
		Now: func() time.Time { return n.now.Add(skew) },
	}}
}

type reply struct {
	status int
	body   map[string]string
}

func do(t *testing.T, c *http.Client, method, url, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: status %d, body not JSON: %v", method, url, resp.StatusCode, err)
	}
	return reply{resp.StatusCode, m}
}

// tamper changes the body after it was signed.
type tamper struct{}

func (tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	b = bytes.Replace(b, []byte("1"), []byte("9"), 1)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return http.DefaultTransport.RoundTrip(r)
}

// forge signs with one key but claims another's address.
type forge struct {
	key   *Keypair
	claim string
}

func (f forge) Address() string                 { return f.claim }
func (f forge) Sign(msg []byte) ([]byte, error) { return f.key.Sign(msg) }

func TestVerify(t *testing.T) {
	n := newTestNet(t)
	url := n.srv.URL + "/task"
	tests := []struct {
		name     string
		client   *http.Client
		method   string
		body     string
		status   int
		code     string
		contains string
	}{
		{"good POST", n.client(n.alice, n.miner.Address(), 0, nil), "POST", `{"task":1}`, 200, "", ""},
		{"good GET", n.client(n.alice, n.miner.Address(), 0, nil), "GET", "", 200, "", ""},
		{"clock 119s behind", n.client(n.alice, n.miner.Address(), -119*time.Second, nil), "POST", `{}`, 200, "", ""},
		{"clock 119s ahead", n.client(n.alice, n.miner.Address(), 119*time.Second, nil), "POST", `{}`, 200, "", ""},
		{"tampered body", n.client(n.alice, n.miner.Address(), 0, tamper{}), "POST", `{"task":1}`, 401, crucible.EUNAUTHORIZED, "bad signature"},
		{"wrong key", n.client(forge{n.dave, n.alice.Address()}, n.miner.Address(), 0, nil), "POST", `{}`, 401, crucible.EUNAUTHORIZED, "bad signature"},
		{"stale nonce", n.client(n.alice, n.miner.Address(), -121*time.Second, nil), "POST", `{}`, 401, crucible.EUNAUTHORIZED, "stale"},
		{"nonce from the future", n.client(n.alice, n.miner.Address(), 121*time.Second, nil), "GET", "", 401, crucible.EUNAUTHORIZED, "stale"},
		{"meant for another node", n.client(n.alice, n.bob.Address(), 0, nil), "POST", `{}`, 401, crucible.EUNAUTHORIZED, "signed for"},
		{"unregistered", n.client(n.dave, n.miner.Address(), 0, nil), "POST", `{}`, 403, crucible.EFORBIDDEN, "not registered"},
		{"low stake", n.client(n.bob, n.miner.Address(), 0, nil), "GET", "", 403, crucible.EFORBIDDEN, "below the minimum"},
		{"unsigned", http.DefaultClient, "GET", "", 401, crucible.EUNAUTHORIZED, "not signed"},
		{"body too large", n.client(n.alice, n.miner.Address(), 0, nil), "POST", strings.Repeat("x", 2<<10), 413, crucible.ETOOLARGE, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.client, tt.method, url, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d (%v)", r.status, tt.status, r.body)
			}
			if tt.status == 200 {
				if r.body["caller"] != n.alice.Address() || r.body["body"] != tt.body || r.body["method"] != tt.method {
					t.Fatalf("handler saw %v", r.body)
				}
				return
			}
			if r.body["code"] != tt.code || !strings.Contains(r.body["message"], tt.contains) {
				t.Fatalf("refusal %v, want code %s and a message with %q", r.body, tt.code, tt.contains)
			}
		})
	}
}

// record keeps the last request it sent so that the test can send it again.
type record struct{ last *http.Request }

func (rc *record) RoundTrip(r *http.Request) (*http.Response, error) {
	rc.last = r.Clone(r.Context())
	b, _ := io.ReadAll(r.Body)
	rc.last.Body = io.NopCloser(bytes.NewReader(b))
	r.Body = io.NopCloser(bytes.NewReader(b))
	return http.DefaultTransport.RoundTrip(r)
}

func TestVerifyRejectsReplay(t *testing.T) {
	n := newTestNet(t)
	rec := &record{}
	c := n.client(n.alice, n.miner.Address(), 0, rec)
	if r := do(t, c, "POST", n.srv.URL+"/x", `{"a":1}`); r.status != 200 {
		t.Fatalf("first request: %d %v", r.status, r.body)
	}
	replayed := rec.last
	resp, err := http.DefaultTransport.RoundTrip(replayed)
	if err != nil {
		t.Fatal(err)
	}
	var body ErrorBody
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(body.Message, "already used") {
		t.Fatalf("replay: %d %+v", resp.StatusCode, body)
	}
	// A fresh nonce on the same content goes through.
	if r := do(t, c, "POST", n.srv.URL+"/x", `{"a":1}`); r.status != 200 {
		t.Fatalf("second signed request: %d %v", r.status, r.body)
	}
}

func TestReplayCacheExpires(t *testing.T) {
	c := NewReplayCache(2)
	t0 := time.Unix(1000, 0)
	add := func(key string, exp, now time.Time) replayResult {
		t.Helper()
		r, err := c.add(key, exp, now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if add("a", t0.Add(time.Minute), t0) != replayFresh {
		t.Fatal("a not fresh")
	}
	if add("a", t0.Add(time.Minute), t0.Add(time.Second)) != replaySeen {
		t.Fatal("a not seen")
	}
	if add("b", t0.Add(2*time.Minute), t0) != replayFresh {
		t.Fatal("b not fresh")
	}
	if add("c", t0.Add(2*time.Minute), t0) != replayFull {
		t.Fatal("cache over capacity")
	}
	// After a's expiry it is forgotten and there is room again.
	if add("c", t0.Add(3*time.Minute), t0.Add(time.Minute)) != replayFresh {
		t.Fatal("c not fresh after a expired")
	}
	if c.Len() != 2 {
		t.Fatalf("len %d", c.Len())
	}
}

func TestTransportWithTarget(t *testing.T) {
	n := newTestNet(t)
	c := NewClient(n.alice, "")
	// No target anywhere: refused before sending.
	req, _ := http.NewRequest("GET", n.srv.URL, nil)
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "no target") {
		t.Fatalf("err = %v", err)
	}
	c.Transport.(*Transport).Now = func() time.Time { return n.now }
	req, _ = http.NewRequestWithContext(WithTarget(context.Background(), n.miner.Address()), "GET", n.srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestNonce(t *testing.T) {
	now := time.Unix(1_700_000_000, 123)
	a, b := NewNonce(now), NewNonce(now)
	if a == b {
		t.Fatal("two nonces are equal")
	}
	ts, err := nonceTime(a)
	if err != nil || !ts.Equal(now) {
		t.Fatalf("nonceTime(%q) = %v, %v", a, ts, err)
	}
	if !strings.HasPrefix(a, "1700000000000000123_") || len(a) != len("1700000000000000123_")+10 {
		t.Fatalf("nonce %q", a)
	}
	for _, bad := range []string{"", "123", "abc_def", "-5_x", "123_", strings.Repeat("1", 200) + "_x"} {
		if _, err := nonceTime(bad); err == nil {
			t.Errorf("nonceTime(%q) accepted", bad)
		}
	}
}

// The signed message is fiber's: nonce, target and the hex SHA-256 of the
// body, colon separated; an empty body hashes to e3b0c442….
func TestMessage(t *testing.T) {
	got := string(Message("1_a", "5Miner", nil))
	want := "1_a:5Miner:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got != want {
		t.Fatalf("Message = %s, want %s", got, want)
	}
}
