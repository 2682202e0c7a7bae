package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// LoadChainState returns the saved state of a local chain embedded in this
// validator, or nil when none was saved (chain.StateStore).
func (s *Store) LoadChainState(ctx context.Context) ([]byte, error) {
	var st string
	err := s.queryRow(ctx, "SELECT state FROM chain_state WHERE id = 1").Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err, "load chain state")
	}
	return []byte(st), nil
}

// SaveChainState replaces the saved chain state.
func (s *Store) SaveChainState(ctx context.Context, state []byte) error {
	_, err := s.exec(ctx, `INSERT INTO chain_state (id, state, updated_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
		string(state), s.timeArg(norm(s.now())))
	return mapErr(err, "save chain state")
}
