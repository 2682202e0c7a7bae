package queue_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/queue"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite"
)

// backend builds queues on one fresh database per test.
type backend struct {
	name string
	open func(t *testing.T) (db *sql.DB, newQueue func(cfg queue.Config) *queue.Queue)
}

// sqliteDSN matches the settings crucible's store uses for SQLite.
func sqliteDSN(path string) string {
	return "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
}

func backends() []backend {
	bs := []backend{{name: "sqlite", open: func(t *testing.T) (*sql.DB, func(queue.Config) *queue.Queue) {
		db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "q.db")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db, func(cfg queue.Config) *queue.Queue {
			q, err := queue.NewSQLite(context.Background(), db, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
	}}}
	if base := os.Getenv("CRUCIBLE_TEST_POSTGRES_URL"); base != "" {
		bs = append(bs, backend{name: "postgres", open: func(t *testing.T) (*sql.DB, func(queue.Config) *queue.Queue) {
			pool := freshPostgres(t, base)
			db := stdlib.OpenDBFromPool(pool)
			t.Cleanup(func() { db.Close() })
			return db, func(cfg queue.Config) *queue.Queue {
				q, err := queue.NewPostgres(context.Background(), pool, db, cfg)
				if err != nil {
					t.Fatal(err)
				}
				return q
			}
		}})
	}
	return bs
}

// freshPostgres returns a pool whose search_path is a new schema, dropped
// when the test ends.
func freshPostgres(t *testing.T, base string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "qtest_" + hex.EncodeToString(b[:])
	admin, err := pgxpool.New(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	qv := u.Query()
	qv.Set("search_path", schema)
	u.RawQuery = qv.Encode()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		admin.Close()
	})
	return pool
}

// retryNow retries a failed job at once, so tests need not wait.
type retryNow struct{}

func (retryNow) NextRetry(*rivertype.JobRow) time.Time { return time.Now() }

// advanceWorker marks the task's row done. For task "crash" its first run
// instead blocks until its context is cancelled, like a validator that is
// shut down in the middle of the job.
type advanceWorker struct {
	river.WorkerDefaults[queue.AdvanceTaskArgs]
	db      *sql.DB
	started chan string
	crashed atomic.Bool
	runs    sync.Map // task id → *atomic.Int32
}

func (w *advanceWorker) Work(ctx context.Context, job *river.Job[queue.AdvanceTaskArgs]) error {
	n, _ := w.runs.LoadOrStore(job.Args.TaskID, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
	if job.Args.TaskID == "crash" && w.crashed.CompareAndSwap(false, true) {
		w.started <- job.Args.TaskID
		<-ctx.Done()
		return ctx.Err()
	}
	_, err := w.db.ExecContext(ctx, "UPDATE things SET state = 'done' WHERE id = '"+job.Args.TaskID+"'")
	return err
}

func (w *advanceWorker) runCount(id string) int32 {
	n, ok := w.runs.Load(id)
	if !ok {
		return 0
	}
	return n.(*atomic.Int32).Load()
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// waitCompleted waits for the completion event of job id.
func waitCompleted(t *testing.T, events <-chan *river.Event, id int64) {
	t.Helper()
	for {
		ev := waitFor(t, events, "job completion")
		if ev.Job.ID == id {
			if ev.Kind != river.EventKindJobCompleted {
				t.Fatalf("job %d: event %s, errors %v", id, ev.Kind, ev.Job.Errors)
			}
			return
		}
	}
}

func state(t *testing.T, db *sql.DB, id string) string {
	t.Helper()
	var s string
	if err := db.QueryRow("SELECT state FROM things WHERE id = '" + id + "'").Scan(&s); err != nil {
		t.Fatalf("state of %s: %v", id, err)
	}
	return s
}

// insertWithChange records a state change and its job in one transaction,
// committed or rolled back.
func insertWithChange(t *testing.T, db *sql.DB, q *queue.Queue, id string, commit bool) *rivertype.JobInsertResult {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.Exec("INSERT INTO things (id, state) VALUES ('" + id + "', 'queued')"); err != nil {
		t.Fatal(err)
	}
	res, err := q.InsertTx(ctx, tx, queue.AdvanceTaskArgs{TaskID: id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second advance job for the same task in the same transaction is a duplicate.
	dup, err := q.InsertTx(ctx, tx, queue.AdvanceTaskArgs{TaskID: id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !dup.UniqueSkippedAsDuplicate || dup.Job.ID != res.Job.ID {
		t.Errorf("second advance job for %s was inserted (%d vs %d)", id, dup.Job.ID, res.Job.ID)
	}
	if commit {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

func TestQueueSurvivesRestart(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db, newQueue := b.open(t)
			if _, err := db.Exec("CREATE TABLE things (id TEXT PRIMARY KEY, state TEXT NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			w := &advanceWorker{db: db, started: make(chan string, 1)}
			workers := river.NewWorkers()
			river.AddWorker(workers, w)
			cfg := queue.Config{Workers: workers, RetryPolicy: retryNow{}, FetchPollInterval: 100 * time.Millisecond}

			// The first validator process enqueues a job with its state change ...
			q1 := newQueue(cfg)
			rolledBack := insertWithChange(t, db, q1, "ghost", false)
			crash := insertWithChange(t, db, q1, "crash", true)
			// (SQLite may hand the rolled-back ID to the next job, so look at the args.)
			if j, err := q1.Job(ctx, rolledBack.Job.ID); crucible.ErrorCode(err) != crucible.ENOTFOUND &&
				(err != nil || strings.Contains(string(j.EncodedArgs), "ghost")) {
				t.Errorf("job of a rolled-back transaction exists: %v", err)
			}
			// ... starts working it and is stopped in the middle.
			if err := q1.Start(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, w.started, "the job to start")
			if err := q1.StopAndCancel(ctx); err != nil {
				t.Fatal(err)
			}
			if got := state(t, db, "crash"); got != "queued" {
				t.Fatalf("interrupted job changed state to %q", got)
			}
			j, err := q1.Job(ctx, crash.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State == rivertype.JobStateCompleted || j.State == rivertype.JobStateDiscarded {
				t.Fatalf("interrupted job is %s", j.State)
			}

			// A new process picks the job up again and completes it.
			q2 := newQueue(cfg)
			events, cancel := q2.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
			defer cancel()
			if err := q2.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer q2.Stop(ctx) //nolint:errcheck
			waitCompleted(t, events, crash.Job.ID)
			if got := state(t, db, "crash"); got != "done" {
				t.Fatalf("state after restart = %q, want done", got)
			}
			if n := w.runCount("crash"); n != 2 {
				t.Errorf("crash job ran %d times, want 2", n)
			}
			if n := w.runCount("ghost"); n != 0 {
				t.Errorf("rolled-back job ran %d times", n)
			}

			// Once completed, a new advance job for the task may be inserted again.
			again, err := q2.Insert(ctx, queue.AdvanceTaskArgs{TaskID: "crash"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if again.UniqueSkippedAsDuplicate {
				t.Fatal("a completed job still blocks a new one")
			}
			waitCompleted(t, events, again.Job.ID)
			if n := w.runCount("crash"); n != 3 {
				t.Errorf("crash job ran %d times, want 3", n)
			}
		})
	}
}

func TestInsertOnlyQueueCannotStart(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			_, newQueue := b.open(t)
			q := newQueue(queue.Config{})
			if err := q.Start(context.Background()); err == nil {
				t.Fatal("insert-only queue started")
			}
			if _, err := q.Job(context.Background(), 12345); crucible.ErrorCode(err) != crucible.ENOTFOUND {
				t.Fatalf("Job(missing) = %v", err)
			}
		})
	}
}

// hangWorker's first run ignores cancellation, like a process that dies
// (or hangs) mid-job without recording anything; later runs succeed.
type hangWorker struct {
	river.WorkerDefaults[hangArgs]
	started chan struct{}
	release chan struct{}
	runs    atomic.Int32
}

type hangArgs struct{}

func (hangArgs) Kind() string { return "hang" }

func (w *hangWorker) Work(ctx context.Context, job *river.Job[hangArgs]) error {
	if w.runs.Add(1) == 1 {
		close(w.started)
		<-w.release
	}
	return nil
}

// TestReclaimsJobsOfADeadProcess: a job a killed process left marked
// running is redone as soon as the same node starts again (on SQLite,
// which one process works; on Postgres, by the node's stable ID).
func TestReclaimsJobsOfADeadProcess(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			_, newQueue := b.open(t)
			w := &hangWorker{started: make(chan struct{}), release: make(chan struct{})}
			workers := river.NewWorkers()
			river.AddWorker(workers, w)
			// One worker: while the first run hangs in it, the first queue
			// (whose stop below is only begun) has no room to fetch the
			// job again once it is reclaimed, as a dead process could not.
			// With more, it raced the second queue for the job and ran it
			// itself, and the second never saw it complete.
			cfg := queue.Config{Workers: workers, MaxWorkers: 1, FetchPollInterval: 100 * time.Millisecond, ID: "validator-test"}

			q1 := newQueue(cfg)
			res, err := q1.Insert(ctx, hangArgs{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := q1.Start(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, w.started, "the job to start")
			// The process is gone as far as the database knows: it never records
			// the job's end, and a stop with no time to wait gives up on it.
			dead, cancel := context.WithCancel(ctx)
			cancel()
			_ = q1.Stop(dead)
			defer close(w.release)
			if j, err := q1.Job(ctx, res.Job.ID); err != nil || j.State != rivertype.JobStateRunning {
				t.Fatalf("job of the dead process: %+v, %v", j, err)
			}

			q2 := newQueue(cfg)
			events, stop := q2.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
			defer stop()
			if err := q2.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer q2.Stop(ctx) //nolint:errcheck
			waitCompleted(t, events, res.Job.ID)
			if n := w.runs.Load(); n != 2 {
				t.Errorf("job ran %d times, want 2", n)
			}
		})
	}
}

// snoozeWorker snoozes its job for an hour on its first run and completes
// it on the next; while a run is in progress it waits for release.
type snoozeWorker struct {
	river.WorkerDefaults[queue.AdvanceTaskArgs]
	runs    atomic.Int32
	running chan struct{}
	release chan struct{}
}

func (w *snoozeWorker) Work(ctx context.Context, job *river.Job[queue.AdvanceTaskArgs]) error {
	switch w.runs.Add(1) {
	case 1:
		return river.JobSnooze(time.Hour)
	case 2:
		w.running <- struct{}{}
		<-w.release
	}
	return nil
}

// TestKickRunsAWaitingJobAtOnce: a kick makes a job snoozed for an hour
// run at once, though the workers look for work by themselves only once a
// minute; it inserts no second job, leaves a running one alone, and
// inserts one when none is active.
func TestKickRunsAWaitingJobAtOnce(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db, newQueue := b.open(t)
			w := &snoozeWorker{running: make(chan struct{}), release: make(chan struct{})}
			workers := river.NewWorkers()
			river.AddWorker(workers, w)
			q := newQueue(queue.Config{Workers: workers, FetchPollInterval: time.Minute, FetchCooldown: 10 * time.Millisecond})
			events, stop := q.Subscribe(river.EventKindJobSnoozed, river.EventKindJobCompleted)
			defer stop()
			args := queue.AdvanceTaskArgs{TaskID: "t1"}
			first, err := q.Insert(ctx, args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer q.Stop(ctx) //nolint:errcheck
			if ev := waitFor(t, events, "the snooze"); ev.Kind != river.EventKindJobSnoozed || ev.Job.ID != first.Job.ID {
				t.Fatalf("first event: %s of job %d", ev.Kind, ev.Job.ID)
			}

			res, err := q.Kick(ctx, args)
			if err != nil {
				t.Fatal(err)
			}
			if !res.UniqueSkippedAsDuplicate || res.Job.ID != first.Job.ID || res.Job.State != rivertype.JobStateAvailable {
				t.Fatalf("kick of the snoozed job: %+v (job %+v)", res, res.Job)
			}
			waitFor(t, w.running, "the kicked job to run (the next poll is a minute away)")
			// Running: a kick leaves it alone and says so.
			res, err = q.Kick(ctx, args)
			if err != nil {
				t.Fatal(err)
			}
			if res.Job.ID != first.Job.ID || res.Job.State != rivertype.JobStateRunning {
				t.Fatalf("kick of the running job: job %d in state %s", res.Job.ID, res.Job.State)
			}
			close(w.release)
			waitCompleted(t, events, first.Job.ID)
			var n int
			if err := db.QueryRow("SELECT count(*) FROM river_job").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d jobs after the kicks, want 1", n)
			}

			// No active job: a kick inserts one, which runs at once.
			res, err = q.Kick(ctx, args)
			if err != nil {
				t.Fatal(err)
			}
			if res.UniqueSkippedAsDuplicate || res.Job.ID == first.Job.ID {
				t.Fatalf("kick with no active job inserted none: %+v", res)
			}
			waitCompleted(t, events, res.Job.ID)
		})
	}
}
