package attack_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/validatornode"
)

// hammer sends req() until it is refused with 429 (at most max times) and
// returns how many were answered before; a 429 must carry Retry-After.
func hammer(t *testing.T, what string, max int, req func() *http.Request) int {
	t.Helper()
	for i := 0; i < max; i++ {
		resp, err := http.DefaultClient.Do(req())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 429 without Retry-After", what)
			}
			return i
		}
	}
	t.Errorf("%s: %d requests, none refused", what, max)
	return max
}

// TestRateLimitsEveryRoute: every route of the validator is limited by
// the caller's address (the dashboard's pages, the public results log and
// the node protocol included), and the customer API and the dashboard by
// account: a key minted through the dashboard or the API brings no new
// allowance.
func TestRateLimitsEveryRoute(t *testing.T) {
	// The limits' clock stands still: no bucket refills during the test,
	// so what is refused depends on the requests counted, not on how fast
	// a busy machine sends them (at 600 a minute a token comes back every
	// 100 ms, and a slow page let the checks after the flood through).
	stopped := time.Now()
	n := startNet(t, []string{"lora-fast"}, func(c *validatornode.Config) { c.RatePerAddress, c.RatePerAccount = 600, 20 }, nil,
		func(c *localnet.Config) { c.RateClock = func() time.Time { return stopped } })
	base := n.Validator.URL()
	alice := newAccount(t, n, "alice")

	// By account: a second key, made before the first is spent, is
	// refused as soon as the first is.
	r := do(t, apiReq(t, alice, "POST", base+api.PathKeys, []byte(`{"name":"second"}`)))
	var second api.CreatedKey
	if r.status != http.StatusCreated || api.DecodeJSON(strings.NewReader(r.body), 1<<20, &second) != nil {
		t.Fatalf("second key: %d %s", r.status, r.body)
	}
	hammer(t, "alice's first key", 100, func() *http.Request { return apiReq(t, alice, "GET", base+api.PathTasks, nil) })
	expect(t, "alice's second key", do(t, apiReq(t, second.Secret, "GET", base+api.PathTasks, nil)), http.StatusTooManyRequests, "account alice")
	// Nor does one made through the dashboard (its form is limited too).
	form := url.Values{"name": {"third"}}
	dash, _ := http.NewRequest("POST", base+"/keys", strings.NewReader(form.Encode()))
	dash.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	dash.AddCookie(&http.Cookie{Name: "crucible_key", Value: alice})
	expect(t, "a key minted on the dashboard", do(t, dash), http.StatusTooManyRequests, "")
	// Another account is not affected.
	bob := newAccount(t, n, "bob")
	expect(t, "bob", do(t, apiReq(t, bob, "GET", base+api.PathTasks, nil)), http.StatusOK, "")

	// By address: the public dashboard, the results log and the node
	// protocol share the address's allowance.
	routes := []string{"/", "/v1/results", api.PathUpload + "0a1b2c3d/5e6f7a8b", "/login", api.PathNetwork}
	i := 0
	hammer(t, "anonymous requests from one address", 2000, func() *http.Request {
		i++
		req, _ := http.NewRequest("GET", base+routes[i%len(routes)], nil)
		return req
	})
	for _, p := range routes {
		req, _ := http.NewRequest("GET", base+p, nil)
		expect(t, "after the flood: "+p, do(t, req), http.StatusTooManyRequests, "address")
	}
}

// TestLoginRedirectStaysOnSite: after a login, next= goes only to a path on
// the validator's own site; every value a browser could read as another
// origin goes to the tasks page.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	n := startNet(t, []string{"lora-fast"}, nil, nil)
	key := newAccount(t, n, "carol")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(next string) string {
		form := url.Values{"key": {key}, "next": {next}}
		resp, err := client.PostForm(n.Validator.URL()+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login with next=%q: status %d", next, resp.StatusCode)
		}
		return resp.Header.Get("Location")
	}
	for _, evil := range []string{"//evil.example", "///evil.example", `/\evil.example`, `\\evil.example`, "/\t/evil.example",
		"/\n/evil.example", "/\r/evil.example", " //evil.example", "https://evil.example", "javascript:alert(1)",
		"/%2F/evil.example", "/%5Cevil.example", "http:/evil.example", "evil.example", "/\u00a0/evil.example", "/\x00/x"} {
		if got := login(evil); got != "/tasks" {
			t.Errorf("next=%q: redirected to %q", evil, got)
		}
	}
	for _, ok := range []string{"/tasks/0a1b2c3d", "/keys", "/tasks?status=training"} {
		if got := login(ok); got != ok {
			t.Errorf("next=%q: redirected to %q", ok, got)
		}
	}
}
