package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// xdr writes R's XDR serialization for tests.
type xdr struct{ bytes.Buffer }

func (x *xdr) int(v int32) { binary.Write(&x.Buffer, binary.BigEndian, v) }

func (x *xdr) header() {
	x.WriteString("X\n")
	x.int(3)
	x.int(0x040201) // written by R 4.2.1
	x.int(0x030500) // readable from R 3.5.0
	x.int(5)
	x.WriteString("UTF-8")
}

func (x *xdr) char(s string, na bool) {
	x.int(0x00040009) // CHARSXP, UTF-8 flag
	if na {
		x.int(-1)
		return
	}
	x.int(int32(len(s)))
	x.WriteString(s)
}

func (x *xdr) strs(vals ...string) {
	x.int(rSTR)
	x.int(int32(len(vals)))
	for _, v := range vals {
		x.char(v, v == "NA")
	}
}

func (x *xdr) sym(name string) {
	x.int(rSYM)
	x.char(name, false)
}

// namedList writes list(name1=..., ...) with a names attribute; each
// value is written by its function.
func (x *xdr) namedList(names []string, values ...func()) {
	x.int(rVEC | 1<<9) // has attributes
	x.int(int32(len(values)))
	for _, v := range values {
		v()
	}
	x.int(rLIST | 1<<10) // attribute pairlist cell with a tag
	x.sym("names")
	x.strs(names...)
	x.int(rNilValue)
}

func (x *xdr) ints(vals ...int32) {
	x.int(rINT)
	x.int(int32(len(vals)))
	for _, v := range vals {
		x.int(v)
	}
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestReadRDA(t *testing.T) {
	var x xdr
	x.WriteString("RDX3\n")
	x.header()
	x.int(rLIST | 1<<10)
	x.sym("emma")
	x.strs("EMMA", "", "NA", "Emma Woodhouse, handsome, clever, and rich,")
	x.int(rLIST | 1<<10)
	x.sym("persuasion")
	x.strs("Sir Walter Elliot, of Kellynch Hall")
	x.int(rLIST | 1<<10)
	x.int(1<<8 | rRef) // the symbol "emma" again, by reference
	x.ints(7)
	x.int(rNilValue)
	path := filepath.Join(t.TempDir(), "books.rda")
	if err := os.WriteFile(path, gz(x.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
	vars, err := readRDA(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := characterVector(vars["persuasion"])
	if err != nil || !slices.Equal(got, []string{"Sir Walter Elliot, of Kellynch Hall"}) {
		t.Fatalf("persuasion = %q, %v", got, err)
	}
	// The third cell is tagged "emma" through a reference and replaces
	// the first in the map: an integer vector, not characters.
	if _, err := characterVector(vars["emma"]); err != errNotCharacter {
		t.Fatalf("emma: err = %v, want errNotCharacter", err)
	}
	if v := vars["emma"]; v.Type != rINT || !slices.Equal(v.Ints, []int32{7}) {
		t.Fatalf("emma = %+v", v)
	}
}

func TestReadLazyLoad(t *testing.T) {
	dir := t.TempDir()
	// One variable, serialized and zlib-compressed into the .rdb.
	var v xdr
	v.header()
	v.strs("It is a truth universally acknowledged,", "", "NA")
	var blob bytes.Buffer
	binary.Write(&blob, binary.BigEndian, uint32(v.Len()))
	zw := zlib.NewWriter(&blob)
	zw.Write(v.Bytes())
	zw.Close()
	pad := []byte("0123456789") // the variable need not start at 0
	rdb := append(pad, blob.Bytes()...)
	if err := os.WriteFile(filepath.Join(dir, "Rdata.rdb"), rdb, 0o644); err != nil {
		t.Fatal(err)
	}
	var idx xdr
	idx.header()
	idx.namedList([]string{"variables", "references", "compressed"},
		func() {
			idx.namedList([]string{"prideprejudice"}, func() { idx.ints(int32(len(pad)), int32(blob.Len())) })
		},
		func() { idx.int(rVEC); idx.int(0) },
		func() { idx.int(rLGL); idx.int(1); idx.int(1) },
	)
	if err := os.WriteFile(filepath.Join(dir, "Rdata.rdx"), gz(idx.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
	vars, err := readLazyLoad(filepath.Join(dir, "Rdata.rdx"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := characterVector(vars["prideprejudice"])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"It is a truth universally acknowledged,", "", ""}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if na := vars["prideprejudice"].NA; !slices.Equal(na, []bool{false, false, true}) {
		t.Fatalf("NA = %v", na)
	}

	// A damaged database is an error naming the file, not a panic.
	if err := os.WriteFile(filepath.Join(dir, "Rdata.rdb"), rdb[:len(rdb)-8], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readLazyLoad(filepath.Join(dir, "Rdata.rdx")); err == nil || !strings.Contains(err.Error(), "Rdata.rdb") {
		t.Fatalf("truncated rdb: err = %v", err)
	}
}

func TestRReaderErrors(t *testing.T) {
	full := func() []byte {
		var x xdr
		x.header()
		x.strs("a", "b")
		return x.Bytes()
	}()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"ascii format", []byte("A\n3\n"), "not XDR"},
		{"truncated", full[:len(full)-3], "truncated"},
		{"unknown type", slices.Concat(full[:23], []byte{0, 0, 0, 99}), "type 99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &rReader{r: bufioReader(tc.data), what: "test"}
			err := d.header()
			if err == nil {
				_, err = d.item()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
