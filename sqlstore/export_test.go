package sqlstore

import (
	"context"
	"time"
)

// SetClock replaces the store's clock, for tests that need ordered times.
func SetClock(s *Store, now func() time.Time) { s.now = now }

// OpenAt opens the database at url migrated only up to version, for tests
// of later migrations.
func OpenAt(ctx context.Context, url string, version int) (*Store, error) {
	return open(ctx, url, version)
}
