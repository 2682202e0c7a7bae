package data

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is where a row (or a problem) sits in its source file.
type Pos struct {
	File string // the path as given to Open
	Line int    // 1-based line of the row's start in text formats; 0 for Parquet
	Row  int    // 0-based index of the row within its file, in every format
}

// String renders the position as "file:line" for text formats and as
// "file:row N" (1-based) for Parquet, where lines do not exist.
func (p Pos) String() string {
	switch {
	case p.File == "":
		return fmt.Sprintf("row %d", p.Row+1)
	case p.Line > 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:row %d", p.File, p.Row+1)
	}
}

// Row is one record of a dataset: its column values, decoded the way
// encoding/json decodes them (string, float64, bool, nil, []any,
// map[string]any), and its position in the source.
type Row struct {
	Pos    Pos
	Values map[string]any
}

// Columns returns the row's column names, sorted.
func (r Row) Columns() []string {
	cols := make([]string, 0, len(r.Values))
	for k := range r.Values {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	return cols
}

// Error is a problem at a position of a dataset. It reads
// "file:line: field: problem", or "file:line: problem" when no single field
// is at fault.
type Error struct {
	Pos     Pos
	Field   string
	Problem string
	// Fatal is set when the reader cannot go on past this error (the rest of
	// the file is unreadable, as after a JSON syntax error inside an array).
	Fatal bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

func errorf(pos Pos, field, format string, args ...any) *Error {
	return &Error{Pos: pos, Field: field, Problem: fmt.Sprintf(format, args...)}
}

func fatalf(pos Pos, field, format string, args ...any) *Error {
	e := errorf(pos, field, format, args...)
	e.Fatal = true
	return e
}

// typeName names the JSON type of a decoded value, for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, int, int32, int64, uint32, uint64, float32:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case []byte:
		return "binary data"
	}
	return fmt.Sprintf("a %T", v)
}

// stringField returns the string in column field of r. A missing column or a
// value of another type is an error; null counts as the empty string, as it
// does in Hugging Face datasets with optional columns.
func stringField(r Row, field string) (string, error) {
	v, ok := r.Values[field]
	if !ok {
		return "", errorf(r.Pos, field, "missing (columns are %s)", strings.Join(r.Columns(), ", "))
	}
	return asString(r.Pos, field, v)
}

// optionalStringField is stringField for columns that may be absent.
func optionalStringField(r Row, field string) (string, error) {
	if field == "" {
		return "", nil
	}
	v, ok := r.Values[field]
	if !ok {
		return "", nil
	}
	return asString(r.Pos, field, v)
}

func asString(pos Pos, field string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", errorf(pos, field, "expected a string, found %s", typeName(v))
}
