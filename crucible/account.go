package crucible

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Account is a customer (or an operator) of a validator.
type Account struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Admin    bool   `json:"admin"`
	Disabled bool   `json:"disabled"`
	// CreditLimit is the most the account's tasks may cost in all, in the
	// validator's currency (its price table's); 0 sets no limit.
	CreditLimit float64   `json:"credit_limit,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// APIKey is a credential of an account. Only the SHA-256 of the secret is
// stored, so a leaked database does not leak usable keys; Prefix (the first
// characters of the secret) lets a person tell their keys apart.
type APIKey struct {
	ID         string     `json:"id"`
	AccountID  string     `json:"account_id"`
	Name       string     `json:"name,omitempty"`
	Prefix     string     `json:"prefix"`
	RateLimit  int        `json:"rate_limit,omitempty"` // requests a minute this key may make; 0 means the server's default
	Hash       string     `json:"-"`                    // HashAPIKey of the secret
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Revoked reports whether the key has been revoked.
func (k *APIKey) Revoked() bool { return k.RevokedAt != nil }

// HashAPIKey returns the stored form of an API key secret: hex SHA-256.
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// AccountService stores accounts and their API keys.
type AccountService interface {
	// CreateAccount stores a and fills in its ID (when empty) and CreatedAt.
	// Returns EINVALID without a name, ECONFLICT when the ID is taken.
	CreateAccount(ctx context.Context, a *Account) error
	// FindAccount returns the account with id. Returns ENOTFOUND.
	FindAccount(ctx context.Context, id string) (*Account, error)
	// FindAccounts returns every account ordered by creation.
	FindAccounts(ctx context.Context) ([]*Account, error)
	// UpdateAccount saves a's name, admin and disabled flags. Returns ENOTFOUND.
	UpdateAccount(ctx context.Context, a *Account) error
	// CreateAPIKey stores k (whose Hash must be set) and fills in its ID and
	// CreatedAt. Returns EINVALID, ENOTFOUND (no such account), ECONFLICT.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// FindAPIKeyByHash returns the key whose hash is hash, revoked or not, and
	// records it as used now. Returns ENOTFOUND.
	FindAPIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// FindAPIKeys returns an account's keys ordered by creation.
	FindAPIKeys(ctx context.Context, accountID string) ([]*APIKey, error)
	// RevokeAPIKey marks the key revoked. Returns ENOTFOUND; revoking twice is
	// not an error and keeps the first revocation time.
	RevokeAPIKey(ctx context.Context, id string) error
}
