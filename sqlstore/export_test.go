package sqlstore

import "time"

// SetClock replaces the store's clock, for tests that need ordered times.
func SetClock(s *Store, now func() time.Time) { s.now = now }
