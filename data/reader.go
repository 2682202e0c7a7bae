package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Reader yields the rows of a dataset one at a time.
//
// Next returns io.EOF after the last row. A bad row comes back as an *Error;
// unless the error is Fatal the reader has skipped the row and Next may be
// called again, so a checker can list every problem of a file in one pass.
type Reader interface {
	Next() (Row, error)
	// Schema returns the columns the file declares up front (the CSV header,
	// the Parquet schema), or nil for formats without a schema (JSON, JSONL).
	Schema() []string
	Close() error
}

// Format names a file format.
type Format string

// File formats.
const (
	FormatJSON    Format = "json"    // a top-level array of objects
	FormatJSONL   Format = "jsonl"   // one object per line
	FormatCSV     Format = "csv"     // a header row, then RFC 4180 records
	FormatTSV     Format = "tsv"     // the same, separated by tabs
	FormatParquet Format = "parquet" // Apache Parquet
)

// FormatOf returns the format a file name implies, looking through a .gz
// suffix; ok is false for names that are not dataset files.
func FormatOf(name string) (f Format, ok bool) {
	n := strings.ToLower(strings.TrimSuffix(strings.ToLower(name), ".gz"))
	switch filepath.Ext(n) {
	case ".json":
		return FormatJSON, true
	case ".jsonl", ".ndjson":
		return FormatJSONL, true
	case ".csv":
		return FormatCSV, true
	case ".tsv":
		return FormatTSV, true
	case ".parquet":
		if strings.HasSuffix(strings.ToLower(name), ".gz") {
			return "", false
		}
		return FormatParquet, true
	}
	return "", false
}

// Open opens a dataset file, or a directory in Hugging Face dataset layout
// (every data file of every split, in the order DataFiles gives).
func Open(path string) (Reader, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	if st.IsDir() {
		files, err := DataFiles(path)
		if err != nil {
			return nil, err
		}
		return &multiReader{files: files}, nil
	}
	return OpenFile(path)
}

// OpenFile opens one dataset file, choosing the reader by its extension. A
// .json file that holds one object per line is read as JSON Lines, as
// Hugging Face does.
func OpenFile(path string) (Reader, error) { return openFile(path, nil) }

// countingReader adds the bytes read through it to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// openFile is OpenFile that, when read is non-nil, adds the bytes read
// from the file (compressed bytes for .gz; nothing for Parquet) to it, for
// progress.
func openFile(path string, read *atomic.Int64) (Reader, error) {
	format, ok := FormatOf(path)
	if !ok {
		return nil, fmt.Errorf("open dataset %s: unknown file type (want .json, .jsonl, .csv, .tsv or .parquet, optionally .gz for text formats)", path)
	}
	if format == FormatParquet {
		return openParquet(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	var r io.Reader = f
	if read != nil {
		r = countingReader{f, read}
	}
	closer := f.Close
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			f.Close()
			return nil, &Error{Pos: Pos{File: path, Line: 1}, Problem: "not a gzip file: " + err.Error(), Fatal: true}
		}
		r = gz
		closer = func() error { gz.Close(); return f.Close() }
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(2); err == nil && (bytes.Equal(b, []byte{0xFF, 0xFE}) || bytes.Equal(b, []byte{0xFE, 0xFF})) {
		closer()
		return nil, &Error{Pos: Pos{File: path, Line: 1}, Fatal: true,
			Problem: "the file is UTF-16 text (it starts with a UTF-16 byte order mark); datasets must be UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8"}
	}
	first, skipped, err := firstByte(br)
	if err != nil {
		closer()
		if err == io.EOF {
			return nil, &Error{Pos: Pos{File: path, Line: 1}, Problem: "empty file", Fatal: true}
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	switch format {
	case FormatCSV, FormatTSV:
		return newCSVReader(path, br, closer, format == FormatTSV, skipped)
	case FormatJSON:
		if first == '{' && firstLineIsObject(br) {
			return jsonLines(newJSONLReader(path, br, closer, skipped)), nil
		}
		j := newJSONReader(path, br, closer, skipped)
		if jsonWorkers() > 1 {
			return newParallelJSON(j.nextRaw, j.Close), nil
		}
		return j, nil
	default:
		return jsonLines(newJSONLReader(path, br, closer, skipped)), nil
	}
}

// firstByte returns the first byte that is not white space or a UTF-8 byte
// order mark. It consumes only the mark, and, when white space fills the
// whole buffer, that white space; skipped counts the lines it consumed.
func firstByte(br *bufio.Reader) (first byte, skipped int, err error) {
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if err == nil || err == bufio.ErrBufferFull {
				err = io.EOF
			}
			return 0, skipped, err
		}
		c := b[n-1]
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c, skipped, nil
		}
		if n == br.Size() {
			// A buffer full of white space: skip it and look further.
			skipped += bytes.Count(b, []byte{'\n'})
			br.Discard(n)
			n = 0
		}
	}
}

// jsonLines decodes lines in parallel when more than one CPU is there to
// do it.
func jsonLines(r *jsonlReader) Reader {
	if jsonWorkers() > 1 {
		return newParallelJSON(r.nextLine, r.Close)
	}
	return r
}

// firstLineIsObject reports whether the first non-blank line of br (within
// its buffer) is a whole JSON object: then a .json file holds JSON Lines,
// else one JSON document.
func firstLineIsObject(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Size())
	b = bytes.TrimLeft(b, " \t\r\n")
	if bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}) {
		b = b[3:]
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return json.Valid(bytes.TrimSpace(b)) // the whole file is one line
	}
	return json.Valid(bytes.TrimSpace(b[:i]))
}

// decodeObject decodes one JSON object into a row's values, checking that
// every field is valid UTF-8 and naming the field that is not.
func decodeObject(pos Pos, raw []byte) (map[string]any, *Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errorf(pos, "", "empty row")
	}
	if raw[0] != '{' {
		if !utf8.Valid(raw) {
			return nil, errorf(pos, "", "not a JSON object and not UTF-8 text (invalid UTF-8)")
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, errorf(pos, "", "broken JSON: %s", jsonProblem(err))
		}
		return nil, errorf(pos, "", "expected an object, found %s", typeName(v))
	}
	if utf8.Valid(raw) {
		// The common case: a flat object, decoded in one quick pass.
		if values, ok := fastObject(raw); ok {
			return values, nil
		}
		var values map[string]any
		if err := json.Unmarshal(raw, &values); err != nil {
			return nil, errorf(pos, "", "broken JSON: %s", jsonProblem(err))
		}
		return values, nil
	}
	// Find the field with the invalid UTF-8 (encoding/json would silently
	// replace it).
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, errorf(pos, "", "broken JSON: %s", jsonProblem(err))
	}
	values := make(map[string]any, len(fields))
	for k, rv := range fields {
		if !utf8.Valid(rv) {
			return nil, errorf(pos, k, "invalid UTF-8")
		}
		if !utf8.ValidString(k) {
			return nil, errorf(pos, "", "invalid UTF-8 in a column name")
		}
		var v any
		if err := json.Unmarshal(rv, &v); err != nil {
			return nil, errorf(pos, k, "broken JSON: %s", jsonProblem(err))
		}
		values[k] = v
	}
	return values, nil
}

// jsonProblem turns an encoding/json error into a short phrase without the
// package prefix.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// multiReader reads the files of a directory one after another.
type multiReader struct {
	files []string
	cur   Reader
	next  int
}

func (m *multiReader) Next() (Row, error) {
	for {
		if m.cur == nil {
			if m.next >= len(m.files) {
				return Row{}, io.EOF
			}
			r, err := OpenFile(m.files[m.next])
			m.next++
			if err != nil {
				return Row{}, notFatal(err)
			}
			m.cur = r
		}
		row, err := m.cur.Next()
		if err == io.EOF {
			m.cur.Close()
			m.cur = nil
			continue
		}
		return row, notFatal(err)
	}
}

func (m *multiReader) Schema() []string {
	if m.cur != nil {
		return m.cur.Schema()
	}
	return nil
}

func (m *multiReader) Close() error {
	if m.cur != nil {
		return m.cur.Close()
	}
	return nil
}

// notFatal clears the Fatal mark of a file's error: the file is done, but
// the directory's other files can still be read.
func notFatal(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Fatal {
		c := *e
		c.Fatal = false
		return &c
	}
	return err
}
