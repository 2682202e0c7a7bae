package data

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

// parquetReader reads a Parquet file row by row (the library reads pages as
// needed, so memory is bounded by a row group's page, not the file).
type parquetReader struct {
	path   string
	f      *os.File
	r      *parquet.Reader
	schema []string
	row    int
	done   bool
}

func openParquet(path string) (r Reader, err error) {
	defer func() {
		// The library panics on some malformed files; a bad file must be an
		// error, never a crash.
		if p := recover(); p != nil {
			r, err = nil, &Error{Pos: Pos{File: path}, Problem: fmt.Sprintf("not a readable Parquet file: %v", p), Fatal: true}
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	if st.Size() == 0 {
		f.Close()
		return nil, &Error{Pos: Pos{File: path, Line: 1}, Problem: "empty file", Fatal: true}
	}
	if err := checkFooter(f, st.Size()); err != nil {
		f.Close()
		return nil, &Error{Pos: Pos{File: path}, Problem: "not a readable Parquet file: " + err.Error(), Fatal: true}
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, &Error{Pos: Pos{File: path}, Problem: "not a readable Parquet file: " + err.Error(), Fatal: true}
	}
	p := &parquetReader{path: path, f: f, r: parquet.NewReader(pf)}
	for _, field := range pf.Schema().Fields() {
		p.schema = append(p.schema, field.Name())
	}
	return p, nil
}

// checkFooter checks the footer length a Parquet file declares against its
// size before the library allocates a buffer of that length: a damaged
// length would otherwise ask for gigabytes.
func checkFooter(f *os.File, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes is too short", size)
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if m := string(tail[4:]); m != "PAR1" && m != "PARE" {
		return fmt.Errorf("no Parquet magic at the end (found %q)", m)
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n+12 > size {
		return fmt.Errorf("the footer claims %d bytes of a %d-byte file", n, size)
	}
	return nil
}

func (p *parquetReader) Schema() []string { return p.schema }
func (p *parquetReader) Close() error {
	p.r.Close()
	return p.f.Close()
}

func (p *parquetReader) Next() (row Row, err error) {
	if p.done {
		return Row{}, io.EOF
	}
	pos := Pos{File: p.path, Row: p.row}
	defer func() {
		// The library panics on some malformed pages; a bad file must be
		// an error, never a crash.
		if r := recover(); r != nil {
			p.done = true
			row, err = Row{}, fatalf(pos, "", "corrupt Parquet data: %v", r)
		}
	}()
	values := map[string]any{}
	if err := p.r.Read(&values); err != nil {
		p.done = true
		if err == io.EOF {
			return Row{}, io.EOF
		}
		return Row{}, fatalf(pos, "", "read Parquet row: %v", err)
	}
	p.row++
	for k, v := range values {
		if !validUTF8(v) {
			return Row{}, errorf(pos, k, "invalid UTF-8")
		}
	}
	return Row{Pos: pos, Values: values}, nil
}

// validUTF8 reports whether every string inside v is valid UTF-8.
func validUTF8(v any) bool {
	switch v := v.(type) {
	case string:
		return utf8.ValidString(v)
	case []any:
		for _, e := range v {
			if !validUTF8(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range v {
			if !utf8.ValidString(k) || !validUTF8(e) {
				return false
			}
		}
	}
	return true
}
