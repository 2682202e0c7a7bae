package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/crucible-net/crucible/sqlstore"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// backend opens fresh, empty stores of one kind.
type backend struct {
	name string
	// open returns the URL of a fresh database (created for this test and
	// dropped when it ends).
	url func(t *testing.T) string
}

// backends returns SQLite always and Postgres when CRUCIBLE_TEST_POSTGRES_URL
// is set; each test gets its own database file or Postgres schema.
func backends(t *testing.T) []backend {
	bs := []backend{{name: "sqlite", url: func(t *testing.T) string {
		return "sqlite://" + filepath.Join(t.TempDir(), "crucible.db")
	}}}
	if base := os.Getenv("CRUCIBLE_TEST_POSTGRES_URL"); base != "" {
		bs = append(bs, backend{name: "postgres", url: func(t *testing.T) string { return freshSchema(t, base) }})
	}
	return bs
}

// freshSchema creates a schema with a random name, returns base with its
// search_path set to it, and drops the schema when the test ends.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// forEachStore runs fn as a subtest against a fresh store of every backend.
func forEachStore(t *testing.T, fn func(t *testing.T, s *sqlstore.Store)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := openStore(t, b.url(t))
			fn(t, s)
		})
	}
}

func openStore(t *testing.T, u string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), u)
	if err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
