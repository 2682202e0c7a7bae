// Package queue runs crucible's durable jobs (the validator's task lifecycle:
// prepare data, offer, start, collect, evaluate, score) on River, in the same
// database as the store, so that a job survives a restart and several
// validator processes can share one Postgres database.
//
// On SQLite one River client (riversqlite, on the store's *sql.DB) inserts
// and works jobs. On Postgres a client on a pgx pool (riverpgxv5, with
// LISTEN/NOTIFY for prompt pickup) works jobs, and a second, insert-only
// client (riverdatabasesql) inserts jobs inside the store's *sql.Tx so that
// a job and the state change that calls for it commit or roll back together.
// Either way callers see one Queue with Insert and InsertTx.
//
// Wiring it to the store (sqlstore) happens in node/validatornode:
//
//	store, err := sqlstore.Open(ctx, databaseURL)
//	...
//	var q *queue.Queue
//	if store.Dialect() == sqlstore.Postgres {
//		q, err = queue.NewPostgres(ctx, store.Pool(), store.DB(), cfg)
//	} else {
//		q, err = queue.NewSQLite(ctx, store.DB(), cfg)
//	}
//	...
//	err = store.WithTx(ctx, func(tx *sqlstore.Store) error {
//		if err := tx.CreateTask(ctx, task); err != nil {
//			return err
//		}
//		_, err := q.InsertTx(ctx, tx.Tx(), queue.AdvanceTaskArgs{TaskID: task.ID}, nil)
//		return err
//	})
//
// One process works a SQLite database; several may work a Postgres one.
package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
)

// Config configures a Queue. The zero value makes an insert-only queue.
type Config struct {
	// Workers are the job kinds this process works. Nil makes an insert-only
	// queue (Start is then an error).
	Workers *river.Workers
	// MaxWorkers is how many jobs run at once in the default queue. Defaults to 4.
	MaxWorkers int
	// Queues overrides the queues worked (and MaxWorkers) when set.
	Queues map[string]river.QueueConfig
	// RetryPolicy decides when a failed job runs again. Defaults to River's
	// (attempt^4 seconds, with jitter).
	RetryPolicy river.ClientRetryPolicy
	// MaxAttempts is how often a job runs before it is discarded. Defaults to 25.
	MaxAttempts int
	// JobTimeout is how long a job may run before its context is cancelled.
	// Defaults to 30 minutes; a worker with a Timeout method overrides it for
	// its kind (an evaluation may need hours).
	JobTimeout time.Duration
	// RescueStuckJobsAfter is how long a job may stay running before it is
	// taken to belong to a dead process and made available again (Postgres;
	// on SQLite, Start reclaims every running job at once). Defaults to
	// JobTimeout plus 15 minutes.
	RescueStuckJobsAfter time.Duration
	// FetchPollInterval is how often idle workers look for new jobs when no
	// notification arrives. Defaults to River's (1 s).
	FetchPollInterval time.Duration
	// FetchCooldown is the least time between two looks for new jobs that
	// inserts and kicks ask for (not a poll: nothing is fetched unless
	// asked). Defaults to River's (100 ms).
	FetchCooldown time.Duration
	// ID names this process in River's tables. Defaults to a random name.
	// A node that gives a stable one (the same after a restart) has its
	// jobs that a crash left marked running on Postgres redone at Start,
	// as on SQLite, instead of after RescueStuckJobsAfter.
	ID string
	// Logger receives River's logs. Defaults to a logger that drops everything
	// below warnings.
	Logger *slog.Logger
}

func (c *Config) riverConfig() *river.Config {
	rc := &river.Config{
		Workers:              c.Workers,
		RetryPolicy:          c.RetryPolicy,
		MaxAttempts:          c.MaxAttempts,
		RescueStuckJobsAfter: c.RescueStuckJobsAfter,
		FetchPollInterval:    c.FetchPollInterval,
		FetchCooldown:        c.FetchCooldown,
		ID:                   c.ID,
		Logger:               c.Logger,
		Middleware:           []rivertype.Middleware{handBackWhenStopping},
	}
	rc.JobTimeout = c.JobTimeout
	if rc.JobTimeout == 0 {
		rc.JobTimeout = 30 * time.Minute
	}
	if rc.RescueStuckJobsAfter == 0 {
		rc.RescueStuckJobsAfter = max(rc.JobTimeout, 0) + 15*time.Minute
	}
	if rc.Logger == nil {
		rc.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers != nil {
		rc.Queues = c.Queues
		if rc.Queues == nil {
			n := c.MaxWorkers
			if n <= 0 {
				n = 4
			}
			rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: n}}
		}
	}
	return rc
}

// handBackWhenStopping puts a job back without running it when its work
// context has already ended as it is handed over: a client that is stopping
// can finish a fetch it began before the stop and receive a job whose earlier
// attempt the stop itself just cut short. Running it with a dead context would
// only fail again and spend an attempt; a zero snooze makes it available at
// once, to another process or the next Start, and gives the attempt back.
var handBackWhenStopping = river.WorkerMiddlewareFunc(func(ctx context.Context, _ *rivertype.JobRow, doInner func(context.Context) error) error {
	if ctx.Err() != nil {
		return river.JobSnooze(0)
	}
	return doInner(ctx)
})

// Queue inserts and works durable jobs. Build one with NewSQLite or NewPostgres.
type Queue struct {
	sqlClient *river.Client[*sql.Tx] // SQLite: the only client; Postgres: inserts in *sql.Tx
	pgClient  *river.Client[pgx.Tx]  // Postgres: works jobs and inserts outside a transaction
	sqliteDB  *sql.DB                // SQLite only
	pool      *pgxpool.Pool          // Postgres only
	id        string                 // this process's stable name in River's tables, if it has one
	working   bool                   // has workers; Start is allowed
}

// NewSQLite migrates River's tables in the SQLite database db (the store's
// handle) and returns a Queue on it.
func NewSQLite(ctx context.Context, db *sql.DB, cfg Config) (*Queue, error) {
	if err := MigrateSQLite(ctx, db); err != nil {
		return nil, err
	}
	c, err := river.NewClient(riversqlite.New(db), cfg.riverConfig())
	if err != nil {
		return nil, fmt.Errorf("queue: new sqlite client: %w", err)
	}
	return &Queue{sqlClient: c, sqliteDB: db, working: cfg.Workers != nil}, nil
}

// NewPostgres migrates River's tables in the Postgres database behind pool
// and returns a Queue that works jobs through pool and inserts jobs in
// transactions of db, a database/sql handle on the same database (the
// store's, from stdlib.OpenDBFromPool).
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, db *sql.DB, cfg Config) (*Queue, error) {
	if err := MigratePostgres(ctx, pool); err != nil {
		return nil, err
	}
	pc, err := river.NewClient(riverpgxv5.New(pool), cfg.riverConfig())
	if err != nil {
		return nil, fmt.Errorf("queue: new postgres client: %w", err)
	}
	insertOnly := Config{RetryPolicy: cfg.RetryPolicy, MaxAttempts: cfg.MaxAttempts, Logger: cfg.Logger}
	sc, err := river.NewClient(riverdatabasesql.New(db), insertOnly.riverConfig())
	if err != nil {
		return nil, fmt.Errorf("queue: new postgres insert client: %w", err)
	}
	return &Queue{sqlClient: sc, pgClient: pc, pool: pool, id: cfg.ID, working: cfg.Workers != nil}, nil
}

// Start starts working jobs; they run until Stop or StopAndCancel.
//
// On SQLite, Start first makes every job still marked running available
// again: one process works a SQLite database, so such a job was cut short by
// a crash of the previous one and is redone now rather than after
// RescueStuckJobsAfter. On Postgres it does so for the jobs last attempted
// under this queue's own ID (Config.ID), when it has a stable one. The
// attempt it used still counts toward MaxAttempts.
func (q *Queue) Start(ctx context.Context) error {
	if !q.working {
		return errors.New("queue: start: this queue has no workers (insert-only)")
	}
	var err error
	if q.pgClient != nil {
		if q.id != "" {
			// Jobs the last run of this same node left running died with it.
			if _, err := q.pool.Exec(ctx, `UPDATE river_job SET state = 'available'
				WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $1`, q.id); err != nil {
				return fmt.Errorf("queue: reclaim jobs of a previous run: %w", err)
			}
		}
		err = q.pgClient.Start(ctx)
	} else {
		if q.sqliteDB != nil {
			if _, err := q.sqliteDB.ExecContext(ctx,
				"UPDATE river_job SET state = 'available' WHERE state = 'running'"); err != nil {
				return fmt.Errorf("queue: reclaim jobs of a previous run: %w", err)
			}
		}
		err = q.sqlClient.Start(ctx)
	}
	if err != nil {
		return fmt.Errorf("queue: start: %w", err)
	}
	return nil
}

// Stop stops fetching new jobs and waits for running ones to finish, or for
// ctx to end.
func (q *Queue) Stop(ctx context.Context) error {
	if q.pgClient != nil {
		return q.pgClient.Stop(ctx)
	}
	return q.sqlClient.Stop(ctx)
}

// StopAndCancel stops fetching new jobs, cancels the contexts of running
// ones and waits for them to return. A job cut short this way runs again
// according to the retry policy, in another process or after the next Start,
// never in this stopping one.
func (q *Queue) StopAndCancel(ctx context.Context) error {
	if q.pgClient != nil {
		return stopThenCancel(ctx, q.pgClient)
	}
	return stopThenCancel(ctx, q.sqlClient)
}

// stopper is the part of a River client that StopAndCancel drives.
type stopper interface {
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// stopThenCancel ends fetching before it cancels running work. River's own
// StopAndCancel cancels the work first, so a job that fails on the
// cancellation and is retried at once could be fetched again by the stopping
// client and handed a dead context, spending an attempt for nothing. A Stop
// with an already-ended context begins the soft stop (no more fetching) and
// returns without waiting; the hard stop then cancels and waits.
func stopThenCancel(ctx context.Context, c stopper) error {
	begin, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Stop(begin); err == nil {
		return nil // already stopped: nothing was running
	}
	return c.StopAndCancel(ctx)
}

// Insert enqueues a job on its own.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	var (
		res *rivertype.JobInsertResult
		err error
	)
	if q.pgClient != nil {
		res, err = q.pgClient.Insert(ctx, args, opts)
	} else {
		res, err = q.sqlClient.Insert(ctx, args, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: insert %s job: %w", args.Kind(), err)
	}
	return res, nil
}

// InsertTx enqueues a job inside tx: the job exists only if tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	res, err := q.sqlClient.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("queue: insert %s job: %w", args.Kind(), err)
	}
	return res, nil
}

// RunNow makes the waiting job with id (one snoozed or scheduled for
// later) available to be worked at once; a running job is left alone.
func (q *Queue) RunNow(ctx context.Context, id int64) error {
	var err error
	if q.pgClient != nil {
		_, err = q.pgClient.JobRetry(ctx, id)
	} else {
		_, err = q.sqlClient.JobRetry(ctx, id)
	}
	if errors.Is(err, river.ErrNotFound) {
		return crucible.Errorf(crucible.ENOTFOUND, "job %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("queue: run job %d now: %w", id, err)
	}
	return nil
}

// Kick makes sure a job with args (a kind unique while active, such as
// AdvanceTaskArgs) is queued and is worked at once: it inserts one when
// none is active, and makes a waiting one (snoozed, scheduled or retrying
// later) available now and has the workers look for it now rather than at
// their next poll. A running job is left alone: the result's Job is then
// in state running, and the caller must see that what it kicked for is
// looked at when the run ends.
func (q *Queue) Kick(ctx context.Context, args river.JobArgs) (*rivertype.JobInsertResult, error) {
	res, err := q.Insert(ctx, args, nil)
	if err != nil || !res.UniqueSkippedAsDuplicate || res.Job == nil {
		return res, err // a new job: the insert told the workers
	}
	var row *rivertype.JobRow
	if q.pgClient != nil {
		row, err = q.pgClient.JobRetry(ctx, res.Job.ID)
	} else {
		row, err = q.sqlClient.JobRetry(ctx, res.Job.ID)
	}
	if errors.Is(err, river.ErrNotFound) {
		return q.Insert(ctx, args, nil) // it ended (and was cleaned up) meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("queue: run %s job %d now: %w", args.Kind(), res.Job.ID, err)
	}
	res.Job = row
	if row.State != rivertype.JobStateAvailable {
		return res, nil
	}
	if err := q.wake(ctx, args, row.Queue); err != nil {
		return nil, fmt.Errorf("queue: wake the workers for %s job %d: %w", args.Kind(), row.ID, err)
	}
	return res, nil
}

// wake has the workers of queue look for available jobs now. On Postgres
// it sends the notification River sends for an insert (every process's
// workers listen for it). On SQLite, where River has no notifications, an
// insert of args, a duplicate of the job just made available that
// changes nothing, makes River's client fetch at once; should that job have
// run to its end in between, it is one more run, which a kind unique while
// active takes as a look at its subject.
func (q *Queue) wake(ctx context.Context, args river.JobArgs, queue string) error {
	if q.pgClient != nil {
		payload, err := json.Marshal(struct {
			Queue string `json:"queue"`
		}{queue})
		if err != nil {
			return err
		}
		_, err = q.pool.Exec(ctx, "SELECT pg_notify(concat(current_schema(), '.river_insert'), $1)", string(payload))
		return err
	}
	_, err := q.sqlClient.Insert(ctx, args, nil)
	return err
}

// Job returns the job with id. Returns ENOTFOUND.
func (q *Queue) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	var (
		j   *rivertype.JobRow
		err error
	)
	if q.pgClient != nil {
		j, err = q.pgClient.JobGet(ctx, id)
	} else {
		j, err = q.sqlClient.JobGet(ctx, id)
	}
	if errors.Is(err, river.ErrNotFound) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "job %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: get job %d: %w", id, err)
	}
	return j, nil
}

// Subscribe returns a channel of the working client's events of the given
// kinds (all kinds when none are given) and a function to stop them. Call it
// before Start to see every event.
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	if len(kinds) == 0 {
		kinds = []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed,
			river.EventKindJobCancelled, river.EventKindJobSnoozed}
	}
	if q.pgClient != nil {
		return q.pgClient.Subscribe(kinds...)
	}
	return q.sqlClient.Subscribe(kinds...)
}
