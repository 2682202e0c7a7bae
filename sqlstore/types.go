package sqlstore

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// sqliteTimeLayout is how times are stored in SQLite: fixed width, UTC, so
// that text order is time order. Postgres stores TIMESTAMPTZ natively.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// norm returns t in UTC at the microsecond precision both databases keep.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// normPtr is norm for optional times.
func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := norm(*t)
	return &n
}

// timeArg is the query argument for a time.
func (s *Store) timeArg(t time.Time) any {
	if s.dialect == SQLite {
		return norm(t).Format(sqliteTimeLayout)
	}
	return norm(t)
}

// timePtrArg is timeArg for an optional time; nil becomes NULL.
func (s *Store) timePtrArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.timeArg(*t)
}

// timeScan scans a time stored by either dialect into a UTC time.
type timeScan struct {
	t     time.Time
	valid bool
}

// Scan implements sql.Scanner.
func (ts *timeScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		ts.valid = false
		return nil
	case time.Time:
		ts.t, ts.valid = norm(v), true
		return nil
	case string:
		return ts.parse(v)
	case []byte:
		return ts.parse(string(v))
	}
	return fmt.Errorf("scan time: unsupported type %T", src)
}

func (ts *timeScan) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("scan time %q: %w", v, err)
	}
	ts.t, ts.valid = norm(t), true
	return nil
}

// ptr returns the scanned time or nil for NULL.
func (ts *timeScan) ptr() *time.Time {
	if !ts.valid {
		return nil
	}
	t := ts.t
	return &t
}

// jsonArg encodes v as a JSON text argument; nil (and empty maps) become NULL.
func jsonArg(v any) (any, error) {
	switch m := v.(type) {
	case map[string]any:
		if len(m) == 0 {
			return nil, nil
		}
	case map[string]float64:
		if m == nil {
			return nil, nil
		}
	}
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return string(b), nil
}

// jsonScan scans a JSON column (TEXT in SQLite, JSONB in Postgres).
type jsonScan struct{ b []byte }

// Scan implements sql.Scanner.
func (js *jsonScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		js.b = nil
	case string:
		js.b = []byte(v)
	case []byte:
		js.b = append([]byte(nil), v...)
	default:
		return fmt.Errorf("scan json: unsupported type %T", src)
	}
	return nil
}

// decode unmarshals the column into dst; NULL leaves dst untouched.
func (js *jsonScan) decode(dst any, what string) error {
	if js.b == nil {
		return nil
	}
	if err := json.Unmarshal(js.b, dst); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// boolScan reads booleans stored as BOOLEAN (Postgres) or INTEGER (SQLite).
type boolScan bool

// Scan implements sql.Scanner.
func (b *boolScan) Scan(src any) error {
	v, err := driver.Bool.ConvertValue(src)
	if err != nil {
		return fmt.Errorf("scan bool: %w", err)
	}
	*b = boolScan(v.(bool))
	return nil
}
