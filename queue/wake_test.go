package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	_ "modernc.org/sqlite"
)

// wakeWorker snoozes its job for an hour on the first run and reports the
// second.
type wakeWorker struct {
	river.WorkerDefaults[AdvanceTaskArgs]
	runs atomic.Int32
	ran  chan struct{}
}

func (w *wakeWorker) Work(context.Context, *river.Job[AdvanceTaskArgs]) error {
	if w.runs.Add(1) == 1 {
		return river.JobSnooze(time.Hour)
	}
	close(w.ran)
	return nil
}

// TestWakeFetchesAtOnce: a job made available behind the workers' back (no
// insert told them) runs as soon as wake is called, though the workers look
// by themselves only once a minute: the wake reaches them (River's insert
// notification on Postgres, its client's fetch on SQLite).
func TestWakeFetchesAtOnce(t *testing.T) {
	ctx := context.Background()
	opens := map[string]func(t *testing.T, cfg Config) *Queue{
		"sqlite": func(t *testing.T, cfg Config) *Queue {
			path := filepath.Join(t.TempDir(), "q.db")
			db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			q, err := NewSQLite(ctx, db, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return q
		},
	}
	if base := os.Getenv("CRUCIBLE_TEST_POSTGRES_URL"); base != "" {
		opens["postgres"] = func(t *testing.T, cfg Config) *Queue {
			var b [6]byte
			rand.Read(b[:])
			schema := "qwake_" + hex.EncodeToString(b[:])
			admin, err := pgxpool.New(ctx, base)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(base)
			v := u.Query()
			v.Set("search_path", schema)
			u.RawQuery = v.Encode()
			pool, err := pgxpool.New(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			db := stdlib.OpenDBFromPool(pool)
			t.Cleanup(func() {
				db.Close()
				pool.Close()
				admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
				admin.Close()
			})
			q, err := NewPostgres(ctx, pool, db, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			w := &wakeWorker{ran: make(chan struct{})}
			workers := river.NewWorkers()
			river.AddWorker(workers, w)
			q := open(t, Config{Workers: workers, FetchPollInterval: time.Minute, FetchCooldown: 10 * time.Millisecond})
			snoozed, stop := q.Subscribe(river.EventKindJobSnoozed)
			defer stop()
			args := AdvanceTaskArgs{TaskID: "t"}
			res, err := q.Insert(ctx, args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer q.Stop(ctx) //nolint:errcheck
			select {
			case <-snoozed:
			case <-time.After(20 * time.Second):
				t.Fatal("the first run did not snooze")
			}
			// Available again, and nobody told the workers.
			if q.pgClient != nil {
				_, err = q.pgClient.JobRetry(ctx, res.Job.ID)
			} else {
				_, err = q.sqlClient.JobRetry(ctx, res.Job.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := q.wake(ctx, args, river.QueueDefault); err != nil {
				t.Fatal(err)
			}
			select {
			case <-w.ran:
			case <-time.After(20 * time.Second):
				t.Fatal("the job did not run after the wake (the workers' next look is a minute away)")
			}
		})
	}
}
