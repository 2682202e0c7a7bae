package sqlstore_test

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

// TestTaskTotals checks the one-query sums against the tasks themselves:
// counts by status, what the succeeded tasks trained, and the prices that
// count against an account (not those of tasks that ended before any
// miner trained).
func TestTaskTotals(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		move := func(task *crucible.Task, path ...crucible.TaskStatus) {
			t.Helper()
			for _, st := range path {
				task.Status = st
				if err := s.UpdateTask(ctx, task); err != nil {
					t.Fatal(err)
				}
			}
		}
		add := func(account string, price float64, params int64, rows int, tokens int64) *crucible.Task {
			task := newTask("m")
			task.AccountID, task.Price, task.ModelParamsCount, task.TrainRows, task.TrainTokens = account, price, params, rows, tokens
			return mustCreate(t, s, task)
		}
		training := []crucible.TaskStatus{crucible.StatusPreparingData, crucible.StatusLookingForNodes, crucible.StatusReady, crucible.StatusTraining}
		success := append(append([]crucible.TaskStatus(nil), training...), crucible.StatusPreevaluation, crucible.StatusEvaluating, crucible.StatusSuccess)
		move(add("a", 1.25, 1000, 10, 100), success...)
		move(add("b", 4, 2000, 20, 200), success...)
		add("a", 0.5, 5, 5, 5)                                                                                                         // pending: counts, trained nothing yet
		move(add("a", 100, 0, 0, 0), crucible.StatusPreparingData, crucible.StatusPrepTaskFailure)                                     // never trained
		move(add("a", 200, 0, 0, 0), crucible.StatusPreparingData, crucible.StatusLookingForNodes, crucible.StatusFailureFindingNodes) // never trained
		move(add("a", 300, 0, 0, 0), crucible.StatusCancelled)                                                                         // cancelled before the start
		started := add("a", 2, 0, 0, 0)
		move(started, training...)
		now := time.Now().UTC().Truncate(time.Second)
		started.StartedAt = &now
		move(started, crucible.StatusCancelled) // cancelled while training: counts

		all, err := s.TaskTotals(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		want := map[crucible.TaskStatus]int{crucible.StatusSuccess: 2, crucible.StatusPending: 1, crucible.StatusPrepTaskFailure: 1,
			crucible.StatusFailureFindingNodes: 1, crucible.StatusCancelled: 2}
		if len(all.ByStatus) != len(want) {
			t.Errorf("by status %v, want %v", all.ByStatus, want)
		}
		for st, n := range want {
			if all.ByStatus[st] != n {
				t.Errorf("%s: %d tasks, want %d", st, all.ByStatus[st], n)
			}
		}
		if all.ParamsTrained != 3000 || all.RowsTrained != 30 || all.TokensTrained != 300 {
			t.Errorf("trained %d params, %d rows, %d tokens; want 3000, 30, 300", all.ParamsTrained, all.RowsTrained, all.TokensTrained)
		}
		if all.Spent != 1.25+4+0.5+2 {
			t.Errorf("spent %v over all accounts, want %v", all.Spent, 1.25+4+0.5+2)
		}
		a, err := s.TaskTotals(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if a.Spent != 1.25+0.5+2 || a.ByStatus[crucible.StatusSuccess] != 1 || a.ParamsTrained != 1000 {
			t.Errorf("account a: %+v; want spent 3.75, one success of 1000 params", a)
		}
		none, err := s.TaskTotals(ctx, "nobody")
		if err != nil || none.Spent != 0 || len(none.ByStatus) != 0 {
			t.Errorf("an account without tasks: %+v, %v", none, err)
		}
	})
}

// directTotals sums the tasks table itself, as TaskTotals did before the
// totals were kept by triggers.
func directTotals(t *testing.T, s *sqlstore.Store, account string) *crucible.TaskTotals {
	t.Helper()
	q := `SELECT status, COUNT(*), CAST(SUM(model_params_count) AS BIGINT), CAST(SUM(train_rows) AS BIGINT),
		CAST(SUM(train_tokens) AS BIGINT), SUM(CASE WHEN status IN ('prep_task_failure', 'failure_finding_nodes')
			OR (status = 'cancelled' AND started_at IS NULL) THEN 0 ELSE price END)
		FROM tasks WHERE account_id = $1 OR $1 = '' GROUP BY status`
	if s.Dialect() != sqlstore.Postgres {
		q = strings.ReplaceAll(q, "$1", "?1")
	}
	rows, err := s.DB().QueryContext(context.Background(), q, account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tt := &crucible.TaskTotals{ByStatus: map[crucible.TaskStatus]int{}}
	for rows.Next() {
		var st string
		var n int
		var params, rowsN, toks int64
		var spent float64
		if err := rows.Scan(&st, &n, &params, &rowsN, &toks, &spent); err != nil {
			t.Fatal(err)
		}
		tt.ByStatus[crucible.TaskStatus(st)] = n
		tt.Spent += spent
		if crucible.TaskStatus(st) == crucible.StatusSuccess {
			tt.ParamsTrained, tt.RowsTrained, tt.TokensTrained = params, rowsN, toks
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tt
}

// setTask sets one column of a task's row.
func setTask(t *testing.T, s *sqlstore.Store, id, column string, v any) {
	t.Helper()
	q := "UPDATE tasks SET " + column + " = ? WHERE id = ?"
	if s.Dialect() == sqlstore.Postgres {
		q = "UPDATE tasks SET " + column + " = $1 WHERE id = $2"
	}
	if tm, ok := v.(time.Time); ok && s.Dialect() != sqlstore.Postgres {
		v = tm.Format("2006-01-02T15:04:05.000000Z")
	}
	if _, err := s.DB().ExecContext(context.Background(), q, v, id); err != nil {
		t.Fatalf("set %s of %s: %v", column, id, err)
	}
}

// sameTotals compares two totals, the spent sums to the cent (the kept sum
// adds and takes away prices as tasks move).
func sameTotals(a, b *crucible.TaskTotals) bool {
	return maps.Equal(a.ByStatus, b.ByStatus) && a.ParamsTrained == b.ParamsTrained && a.RowsTrained == b.RowsTrained &&
		a.TokensTrained == b.TokensTrained && math.Abs(a.Spent-b.Spent) < 0.005
}

// TestTaskTotalsKept moves tasks at random (status, price, start, what was
// trained, even the account) and checks after each step that the totals
// kept by the triggers equal the sums over the tasks, for each account and
// for all.
func TestTaskTotalsKept(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 8))
		accounts := []string{"a", "b", "c"}
		var tasks []*crucible.Task
		for step := range 150 {
			if len(tasks) < 12 || rng.IntN(4) == 0 {
				task := newTask("m")
				task.AccountID, task.Price = accounts[rng.IntN(len(accounts))], float64(rng.IntN(400))/100
				tasks = append(tasks, mustCreate(t, s, task))
			} else {
				// Straight to the table: every column the totals read, in
				// moves the store's own methods would refuse too.
				task := tasks[rng.IntN(len(tasks))]
				setTask(t, s, task.ID, "status", string(crucible.Statuses[rng.IntN(len(crucible.Statuses))]))
				switch rng.IntN(5) {
				case 0:
					setTask(t, s, task.ID, "price", float64(rng.IntN(400))/100)
				case 1:
					setTask(t, s, task.ID, "started_at", time.Now().UTC())
				case 2:
					setTask(t, s, task.ID, "started_at", nil)
				case 3:
					setTask(t, s, task.ID, "model_params_count", rng.Int64N(1e6))
					setTask(t, s, task.ID, "train_rows", rng.IntN(1000))
					setTask(t, s, task.ID, "train_tokens", rng.Int64N(1e5))
				case 4:
					setTask(t, s, task.ID, "account_id", accounts[rng.IntN(len(accounts))])
				}
			}
			for _, acct := range append([]string{""}, accounts...) {
				got, err := s.TaskTotals(ctx, acct)
				if err != nil {
					t.Fatal(err)
				}
				if want := directTotals(t, s, acct); !sameTotals(got, want) {
					t.Fatalf("step %d, account %q: kept %+v, summed %+v", step, acct, got, want)
				}
			}
		}
	})
}

// TestTaskTotalsMigration checks that migration 14 fills the kept totals
// from the tasks already there.
func TestTaskTotalsMigration(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			u := b.url(t)
			old, err := sqlstore.OpenAt(ctx, u, 13)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range []crucible.TaskStatus{crucible.StatusPending, crucible.StatusSuccess, crucible.StatusSuccess, crucible.StatusCancelled} {
				task := newTask("m")
				task.AccountID, task.Price, task.ModelParamsCount = "a", 1.5, int64(100*(i+1))
				mustCreate(t, old, task)
				setTask(t, old, task.ID, "status", string(st))
			}
			old.Close()
			s := openStore(t, u)
			got, err := s.TaskTotals(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			want := &crucible.TaskTotals{ByStatus: map[crucible.TaskStatus]int{crucible.StatusPending: 1, crucible.StatusSuccess: 2, crucible.StatusCancelled: 1},
				ParamsTrained: 500, Spent: 4.5}
			if !sameTotals(got, want) || !sameTotals(got, directTotals(t, s, "a")) {
				t.Errorf("after migration 14: %+v, want %+v", got, want)
			}
		})
	}
}
