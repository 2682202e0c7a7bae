// Package sqlstore stores crucible's state (tasks, submissions, nodes, scores,
// task events, offer responses, the validator's evaluation records and
// submission fingerprints, accounts and API keys, the results log and the
// weights history) in SQLite or PostgreSQL through database/sql.
//
// SQLite (modernc.org/sqlite, pure Go) is the embedded default: one file, WAL
// journal, foreign keys on, a busy timeout, and every transaction begun with
// BEGIN IMMEDIATE so that two writers queue up instead of failing with
// SQLITE_BUSY. PostgreSQL (pgx) lets several validator processes share one
// database. The schema is migrated at Open from SQL files embedded in the
// binary, one set per dialect.
//
// Transactions: every method that writes more than one row runs in its own
// transaction. WithTx runs several calls in one transaction; the *Store it
// hands to its function is bound to that transaction, and Tx exposes the
// *sql.Tx so that other writers (the durable job queue) can join it.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the database behind a Store.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store implements the crucible service interfaces on a SQL database. A Store
// returned by Open is safe for concurrent use; one handed out by WithTx
// belongs to its transaction and must not outlive it.
type Store struct {
	db      *sql.DB
	pool    *pgxpool.Pool // Postgres only
	dialect Dialect
	tx      *sql.Tx // non-nil inside WithTx
	q       querier
	now     func() time.Time
}

// Compile-time checks that Store implements the domain services.
var (
	_ crucible.TaskService       = (*Store)(nil)
	_ crucible.SubmissionService = (*Store)(nil)
	_ crucible.NodeService       = (*Store)(nil)
	_ crucible.ScoreService      = (*Store)(nil)
	_ crucible.EventService      = (*Store)(nil)
	_ crucible.OfferService      = (*Store)(nil)
	_ crucible.AccountService    = (*Store)(nil)
	_ crucible.ResultLogService  = (*Store)(nil)
	_ crucible.WeightsService    = (*Store)(nil)
	_ crucible.EvaluationService = (*Store)(nil)
)

// defaultPostgresConns is the pool size when the URL has no pool_max_conns.
const defaultPostgresConns = 20

// Open connects to the database named by url and migrates its schema.
//
// url is either a PostgreSQL URL (postgres://user@host:port/db?sslmode=disable,
// postgresql:// works too) or a SQLite database: sqlite:///abs/path/db.sqlite,
// sqlite://relative/path.db or a plain file path. A Postgres URL may set
// pool_max_conns (default 20). A SQLite file and its directory are created
// when missing.
func Open(ctx context.Context, url string) (*Store, error) { return open(ctx, url, 0) }

// open is Open with the schema migrated up to version (0: all the way).
func open(ctx context.Context, url string, version int) (*Store, error) {
	var s *Store
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "open postgres database").
				WithHint("check the database URL, e.g. postgres://user@127.0.0.1:5432/crucible?sslmode=disable")
		}
		if !strings.Contains(url, "pool_max_conns") {
			// The job queue's listener, its workers and the API share the
			// pool; pgx's default (4 on a small machine) is too few.
			cfg.MaxConns = defaultPostgresConns
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "open postgres database").
				WithHint("check the database URL, e.g. postgres://user@127.0.0.1:5432/crucible?sslmode=disable")
		}
		s = &Store{db: stdlib.OpenDBFromPool(pool), pool: pool, dialect: Postgres}
	default:
		path, err := sqlitePath(url)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite database: %w", err)
		}
		db, err := sql.Open("sqlite", SQLiteDSN(path))
		if err != nil {
			return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
		}
		// Readers run in parallel under WAL; writers queue on the busy timeout.
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
		s = &Store{db: db, dialect: SQLite}
	}
	s.q = s.db
	s.now = func() time.Time { return time.Now() }
	if err := s.db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to %s database: %w", s.dialect, err)
	}
	if err := s.migrate(ctx, version); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SQLiteDSN returns the modernc.org/sqlite data source name crucible uses for
// the database file at path: WAL journal, foreign keys, a 10 s busy timeout
// and BEGIN IMMEDIATE transactions. Other packages that open the same file
// (the job queue) use it too, so that every connection behaves alike.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)"
}

// sqlitePath extracts the file path from a sqlite:// URL or a plain path.
func sqlitePath(url string) (string, error) {
	path := url
	if rest, ok := strings.CutPrefix(url, "sqlite://"); ok {
		path = rest
	} else if strings.Contains(url, "://") {
		return "", crucible.Errorf(crucible.EINVALID, "database URL %q: unknown scheme", url).
			WithHint("use postgres://..., sqlite:///path/to/db.sqlite or a plain file path")
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return "", crucible.Errorf(crucible.EINVALID, "database URL %q: want a SQLite file path without '?' or '#'", url)
	}
	return path, nil
}

// Close closes the database. It must not be called on a Store from WithTx.
func (s *Store) Close() error {
	if s.tx != nil {
		return errors.New("sqlstore: Close called inside a transaction")
	}
	err := s.db.Close()
	if s.pool != nil {
		s.pool.Close()
	}
	return err
}

// DB returns the underlying database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Pool returns the pgx pool behind a Postgres store, nil for SQLite.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Dialect returns the database kind.
func (s *Store) Dialect() Dialect { return s.dialect }

// Tx returns the transaction a Store from WithTx is bound to, nil otherwise.
func (s *Store) Tx() *sql.Tx { return s.tx }

// WithTx runs fn in one transaction: it commits when fn returns nil and rolls
// back otherwise (also when fn panics). The Store passed to fn runs every
// call inside that transaction. Called on a Store that is already in a
// transaction, WithTx runs fn in that same transaction.
//
// Inside fn use only tx: a call on the outer Store runs outside the
// transaction and, on SQLite, a write there waits for the transaction to end
// and fails after the 10 s busy timeout. To enqueue a job atomically with a
// state change, pass tx.Tx() to the queue's InsertTx.
func (s *Store) WithTx(ctx context.Context, fn func(tx *Store) error) (err error) {
	if s.tx != nil {
		return fn(s)
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	txs := *s
	txs.tx, txs.q = sqlTx, sqlTx
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := fn(&txs); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return mapErr(err, "commit transaction")
	}
	return nil
}

// rebind turns ?-placeholders into $1, $2, ... for Postgres. Queries in this
// package never contain a literal '?'.
func (s *Store) rebind(q string) string {
	if s.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.q.ExecContext(ctx, s.rebind(q), args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.q.QueryContext(ctx, s.rebind(q), args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.q.QueryRowContext(ctx, s.rebind(q), args...)
}

// forUpdate is the row-lock suffix for a SELECT inside a transaction. SQLite
// needs none: its transactions hold the write lock from BEGIN IMMEDIATE.
func (s *Store) forUpdate() string {
	if s.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Constraint kinds reported by constraintOf.
const (
	noConstraint = iota
	uniqueViolation
	foreignKeyViolation
)

// constraintOf classifies a database error as a constraint violation.
func constraintOf(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return uniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return foreignKeyViolation
		}
		return noConstraint
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return uniqueViolation
		case "23503":
			return foreignKeyViolation
		}
	}
	return noConstraint
}

// mapErr wraps a database error with context; constraint violations and
// serialization failures become ECONFLICT so callers can retry or report them.
func mapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if constraintOf(err) == uniqueViolation {
		return crucible.Wrap(err, crucible.ECONFLICT, "%s: already exists", msg)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") {
		return crucible.Wrap(err, crucible.ECONFLICT, "%s: concurrent update", msg)
	}
	if crucible.ErrorCode(err) != crucible.EINTERNAL {
		return err // already a domain error
	}
	return fmt.Errorf("%s: %w", msg, err)
}
