package sqlstore

import (
	"context"
	"database/sql"

	"github.com/crucible-net/crucible/crucible"
)

// TaskTotals sums the tasks of account ("" for every account) in one
// query.
func (s *Store) TaskTotals(ctx context.Context, account string) (*crucible.TaskTotals, error) {
	q := `SELECT status, COUNT(*),
		CAST(COALESCE(SUM(model_params_count), 0) AS BIGINT), CAST(COALESCE(SUM(train_rows), 0) AS BIGINT),
		CAST(COALESCE(SUM(train_tokens), 0) AS BIGINT),
		COALESCE(SUM(CASE WHEN status IN ('prep_task_failure', 'failure_finding_nodes')
			OR (status = 'cancelled' AND started_at IS NULL) THEN 0 ELSE price END), 0)
		FROM tasks`
	var args []any
	if account != "" {
		q, args = q+" WHERE account_id = ?", append(args, account)
	}
	rows, err := s.query(ctx, q+" GROUP BY status", args...)
	if err != nil {
		return nil, mapErr(err, "sum tasks")
	}
	defer rows.Close()
	t := &crucible.TaskTotals{ByStatus: map[crucible.TaskStatus]int{}}
	for rows.Next() {
		var (
			status              string
			n                   int
			params, rowsN, toks int64
			spent               sql.NullFloat64
		)
		if err := rows.Scan(&status, &n, &params, &rowsN, &toks, &spent); err != nil {
			return nil, mapErr(err, "sum tasks")
		}
		st := crucible.TaskStatus(status)
		t.ByStatus[st] = n
		t.Spent += spent.Float64
		if st == crucible.StatusSuccess {
			t.ParamsTrained, t.RowsTrained, t.TokensTrained = params, rowsN, toks
		}
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "sum tasks")
	}
	return t, nil
}
