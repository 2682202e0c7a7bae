package sqlstore

import (
	"context"

	"github.com/crucible-net/crucible/crucible"
)

// eventLockKey is the Postgres advisory lock held by a transaction that
// appends an event until it commits, so that event IDs become visible in
// increasing order and a follower reading "after ID n" never skips one.
const eventLockKey = 0x63727564

// lockEvents takes the Postgres event lock for the rest of the transaction
// (a no-op on SQLite, whose transactions are serialized anyway). Taking it
// again in the same transaction is harmless.
func (s *Store) lockEvents(ctx context.Context) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := s.exec(ctx, "SELECT pg_advisory_xact_lock(?)", eventLockKey); err != nil {
		return mapErr(err, "lock task events")
	}
	return nil
}

// AppendEvent stores e and fills in its ID and CreatedAt. Returns EINVALID
// without a task or kind, ENOTFOUND when the task does not exist.
func (s *Store) AppendEvent(ctx context.Context, e *crucible.TaskEvent) error {
	if e.TaskID == "" || e.Kind == "" {
		return crucible.Errorf(crucible.EINVALID, "task event needs a task_id and a kind")
	}
	return s.WithTx(ctx, func(tx *Store) error { return tx.appendEvent(ctx, e) })
}

// appendEvent inserts e; the caller provides the transaction.
func (s *Store) appendEvent(ctx context.Context, e *crucible.TaskEvent) error {
	data, err := jsonArg(e.Data)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "task event data")
	}
	if err := s.lockEvents(ctx); err != nil {
		return err
	}
	created := norm(s.now())
	err = s.queryRow(ctx, `INSERT INTO task_events (task_id, kind, hotkey, from_status, to_status, message, data, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.TaskID, e.Kind, e.Hotkey, string(e.FromStatus), string(e.ToStatus), e.Message, data, s.timeArg(created)).Scan(&e.ID)
	if constraintOf(err) == foreignKeyViolation {
		return crucible.Errorf(crucible.ENOTFOUND, "task %q not found", e.TaskID)
	}
	if err != nil {
		return mapErr(err, "append task event")
	}
	e.CreatedAt = created
	return nil
}

// FindEvents returns the events matching f in ID order.
func (s *Store) FindEvents(ctx context.Context, f crucible.EventFilter) ([]*crucible.TaskEvent, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := "SELECT id, task_id, kind, hotkey, from_status, to_status, message, data, created_at FROM task_events WHERE id > ?"
	args := []any{f.AfterID}
	if f.TaskID != "" {
		q, args = q+" AND task_id = ?", append(args, f.TaskID)
	}
	if f.Kind != "" {
		q, args = q+" AND kind = ?", append(args, f.Kind)
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "find task events")
	}
	defer rows.Close()
	var out []*crucible.TaskEvent
	for rows.Next() {
		var (
			e        crucible.TaskEvent
			from, to string
			data     jsonScan
			created  timeScan
		)
		if err := rows.Scan(&e.ID, &e.TaskID, &e.Kind, &e.Hotkey, &from, &to, &e.Message, &data, &created); err != nil {
			return nil, mapErr(err, "find task events")
		}
		e.FromStatus, e.ToStatus, e.CreatedAt = crucible.TaskStatus(from), crucible.TaskStatus(to), created.t
		if err := data.decode(&e.Data, "task event data"); err != nil {
			return nil, err
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find task events")
	}
	return out, nil
}
