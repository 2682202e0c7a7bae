package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// CreateAccount stores a and fills in its ID (when empty) and CreatedAt.
// Returns EINVALID without a name, ECONFLICT when the ID is taken.
func (s *Store) CreateAccount(ctx context.Context, a *crucible.Account) error {
	if a.Name == "" {
		return crucible.Errorf(crucible.EINVALID, "account name is required")
	}
	c := *a
	if c.ID == "" {
		c.ID = newID()
	}
	c.CreatedAt = norm(s.now())
	if _, err := s.exec(ctx, "INSERT INTO accounts (id, name, admin, disabled, credit_limit, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		c.ID, c.Name, c.Admin, c.Disabled, c.CreditLimit, s.timeArg(c.CreatedAt)); err != nil {
		return mapErr(err, "create account %s", c.ID)
	}
	*a = c
	return nil
}

func scanAccount(r rowScanner) (*crucible.Account, error) {
	var (
		a               crucible.Account
		admin, disabled boolScan
		created         timeScan
	)
	if err := r.Scan(&a.ID, &a.Name, &admin, &disabled, &a.CreditLimit, &created); err != nil {
		return nil, err
	}
	a.Admin, a.Disabled, a.CreatedAt = bool(admin), bool(disabled), created.t
	return &a, nil
}

// FindAccount returns the account with id. Returns ENOTFOUND.
func (s *Store) FindAccount(ctx context.Context, id string) (*crucible.Account, error) {
	a, err := scanAccount(s.queryRow(ctx, "SELECT id, name, admin, disabled, credit_limit, created_at FROM accounts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "account %q not found", id)
	}
	if err != nil {
		return nil, mapErr(err, "find account")
	}
	return a, nil
}

// FindAccounts returns every account ordered by creation.
func (s *Store) FindAccounts(ctx context.Context) ([]*crucible.Account, error) {
	rows, err := s.query(ctx, "SELECT id, name, admin, disabled, credit_limit, created_at FROM accounts ORDER BY created_at, id")
	if err != nil {
		return nil, mapErr(err, "find accounts")
	}
	defer rows.Close()
	var out []*crucible.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, mapErr(err, "find accounts")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find accounts")
	}
	return out, nil
}

// UpdateAccount saves a's name, admin and disabled flags. Returns EINVALID
// without a name, ENOTFOUND.
func (s *Store) UpdateAccount(ctx context.Context, a *crucible.Account) error {
	if a.Name == "" {
		return crucible.Errorf(crucible.EINVALID, "account name is required")
	}
	if a.CreditLimit < 0 {
		return crucible.Errorf(crucible.EINVALID, "credit limit must not be negative, got %g", a.CreditLimit)
	}
	res, err := s.exec(ctx, "UPDATE accounts SET name = ?, admin = ?, disabled = ?, credit_limit = ? WHERE id = ?",
		a.Name, a.Admin, a.Disabled, a.CreditLimit, a.ID)
	return rowsOrNotFound(res, err, "account", a.ID)
}

// rowsOrNotFound turns an UPDATE that matched no row into ENOTFOUND.
func rowsOrNotFound(res sql.Result, err error, what, id string) error {
	if err != nil {
		return mapErr(err, "update %s %s", what, id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err, "update %s %s", what, id)
	}
	if n == 0 {
		return crucible.Errorf(crucible.ENOTFOUND, "%s %q not found", what, id)
	}
	return nil
}

// CreateAPIKey stores k and fills in its ID (when empty) and CreatedAt.
// Returns EINVALID when the account or the hash is missing or the hash is
// not hex SHA-256, ENOTFOUND for an unknown account, ECONFLICT for a hash
// already stored.
func (s *Store) CreateAPIKey(ctx context.Context, k *crucible.APIKey) error {
	if k.AccountID == "" {
		return crucible.Errorf(crucible.EINVALID, "api key needs an account_id")
	}
	if !isHexSHA256(k.Hash) {
		return crucible.Errorf(crucible.EINVALID, "api key hash must be the hex sha256 of the key (crucible.HashAPIKey)")
	}
	c := *k
	if c.ID == "" {
		c.ID = newID()
	}
	c.CreatedAt = norm(s.now())
	c.LastUsedAt, c.RevokedAt = normPtr(c.LastUsedAt), normPtr(c.RevokedAt)
	if c.RateLimit < 0 {
		return crucible.Errorf(crucible.EINVALID, "api key rate limit must not be negative, got %d", c.RateLimit)
	}
	_, err := s.exec(ctx, `INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at, last_used_at, revoked_at, rate_limit)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.AccountID, c.Name, c.Prefix, c.Hash, s.timeArg(c.CreatedAt),
		s.timePtrArg(c.LastUsedAt), s.timePtrArg(c.RevokedAt), c.RateLimit)
	if constraintOf(err) == foreignKeyViolation {
		return crucible.Errorf(crucible.ENOTFOUND, "account %q not found", k.AccountID)
	}
	if err != nil {
		return mapErr(err, "create api key")
	}
	*k = c
	return nil
}

func isHexSHA256(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, r := range h {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

const apiKeyColumns = "id, account_id, name, prefix, key_hash, created_at, last_used_at, revoked_at, rate_limit"

func scanAPIKey(r rowScanner) (*crucible.APIKey, error) {
	var (
		k                      crucible.APIKey
		created, used, revoked timeScan
	)
	if err := r.Scan(&k.ID, &k.AccountID, &k.Name, &k.Prefix, &k.Hash, &created, &used, &revoked, &k.RateLimit); err != nil {
		return nil, err
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = created.t, used.ptr(), revoked.ptr()
	return &k, nil
}

// lastUsedResolution is how stale LastUsedAt may get: FindAPIKeyByHash
// writes it at most this often per key, so that authenticating a busy client
// is not a database write per request.
const lastUsedResolution = time.Minute

// FindAPIKeyByHash returns the key whose hash is hash, revoked or not, and
// records it as used now (at a resolution of a minute). Returns ENOTFOUND.
func (s *Store) FindAPIKeyByHash(ctx context.Context, hash string) (*crucible.APIKey, error) {
	k, err := scanAPIKey(s.queryRow(ctx, "SELECT "+apiKeyColumns+" FROM api_keys WHERE key_hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "api key not found")
	}
	if err != nil {
		return nil, mapErr(err, "find api key")
	}
	now := norm(s.now())
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= lastUsedResolution {
		if _, err := s.exec(ctx, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", s.timeArg(now), k.ID); err != nil {
			return nil, mapErr(err, "record api key use")
		}
		k.LastUsedAt = &now
	}
	return k, nil
}

// FindAPIKeys returns an account's keys ordered by creation.
func (s *Store) FindAPIKeys(ctx context.Context, accountID string) ([]*crucible.APIKey, error) {
	rows, err := s.query(ctx, "SELECT "+apiKeyColumns+" FROM api_keys WHERE account_id = ? ORDER BY created_at, id", accountID)
	if err != nil {
		return nil, mapErr(err, "find api keys")
	}
	defer rows.Close()
	var out []*crucible.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr(err, "find api keys")
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find api keys")
	}
	return out, nil
}

// RevokeAPIKey marks the key revoked. Returns ENOTFOUND; revoking twice keeps
// the first revocation time.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	res, err := s.exec(ctx, "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
		s.timeArg(s.now()), id)
	return rowsOrNotFound(res, err, "api key", id)
}
