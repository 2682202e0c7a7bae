package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/mr-tron/base58"
)

// caller is the authenticated account behind a request.
type caller struct {
	account *crucible.Account
	key     *crucible.APIKey
}

func (c *caller) admin() bool { return c != nil && c.account.Admin }

// canSee reports whether the caller may see t: public tasks are visible to
// everyone, private ones to their account and admins.
func (c *caller) canSee(t *crucible.Task) bool {
	if !t.Private {
		return true
	}
	return c != nil && (c.account.Admin || c.account.ID == t.AccountID)
}

// canChange reports whether the caller may cancel t.
func (c *caller) canChange(t *crucible.Task) bool {
	return c != nil && (c.account.Admin || c.account.ID == t.AccountID)
}

// keyPrefix starts every API key secret, so that a leaked one is easy to
// recognise (and to scan for).
const keyPrefix = "crk_"

// cookieName is the dashboard's login cookie.
const cookieName = "crucible_key"

// newSecret returns a new API key secret: keyPrefix and 32 random bytes in
// base58.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return keyPrefix + base58.Encode(b[:])
}

// bearer returns the API key of an "Authorization: Bearer KEY" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if k, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	return ""
}

// authenticate finds the account of the request's API key. Returns
// EUNAUTHORIZED for a missing, unknown or revoked key or a disabled account.
func (s *Server) authenticate(r *http.Request) (*caller, error) {
	secret := bearer(r)
	if secret == "" {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "an API key is required").
			WithHint(`send "Authorization: Bearer KEY"; an admin creates keys with: crucible apikeys create`)
	}
	return s.lookupKey(r.Context(), secret)
}

// lookupKey finds the account of an API key secret.
func (s *Server) lookupKey(ctx context.Context, secret string) (*caller, error) {
	k, err := s.b.FindAPIKeyByHash(ctx, crucible.HashAPIKey(secret))
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "unknown API key").
			WithHint("check the key (--key, CRUCIBLE_API_KEY or the saved one) and the validator (--server); the validator prints an admin key on its first start, and an admin creates keys with: crucible apikeys create")
	}
	if err != nil {
		return nil, err
	}
	if k.Revoked() {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "API key %s… was revoked", k.Prefix)
	}
	a, err := s.b.FindAccount(ctx, k.AccountID)
	if err != nil {
		return nil, err
	}
	if a.Disabled {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "account %s is disabled", a.Name)
	}
	return &caller{account: a, key: k}, nil
}

// allow takes a token from the caller's bucket, answering 429 with
// Retry-After when there is none.
func (s *Server) allow(w http.ResponseWriter, c *caller) bool {
	rate := s.opt.RatePerMinute
	if c.key.RateLimit > 0 {
		rate = c.key.RateLimit
	}
	wait := s.limiter.take(c.key.ID, rate)
	if wait <= 0 {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	api.WriteError(w, crucible.Errorf(crucible.ERATELIMITED, "too many requests with API key %s…; retry in %d s", c.key.Prefix, secs).
		WithHint(fmt.Sprintf("this key may make %d requests a minute, %d at once", rate, min(s.opt.Burst, rate))))
	return false
}

// limiter keeps one token bucket per API key, each at its key's own rate.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, now func() time.Time) *limiter {
	return &limiter{burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take takes one token from key's bucket, refilled at perMinute tokens a
// minute and holding at most min(burst, perMinute), and returns 0, or
// returns how long until a token is there.
func (l *limiter) take(key string, perMinute int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	rate := float64(perMinute) / 60
	capacity := math.Min(l.burst, float64(perMinute))
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: capacity, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(capacity, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// newKey creates an API key for account and returns it with its secret.
func newKey(ctx context.Context, accounts crucible.AccountService, accountID, name string, rate int) (*crucible.APIKey, string, error) {
	secret := newSecret()
	k := &crucible.APIKey{AccountID: accountID, Name: name, Prefix: secret[:len(keyPrefix)+6], Hash: crucible.HashAPIKey(secret), RateLimit: rate}
	if err := accounts.CreateAPIKey(ctx, k); err != nil {
		return nil, "", fmt.Errorf("create API key: %w", err)
	}
	return k, secret, nil
}

// Bootstrap makes sure an admin can log in: when no admin account exists it
// creates one, named "admin", with an API key, and returns the key's secret
// (to be shown once) and created true. Otherwise it returns "", false.
func Bootstrap(ctx context.Context, accounts crucible.AccountService) (secret string, created bool, err error) {
	all, err := accounts.FindAccounts(ctx)
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	for _, a := range all {
		if a.Admin && !a.Disabled {
			return "", false, nil
		}
	}
	a := &crucible.Account{Name: "admin", Admin: true}
	if err := accounts.CreateAccount(ctx, a); err != nil {
		return "", false, fmt.Errorf("bootstrap: create admin account: %w", err)
	}
	_, secret, err = newKey(ctx, accounts, a.ID, "bootstrap", 0)
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	return secret, true, nil
}
