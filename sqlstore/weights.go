package sqlstore

import (
	"context"

	"github.com/crucible-net/crucible/crucible"
)

// AddWeights stores w and fills in its ID and CreatedAt (kept when set).
// Returns EINVALID when w has no weights.
func (s *Store) AddWeights(ctx context.Context, w *crucible.WeightsRecord) error {
	if w.Weights == nil {
		return crucible.Errorf(crucible.EINVALID, "weights record has no weights")
	}
	weights, err := jsonArg(w.Weights)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "weights")
	}
	created := w.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	created = norm(created)
	if err := s.queryRow(ctx, `INSERT INTO weights_history (netuid, weights, block, note, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, w.Netuid, weights, w.Block, w.Note, s.timeArg(created)).Scan(&w.ID); err != nil {
		return mapErr(err, "add weights")
	}
	w.CreatedAt = created
	return nil
}

// FindWeights returns up to limit records, newest first; limit 0 means 100.
func (s *Store) FindWeights(ctx context.Context, limit int) ([]*crucible.WeightsRecord, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, "SELECT id, netuid, weights, block, note, created_at FROM weights_history ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, mapErr(err, "find weights")
	}
	defer rows.Close()
	var out []*crucible.WeightsRecord
	for rows.Next() {
		var (
			w       crucible.WeightsRecord
			weights jsonScan
			created timeScan
		)
		if err := rows.Scan(&w.ID, &w.Netuid, &weights, &w.Block, &w.Note, &created); err != nil {
			return nil, mapErr(err, "find weights")
		}
		if err := weights.decode(&w.Weights, "weights"); err != nil {
			return nil, err
		}
		w.CreatedAt = created.t
		out = append(out, &w)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find weights")
	}
	return out, nil
}
