package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// csvReader reads a CSV (or TSV) file with a header row (RFC 4180
// quoting). Every value is a string.
type csvReader struct {
	path    string
	r       *csv.Reader
	close   func() error
	header  []string
	row     int
	done    bool
	skipped int // lines consumed before the reader started
}

func newCSVReader(path string, src io.Reader, close func() error, tabs bool, skippedLines int) (*csvReader, error) {
	r := csv.NewReader(src)
	if tabs {
		r.Comma = '\t'
	}
	r.FieldsPerRecord = -1 // checked here, so that the error names the row
	r.ReuseRecord = true
	c := &csvReader{path: path, r: r, close: close, skipped: skippedLines}
	header, err := r.Read()
	if err != nil {
		close()
		if err == io.EOF {
			return nil, &Error{Pos: Pos{File: path, Line: 1}, Problem: "empty file", Fatal: true}
		}
		return nil, c.parseError(err)
	}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		switch {
		case !utf8.ValidString(h):
			close()
			return nil, fatalf(Pos{File: path, Line: 1}, "", "header column %d: invalid UTF-8", i+1)
		case h == "":
			close()
			return nil, fatalf(Pos{File: path, Line: 1}, "", "header column %d has no name", i+1)
		case seen[h]:
			close()
			return nil, fatalf(Pos{File: path, Line: 1}, h, "column named twice in the header")
		}
		seen[h] = true
		c.header = append(c.header, h)
	}
	return c, nil
}

func (c *csvReader) Schema() []string { return c.header }
func (c *csvReader) Close() error     { return c.close() }

func (c *csvReader) Next() (Row, error) {
	if c.done {
		return Row{}, io.EOF
	}
	rec, err := c.r.Read()
	if err == io.EOF {
		c.done = true
		return Row{}, io.EOF
	}
	if err != nil {
		return Row{}, c.parseError(err)
	}
	line, _ := c.r.FieldPos(0)
	pos := Pos{File: c.path, Line: line + c.skipped, Row: c.row}
	c.row++
	if len(rec) != len(c.header) {
		if len(rec) == 1 && rec[0] == "" {
			return Row{}, errorf(pos, "", "empty line")
		}
		return Row{}, errorf(pos, "", "%d fields, the header has %d", len(rec), len(c.header))
	}
	values := make(map[string]any, len(rec))
	for i, v := range rec {
		if !utf8.ValidString(v) {
			l, _ := c.r.FieldPos(i)
			return Row{}, errorf(Pos{File: c.path, Line: l + c.skipped, Row: pos.Row}, c.header[i], "invalid UTF-8")
		}
		values[c.header[i]] = v
	}
	return Row{Pos: pos, Values: values}, nil
}

// parseError positions an encoding/csv error. Quoting errors end the file:
// past a stray quote the reader cannot tell where records start.
func (c *csvReader) parseError(err error) error {
	c.done = true
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		col := ""
		if pe.Column > 0 && len(c.header) > 0 {
			col = fmt.Sprintf(" (column %d)", pe.Column)
		}
		return fatalf(Pos{File: c.path, Line: pe.Line + c.skipped, Row: c.row}, "", "CSV quoting error%s: %v", col, pe.Err)
	}
	return fmt.Errorf("read %s: %w", c.path, err)
}
