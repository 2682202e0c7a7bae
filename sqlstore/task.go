package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// taskColumns lists the tasks table's columns in the order scanTask reads them.
const taskColumns = `id, account_id, type, status, is_organic, private, model, model_params_count, dataset,
	mapping, hours_to_complete, train_data, test_data, train_rows, test_rows, times_delayed, next_delay_at,
	eval_attempts, result_model, winner, failure, train_tokens, created_at, updated_at, started_at, termination_at,
	completed_at, version, rewards, dataset_name, test_dataset, hints, competition, assignees, tournament_id, price, currency`

// CreateTask validates t, gives it an ID (unless it carries one: a
// tournament's tasks have IDs derived from their match, so that creating one
// twice is a conflict rather than a second task), the pending status,
// version 1 and its creation time, stores it and appends its first status
// event.
func (s *Store) CreateTask(ctx context.Context, t *crucible.Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	now := norm(s.now())
	c := *t
	if c.ID == "" {
		c.ID = newID()
	} else if !isUUID(c.ID) {
		return crucible.Errorf(crucible.EINVALID, "task id %q is not a UUID", c.ID)
	}
	c.Status = crucible.StatusPending
	c.Version = 1
	c.CreatedAt, c.UpdatedAt = now, now
	args, err := s.taskArgs(&c)
	if err != nil {
		return err
	}
	err = s.WithTx(ctx, func(tx *Store) error {
		if _, err := tx.exec(ctx, "INSERT INTO tasks ("+taskColumns+") VALUES ("+placeholders(37)+")", args...); err != nil {
			return mapErr(err, "create task")
		}
		return tx.appendEvent(ctx, &crucible.TaskEvent{TaskID: c.ID, Kind: crucible.EventStatus,
			ToStatus: c.Status, Message: "task created"})
	})
	if err != nil {
		return err
	}
	c.NextDelayAt, c.StartedAt = normPtr(c.NextDelayAt), normPtr(c.StartedAt)
	c.TerminationAt, c.CompletedAt = normPtr(c.TerminationAt), normPtr(c.CompletedAt)
	*t = c
	return nil
}

// taskArgs returns t's columns as query arguments, in taskColumns order.
func (s *Store) taskArgs(t *crucible.Task) ([]any, error) {
	var mapping any
	if t.Mapping != nil {
		m, err := jsonArg(t.Mapping)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "task mapping")
		}
		mapping = m
	}
	var assignees any
	if len(t.Assignees) > 0 {
		a, err := jsonArg(t.Assignees)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "task assignees")
		}
		assignees = a
	}
	var rewards any
	if len(t.Rewards) > 0 {
		r, err := jsonArg(t.Rewards)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "task rewards")
		}
		rewards = r
	}
	var hints any
	if !t.Hints.Empty() {
		h, err := jsonArg(t.Hints)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "task hints")
		}
		hints = h
	}
	return []any{t.ID, t.AccountID, string(t.Type), string(t.Status), t.IsOrganic, t.Private, t.Model,
		t.ModelParamsCount, t.Dataset, mapping, t.HoursToComplete, t.TrainData, t.TestData, t.TrainRows,
		t.TestRows, t.TimesDelayed, s.timePtrArg(t.NextDelayAt), t.EvalAttempts, t.ResultModel, t.Winner,
		t.Failure, t.TrainTokens, s.timeArg(t.CreatedAt), s.timeArg(t.UpdatedAt), s.timePtrArg(t.StartedAt),
		s.timePtrArg(t.TerminationAt), s.timePtrArg(t.CompletedAt), t.Version, rewards, t.DatasetName, t.TestDataset, hints,
		t.Competition, assignees, t.Tournament, t.Price, t.Currency}, nil
}

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

type rowScanner interface{ Scan(dest ...any) error }

// scanTask reads one row of taskColumns.
func scanTask(r rowScanner) (*crucible.Task, error) {
	var (
		t                                          crucible.Task
		typ, status                                string
		organic, private                           boolScan
		mapping, rewards, hints, assignees         jsonScan
		nextDelay, created, updated, started, term timeScan
		completed                                  timeScan
	)
	err := r.Scan(&t.ID, &t.AccountID, &typ, &status, &organic, &private, &t.Model, &t.ModelParamsCount,
		&t.Dataset, &mapping, &t.HoursToComplete, &t.TrainData, &t.TestData, &t.TrainRows, &t.TestRows,
		&t.TimesDelayed, &nextDelay, &t.EvalAttempts, &t.ResultModel, &t.Winner, &t.Failure, &t.TrainTokens,
		&created, &updated, &started, &term, &completed, &t.Version, &rewards, &t.DatasetName, &t.TestDataset, &hints,
		&t.Competition, &assignees, &t.Tournament, &t.Price, &t.Currency)
	if err != nil {
		return nil, err
	}
	t.Type, t.Status = crucible.TaskType(typ), crucible.TaskStatus(status)
	t.IsOrganic, t.Private = bool(organic), bool(private)
	if mapping.b != nil {
		t.Mapping = &crucible.ColumnMapping{}
		if err := mapping.decode(t.Mapping, "task "+t.ID+" mapping"); err != nil {
			return nil, err
		}
	}
	if err := rewards.decode(&t.Rewards, "task "+t.ID+" rewards"); err != nil {
		return nil, err
	}
	if hints.b != nil {
		t.Hints = &crucible.Hints{}
		if err := hints.decode(t.Hints, "task "+t.ID+" hints"); err != nil {
			return nil, err
		}
	}
	if err := assignees.decode(&t.Assignees, "task "+t.ID+" assignees"); err != nil {
		return nil, err
	}
	t.NextDelayAt, t.StartedAt, t.TerminationAt, t.CompletedAt = nextDelay.ptr(), started.ptr(), term.ptr(), completed.ptr()
	t.CreatedAt, t.UpdatedAt = created.t, updated.t
	return &t, nil
}

// FindTask returns the task with id. Returns ENOTFOUND.
func (s *Store) FindTask(ctx context.Context, id string) (*crucible.Task, error) {
	return s.findTask(ctx, id, "")
}

func (s *Store) findTask(ctx context.Context, id, suffix string) (*crucible.Task, error) {
	t, err := scanTask(s.queryRow(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = ?"+suffix, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "task %q not found", id)
	}
	if err != nil {
		return nil, mapErr(err, "find task %s", id)
	}
	return t, nil
}

// FindTasks returns the tasks matching f, newest first, and how many match
// in all (ignoring Limit and Offset). A negative Limit or Offset is EINVALID.
func (s *Store) FindTasks(ctx context.Context, f crucible.TaskFilter) ([]*crucible.Task, int, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, 0, crucible.Errorf(crucible.EINVALID, "task filter: limit and offset must not be negative")
	}
	var where []string
	var args []any
	if f.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, string(f.Type))
	}
	if f.IDPrefix != "" {
		if strings.Trim(f.IDPrefix, "0123456789abcdef-") != "" {
			return nil, 0, crucible.Errorf(crucible.EINVALID, "task filter: id prefix %q is not hex", f.IDPrefix)
		}
		where, args = append(where, "id LIKE ?"), append(args, f.IDPrefix+"%")
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM tasks"+cond, args...).Scan(&total); err != nil {
		return nil, 0, mapErr(err, "count tasks")
	}
	q := "SELECT " + taskColumns + " FROM tasks" + cond + " ORDER BY created_at DESC, id DESC"
	switch {
	case f.Limit > 0:
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	case f.Offset > 0 && s.dialect == SQLite:
		q += " LIMIT -1" // SQLite needs a LIMIT before OFFSET; -1 means none
	}
	if f.Offset > 0 {
		q += fmt.Sprintf(" OFFSET %d", f.Offset)
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, 0, mapErr(err, "find tasks")
	}
	defer rows.Close()
	var tasks []*crucible.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, 0, mapErr(err, "find tasks")
		}
		tasks = append(tasks, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, mapErr(err, "find tasks")
	}
	return tasks, total, nil
}

// UpdateTask saves every field of t except ID, CreatedAt and Type. It
// returns ENOTFOUND for an unknown task and ECONFLICT when t.Version is not
// the stored version (someone else saved the task since it was read) or the
// status change is not an allowed transition. On success t.Version is bumped
// and t.UpdatedAt set; a status change also appends a status event, in the
// same transaction.
func (s *Store) UpdateTask(ctx context.Context, t *crucible.Task) error {
	if !t.Status.Valid() {
		return crucible.Errorf(crucible.EINVALID, "task %s: unknown status %q", t.ID, t.Status)
	}
	var saved crucible.Task
	err := s.WithTx(ctx, func(tx *Store) error {
		// Take the event lock before the row lock, the order every writer
		// uses, so two transactions updating several tasks cannot deadlock.
		if err := tx.lockEvents(ctx); err != nil {
			return err
		}
		cur, err := tx.findTask(ctx, t.ID, tx.forUpdate())
		if err != nil {
			return err
		}
		if cur.Version != t.Version {
			return crucible.Errorf(crucible.ECONFLICT,
				"task %s was changed by someone else (version %d, yours %d)", t.ID, cur.Version, t.Version).
				WithHint("read the task again and retry")
		}
		if cur.Status != t.Status {
			if err := crucible.CheckTransition(cur.Status, t.Status); err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
		}
		saved = *t
		saved.Type, saved.CreatedAt = cur.Type, cur.CreatedAt
		saved.Version = cur.Version + 1
		saved.UpdatedAt = norm(tx.now())
		args, err := tx.taskArgs(&saved)
		if err != nil {
			return err
		}
		// args[0] is the id; set every other column, guarded by the version.
		cols := strings.Split(taskColumns, ",")
		sets := make([]string, 0, len(cols)-1)
		for _, c := range cols[1:] {
			sets = append(sets, strings.TrimSpace(c)+" = ?")
		}
		res, err := tx.exec(ctx, "UPDATE tasks SET "+strings.Join(sets, ", ")+" WHERE id = ? AND version = ?",
			append(args[1:], t.ID, cur.Version)...)
		if err != nil {
			return mapErr(err, "update task %s", t.ID)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(err, "update task %s", t.ID)
		} else if n != 1 {
			return crucible.Errorf(crucible.ECONFLICT, "task %s was changed by someone else", t.ID).
				WithHint("read the task again and retry")
		}
		if cur.Status != t.Status {
			msg := ""
			if t.Status == crucible.StatusFailure || t.Status == crucible.StatusPrepTaskFailure {
				msg = t.Failure
			}
			return tx.appendEvent(ctx, &crucible.TaskEvent{TaskID: t.ID, Kind: crucible.EventStatus,
				FromStatus: cur.Status, ToStatus: t.Status, Message: msg})
		}
		return nil
	})
	if err != nil {
		return err
	}
	saved.NextDelayAt, saved.StartedAt = normPtr(saved.NextDelayAt), normPtr(saved.StartedAt)
	saved.TerminationAt, saved.CompletedAt = normPtr(saved.TerminationAt), normPtr(saved.CompletedAt)
	*t = saved
	return nil
}

// isUUID reports whether id has the form of a UUID (8-4-4-4-12 lower-case
// hex digits), the only form of task id the store accepts from a caller.
func isUUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, r := range id {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
				return false
			}
		}
	}
	return true
}
