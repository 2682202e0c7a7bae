package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// AddScores stores the scores of one task in one transaction. A score
// without CreatedAt gets the current time. Returns EINVALID for a score
// without a task or hotkey, ENOTFOUND for an unknown task and ECONFLICT when
// a miner already has a score for the task.
func (s *Store) AddScores(ctx context.Context, scores []*crucible.Score) error {
	for i, sc := range scores {
		if sc.TaskID == "" || sc.Hotkey == "" {
			return crucible.Errorf(crucible.EINVALID, "score %d needs a task_id and a hotkey", i)
		}
	}
	now := norm(s.now())
	return s.WithTx(ctx, func(tx *Store) error {
		for _, sc := range scores {
			if sc.CreatedAt.IsZero() {
				sc.CreatedAt = now
			}
			sc.CreatedAt = norm(sc.CreatedAt)
			_, err := tx.exec(ctx, `INSERT INTO scores (task_id, hotkey, task_type, is_organic, quality_score, work,
				test_loss, spec_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				sc.TaskID, sc.Hotkey, string(sc.TaskType), sc.IsOrganic, sc.QualityScore, sc.Work, sc.TestLoss,
				sc.SpecVersion, tx.timeArg(sc.CreatedAt))
			switch constraintOf(err) {
			case foreignKeyViolation:
				return crucible.Errorf(crucible.ENOTFOUND, "score for %s: task %q not found", sc.Hotkey, sc.TaskID)
			case uniqueViolation:
				return crucible.Errorf(crucible.ECONFLICT, "miner %s already has a score for task %s", sc.Hotkey, sc.TaskID)
			}
			if err != nil {
				return mapErr(err, "add score")
			}
		}
		return nil
	})
}

// FindScoresSince returns every score created at or after t, oldest first.
func (s *Store) FindScoresSince(ctx context.Context, t time.Time) ([]*crucible.Score, error) {
	rows, err := s.query(ctx, `SELECT task_id, hotkey, task_type, is_organic, quality_score, work, test_loss,
		spec_version, created_at FROM scores WHERE created_at >= ? ORDER BY created_at, task_id, hotkey`, s.timeArg(t))
	if err != nil {
		return nil, mapErr(err, "find scores")
	}
	defer rows.Close()
	var out []*crucible.Score
	for rows.Next() {
		var (
			sc      crucible.Score
			typ     string
			organic boolScan
			loss    sql.NullFloat64
			created timeScan
		)
		if err := rows.Scan(&sc.TaskID, &sc.Hotkey, &typ, &organic, &sc.QualityScore, &sc.Work, &loss,
			&sc.SpecVersion, &created); err != nil {
			return nil, mapErr(err, "find scores")
		}
		sc.TaskType, sc.IsOrganic, sc.CreatedAt = crucible.TaskType(typ), bool(organic), created.t
		if loss.Valid {
			sc.TestLoss = &loss.Float64
		}
		out = append(out, &sc)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find scores")
	}
	return out, nil
}
