package sqlstore_test

import (
	"context"
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
