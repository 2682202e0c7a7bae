package benchnet

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

// seedLifecycle is the path a seeded task takes to success, each step
// recorded as the validator records it (a status event each).
var seedLifecycle = []crucible.TaskStatus{
	crucible.StatusPreparingData, crucible.StatusLookingForNodes, crucible.StatusReady, crucible.StatusTraining,
	crucible.StatusPreevaluation, crucible.StatusEvaluating, crucible.StatusSuccess,
}

// seedTasks stores n finished tasks of account, as the validator's store
// would hold them after n tasks (each through every status of its life, a
// status event each), in transactions of fifty, reporting progress
// to out. It returns the tasks' ids.
func seedTasks(ctx context.Context, store *sqlstore.Store, account, dataset string, n int, out io.Writer) ([]string, error) {
	const batch = 50 // short transactions: the validator's queue writes meanwhile
	ids := make([]string, 0, n)
	began, shown := time.Now(), time.Now()
	for len(ids) < n {
		err := store.WithTx(ctx, func(tx *sqlstore.Store) error {
			for i := 0; i < batch && len(ids) < n; i++ {
				t := &crucible.Task{AccountID: account, Type: crucible.TaskInstruct, IsOrganic: true, Private: true,
					Model: "tiny", Dataset: dataset, DatasetName: "facts.jsonl", HoursToComplete: 0.05, TrainRows: 180, TestRows: 20}
				if err := tx.CreateTask(ctx, t); err != nil {
					return err
				}
				for _, st := range seedLifecycle {
					t.Status = st
					if st == crucible.StatusSuccess {
						now := time.Now().UTC()
						t.CompletedAt, t.Winner = &now, fmt.Sprintf("seeded-%d", len(ids)%100)
					}
					if err := tx.UpdateTask(ctx, t); err != nil {
						return err
					}
				}
				ids = append(ids, t.ID)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("seed the store: %w", err)
		}
		if time.Since(shown) > 5*time.Second {
			fmt.Fprintf(out, "  seeded %d of %d tasks (%s)\n", len(ids), n, time.Since(began).Round(time.Second))
			shown = time.Now()
		}
	}
	if n > 0 && store.Dialect() == sqlstore.Postgres {
		// The store a validator holds after n tasks grew over weeks, and
		// Postgres's autovacuum went over it meanwhile: its planner's
		// statistics are current and its index-only scans read no table
		// rows. Seeded in a minute, it is vacuumed here as it would have
		// been, rather than during the measurement.
		for _, table := range []string{"tasks", "task_events"} {
			if _, err := store.DB().ExecContext(ctx, "VACUUM (ANALYZE) "+table); err != nil {
				return nil, fmt.Errorf("vacuum the seeded %s: %w", table, err)
			}
		}
	}
	return ids, nil
}
