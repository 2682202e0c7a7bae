package sqlstore

import (
	"context"
	"database/sql"

	"github.com/crucible-net/crucible/crucible"
)

// TaskTotals sums the tasks of account ("" for every account) in one
// query.
func (s *Store) TaskTotals(ctx context.Context, account string) (*crucible.TaskTotals, error) {
	// task_totals is kept by triggers on tasks (migration 0014): a few
	// rows per account, whatever the number of tasks.
	q := `SELECT status, CAST(SUM(tasks) AS BIGINT), CAST(SUM(params) AS BIGINT),
		CAST(SUM(train_rows) AS BIGINT), CAST(SUM(train_tokens) AS BIGINT), SUM(spent)
		FROM task_totals WHERE tasks > 0`
	var args []any
	if account != "" {
		q, args = q+" AND account_id = ?", append(args, account)
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
