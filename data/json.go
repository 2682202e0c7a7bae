package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonReader streams the elements of a top-level JSON array with a
// json.Decoder, one element in memory at a time.
type jsonReader struct {
	path    string
	lines   *lineCounter
	dec     *json.Decoder
	close   func() error
	row     int
	started bool
	done    bool
	field   string // the key of the array, when an object wraps it
}

func newJSONReader(path string, r io.Reader, close func() error, skippedLines int) *jsonReader {
	lc := &lineCounter{r: r, line: 1 + skippedLines}
	return &jsonReader{path: path, lines: lc, dec: json.NewDecoder(lc), close: close}
}

func (j *jsonReader) Schema() []string { return nil }
func (j *jsonReader) Close() error     { return j.close() }

func (j *jsonReader) Next() (Row, error) {
	raw, pos, err := j.nextRaw()
	if err != nil {
		return Row{}, err
	}
	values, perr := decodeObject(pos, raw)
	if perr != nil {
		return Row{}, perr
	}
	return Row{Pos: pos, Values: values}, nil
}

// nextRaw returns the bytes of the next element of the array and the
// position of its row.
func (j *jsonReader) nextRaw() ([]byte, Pos, error) {
	if j.done {
		return nil, Pos{}, io.EOF
	}
	if !j.started {
		j.started = true
		if err := j.start(); err != nil {
			j.done = true
			return nil, Pos{}, err
		}
	}
	if !j.dec.More() {
		// Consume the closing bracket and make sure nothing follows.
		j.done = true
		if _, err := j.dec.Token(); err != nil {
			return nil, Pos{}, j.fail(err)
		}
		if j.field != "" {
			return nil, Pos{}, io.EOF // the rest of the wrapping object is not data
		}
		if tok, err := j.dec.Token(); err != io.EOF {
			if err != nil {
				return nil, Pos{}, j.fail(err)
			}
			return nil, Pos{}, fatalf(j.pos(j.dec.InputOffset()), "", "unexpected %v after the closing ]", tok)
		}
		return nil, Pos{}, io.EOF
	}
	// Remember where this element starts, so that a syntax error inside it
	// can be placed exactly.
	j.lines.lineAt(j.dec.InputOffset())
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		return nil, Pos{}, j.fail(err)
	}
	pos := j.pos(j.dec.InputOffset() - int64(len(raw)))
	j.row++
	return raw, pos, nil
}

// start consumes the opening of the array of rows: the file's top-level
// array, or the first array-valued field of a top-level object (as in
// {"data": [...]}).
func (j *jsonReader) start() error {
	notData := func(found string) error {
		return fatalf(Pos{File: j.path, Line: 1}, "", "a .json dataset must be an array of objects, one object per line, or an object holding such an array; found %s", found)
	}
	tok, err := j.dec.Token()
	if err != nil {
		return j.fail(err)
	}
	switch tok {
	case json.Delim('['):
		return nil
	case json.Delim('{'):
	default:
		return notData(fmt.Sprintf("%v", tok))
	}
	for j.dec.More() {
		key, err := j.dec.Token()
		if err != nil {
			return j.fail(err)
		}
		val, err := j.dec.Token()
		if err != nil {
			return j.fail(err)
		}
		if val == json.Delim('[') {
			j.field = fmt.Sprint(key)
			return nil
		}
		if val == json.Delim('{') { // skip a nested object
			for depth := 1; depth > 0; {
				t, err := j.dec.Token()
				if err != nil {
					return j.fail(err)
				}
				switch t {
				case json.Delim('{'), json.Delim('['):
					depth++
				case json.Delim('}'), json.Delim(']'):
					depth--
				}
			}
		}
	}
	return notData("an object with no list in it (one pretty-printed row?)")
}

// pos returns the position of the byte at off, as the next row.
func (j *jsonReader) pos(off int64) Pos {
	return Pos{File: j.path, Line: j.lines.lineAt(off), Row: j.row}
}

// fail turns a decoder error into a fatal positioned error: after a syntax
// error the rest of an array cannot be found reliably.
func (j *jsonReader) fail(err error) error {
	j.done = true
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if pos, msg, ok := j.locate(); ok {
			return fatalf(pos, "", "broken JSON: %s", msg)
		}
		return fatalf(j.pos(se.Offset), "", "broken JSON: %s", se.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return fatalf(j.pos(j.lines.offset()), "", "broken JSON: unexpected end of file (unclosed array or object)")
	}
	return fmt.Errorf("read %s: %w", j.path, err)
}

// locate re-scans the element that failed to decode, from the bytes the line
// counter still holds, and returns the position and text of the syntax error
// in it. (The decoder's own offsets skip the bytes consumed as delimiters, so
// they cannot be trusted for lines.)
func (j *jsonReader) locate() (Pos, string, bool) {
	buf := j.lines.buf
	i := 0
	for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == ',') {
		i++
	}
	var raw json.RawMessage
	err := json.NewDecoder(bytes.NewReader(buf[i:])).Decode(&raw)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return Pos{}, "", false
	}
	off := int64(i) + se.Offset
	if off > int64(len(buf)) {
		off = int64(len(buf))
	}
	line := j.lines.line + bytes.Count(buf[:off], []byte{'\n'})
	return Pos{File: j.path, Line: line, Row: j.row}, se.Error(), true
}

// lineCounter passes bytes through to a json.Decoder and answers which line
// a given offset is on. It keeps only the bytes between the last offset asked
// about and the read position (about one row plus the decoder's read-ahead),
// so memory stays constant whatever the file size. Offsets must be asked in
// increasing order; earlier ones get the last answer.
type lineCounter struct {
	r    io.Reader
	buf  []byte // bytes from base up to the read position
	base int64  // offset of buf[0]
	line int    // line number at base
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf = append(c.buf, p[:n]...)
	return n, err
}

func (c *lineCounter) offset() int64 { return c.base + int64(len(c.buf)) }

func (c *lineCounter) lineAt(off int64) int {
	k := off - c.base
	if k <= 0 {
		return c.line
	}
	if k > int64(len(c.buf)) {
		k = int64(len(c.buf))
	}
	c.line += bytes.Count(c.buf[:k], []byte{'\n'})
	c.buf = append(c.buf[:0], c.buf[k:]...)
	c.base += k
	return c.line
}

// maxRowBytes bounds one JSON Lines row, so that a file without line
// breaks cannot take all memory.
var maxRowBytes = 64 << 20

// sizeText renders a byte count in KiB or MiB.
func sizeText(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// jsonlReader reads one JSON object per line; blank lines are skipped.
type jsonlReader struct {
	path  string
	br    *bufio.Reader
	close func() error
	line  int
	row   int
	buf   []byte
}

func newJSONLReader(path string, br *bufio.Reader, close func() error, skippedLines int) *jsonlReader {
	return &jsonlReader{path: path, br: br, close: close, line: skippedLines}
}

func (j *jsonlReader) Schema() []string { return nil }
func (j *jsonlReader) Close() error     { return j.close() }

func (j *jsonlReader) Next() (Row, error) {
	line, pos, err := j.nextLine()
	if err != nil {
		return Row{}, err
	}
	values, perr := decodeObject(pos, line)
	if perr != nil {
		return Row{}, perr
	}
	return Row{Pos: pos, Values: values}, nil
}

// nextLine returns the next non-blank line and the position of its row.
func (j *jsonlReader) nextLine() ([]byte, Pos, error) {
	for {
		line, err := j.readLine()
		if err != nil {
			return nil, Pos{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		pos := Pos{File: j.path, Line: j.line, Row: j.row}
		j.row++
		return line, pos, nil
	}
}

// readLine returns the next line without its end of line, reusing one
// buffer; the line is valid until the next call.
func (j *jsonlReader) readLine() ([]byte, error) {
	j.buf = j.buf[:0]
	tooLong := false
	for {
		chunk, err := j.br.ReadSlice('\n')
		if !tooLong {
			j.buf = append(j.buf, chunk...)
		}
		if len(j.buf) > maxRowBytes {
			tooLong, j.buf = true, j.buf[:0]
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong && (err == nil || err == io.EOF) {
			j.line++
			pos := Pos{File: j.path, Line: j.line, Row: j.row}
			j.row++
			return nil, errorf(pos, "", "row longer than %s", sizeText(maxRowBytes))
		}
		if err == io.EOF && len(j.buf) > 0 {
			err = nil
		}
		if err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("read %s: %w", j.path, err)
		}
		j.line++
		return bytes.TrimRight(j.buf, "\r\n"), nil
	}
}
