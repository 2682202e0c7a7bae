package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ratelimit"
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

// allow takes a token from the caller's account's bucket (one bucket for
// all of an account's keys, so that a new key brings no new allowance) and,
// for a key given a lower rate of its own, from the key's bucket too,
// answering 429 with Retry-After when either is empty. A key an admin gave
// a higher rate refills its account's bucket at that rate.
func (s *Server) allow(w http.ResponseWriter, c *caller) bool {
	rate := max(s.opt.RatePerMinute, c.key.RateLimit)
	if c.key.RateLimit > 0 && c.key.RateLimit < rate {
		if wait := s.limiter.Take("key "+c.key.ID, c.key.RateLimit); wait > 0 {
			s.opt.Log.Warn("rate limited", "account", c.account.Name, "key", c.key.Prefix)
			ratelimit.Refuse(w, wait, "API key "+c.key.Prefix+"…",
				fmt.Sprintf("this key may make %d requests a minute, %d at once", c.key.RateLimit, min(s.opt.Burst, c.key.RateLimit)))
			return false
		}
	}
	if wait := s.limiter.Take("account "+c.account.ID, rate); wait > 0 {
		s.opt.Log.Warn("rate limited", "account", c.account.Name, "key", c.key.Prefix)
		ratelimit.Refuse(w, wait, "account "+c.account.Name+" (key "+c.key.Prefix+"…)",
			fmt.Sprintf("an account may make %d requests a minute, %d at once, whichever of its keys it uses", rate, min(s.opt.Burst, rate)))
		return false
	}
	return true
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
