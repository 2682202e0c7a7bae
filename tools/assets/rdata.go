package main

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// This file reads R's serialization format (XDR, versions 2 and 3) far
// enough to get character vectors out of an R package's data: .rda/.RData
// files ("RDX2"/"RDX3" + a tagged pairlist) and lazy-load databases
// (Rdata.rdx index + Rdata.rdb blobs), gzip-, bzip2-, xz- or zlib-compressed.

// R SEXP types and the serialization's pseudo-types.
const (
	rNIL      = 0
	rSYM      = 1
	rLIST     = 2
	rCLO      = 3
	rENV      = 4
	rPROM     = 5
	rLANG     = 6
	rCHAR     = 9
	rLGL      = 10
	rINT      = 13
	rREAL     = 14
	rCPLX     = 15
	rSTR      = 16
	rDOT      = 17
	rVEC      = 19
	rEXPR     = 20
	rRAW      = 24
	rS4       = 25
	rAltrep   = 238
	rAttrList = 239
	rAttrLang = 240
	rBaseEnv  = 241
	rEmptyEnv = 242
	rGlobal   = 253
	rNilValue = 254
	rRef      = 255
	rBaseNS   = 250
	rNSSXP    = 249
	rPkgSXP   = 248
	rPersist  = 247
	rUnbound  = 252
	rMissing  = 251
)

// robj is a decoded R object: only the parts crucible uses are kept.
type robj struct {
	Type    int
	Strings []string // STRSXP elements ("" for NA) or a SYMSXP/CHARSXP's text
	NA      []bool   // STRSXP: which elements are NA
	Ints    []int32
	Reals   []float64
	Items   []*robj // VECSXP/EXPRSXP elements, pairlist CARs in order
	Tags    []string
	Attr    *robj // attributes as a pairlist
}

// attr returns the named attribute, or nil.
func (o *robj) attr(name string) *robj {
	if o == nil || o.Attr == nil {
		return nil
	}
	for i, t := range o.Attr.Tags {
		if t == name {
			return o.Attr.Items[i]
		}
	}
	return nil
}

// rReader decodes one serialized stream.
type rReader struct {
	r    *bufio.Reader
	refs []*robj
	what string // for errors
}

func (d *rReader) int() (int32, error) {
	var b [4]byte
	if _, err := io.ReadFull(d.r, b[:]); err != nil {
		return 0, fmt.Errorf("%s: truncated stream: %w", d.what, err)
	}
	return int32(binary.BigEndian.Uint32(b[:])), nil
}

func (d *rReader) length() (int, error) {
	n, err := d.int()
	if err != nil {
		return 0, err
	}
	if n == -1 {
		hi, err := d.int()
		if err != nil {
			return 0, err
		}
		lo, err := d.int()
		if err != nil {
			return 0, err
		}
		l := int64(uint32(hi))<<32 | int64(uint32(lo))
		if l > 1<<31 {
			return 0, fmt.Errorf("%s: vector of %d elements is too long", d.what, l)
		}
		return int(l), nil
	}
	if n < 0 {
		return 0, fmt.Errorf("%s: negative length %d", d.what, n)
	}
	return int(n), nil
}

// header reads "X\n" and the version fields.
func (d *rReader) header() error {
	var f [2]byte
	if _, err := io.ReadFull(d.r, f[:]); err != nil {
		return fmt.Errorf("%s: %w", d.what, err)
	}
	if f != [2]byte{'X', '\n'} {
		return fmt.Errorf("%s: serialization format %q is not XDR (only XDR is supported)", d.what, f[:])
	}
	ver, err := d.int()
	if err != nil {
		return err
	}
	if _, err := d.int(); err != nil { // writer's R version
		return err
	}
	if _, err := d.int(); err != nil { // minimal reader R version
		return err
	}
	switch ver {
	case 2:
	case 3:
		n, err := d.int()
		if err != nil {
			return err
		}
		if n < 0 || n > 64 {
			return fmt.Errorf("%s: bad native encoding length %d", d.what, n)
		}
		if _, err := d.r.Discard(int(n)); err != nil {
			return fmt.Errorf("%s: %w", d.what, err)
		}
	default:
		return fmt.Errorf("%s: serialization version %d is not supported (want 2 or 3)", d.what, ver)
	}
	return nil
}

// item reads one object.
func (d *rReader) item() (*robj, error) {
	flags, err := d.int()
	if err != nil {
		return nil, err
	}
	typ := int(flags & 0xff)
	hasAttr := flags&(1<<9) != 0
	hasTag := flags&(1<<10) != 0
	switch typ {
	case rNilValue, rEmptyEnv, rBaseEnv, rGlobal, rUnbound, rMissing, rBaseNS:
		return &robj{Type: rNIL}, nil
	case rRef:
		idx := int(flags >> 8)
		if idx == 0 {
			v, err := d.int()
			if err != nil {
				return nil, err
			}
			idx = int(v)
		}
		if idx < 1 || idx > len(d.refs) {
			return nil, fmt.Errorf("%s: reference %d out of range (%d known)", d.what, idx, len(d.refs))
		}
		return d.refs[idx-1], nil
	case rPersist, rNSSXP, rPkgSXP:
		// A persistent name: a STRSXP-like vector of strings, added to the
		// reference table.
		if _, err := d.int(); err != nil { // always 0
			return nil, err
		}
		n, err := d.length()
		if err != nil {
			return nil, err
		}
		o := &robj{Type: typ}
		for range n {
			s, err := d.item()
			if err != nil {
				return nil, err
			}
			o.Strings = append(o.Strings, s.text())
		}
		d.refs = append(d.refs, o)
		return o, nil
	case rSYM:
		name, err := d.item()
		if err != nil {
			return nil, err
		}
		o := &robj{Type: rSYM, Strings: []string{name.text()}}
		d.refs = append(d.refs, o)
		return o, nil
	case rENV:
		o := &robj{Type: rENV}
		d.refs = append(d.refs, o)
		if _, err := d.int(); err != nil { // locked
			return nil, err
		}
		for range 4 { // enclosure, frame, hash table, attributes
			if _, err := d.item(); err != nil {
				return nil, err
			}
		}
		return o, nil
	case rLIST, rLANG, rCLO, rPROM, rDOT, rAttrList, rAttrLang:
		return d.pairlist(typ, hasAttr, hasTag)
	case rAltrep:
		return d.altrep()
	}
	o := &robj{Type: typ}
	switch typ {
	case rCHAR:
		n, err := d.int()
		if err != nil {
			return nil, err
		}
		if n == -1 {
			o.NA = []bool{true}
			o.Strings = []string{""}
			break
		}
		if n < 0 {
			return nil, fmt.Errorf("%s: CHARSXP length %d", d.what, n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(d.r, b); err != nil {
			return nil, fmt.Errorf("%s: truncated string: %w", d.what, err)
		}
		o.Strings = []string{string(b)}
		o.NA = []bool{false}
	case rLGL, rINT:
		n, err := d.length()
		if err != nil {
			return nil, err
		}
		o.Ints = make([]int32, n)
		for i := range o.Ints {
			if o.Ints[i], err = d.int(); err != nil {
				return nil, err
			}
		}
	case rREAL, rCPLX:
		n, err := d.length()
		if err != nil {
			return nil, err
		}
		if typ == rCPLX {
			n *= 2
		}
		o.Reals = make([]float64, n)
		var b [8]byte
		for i := range o.Reals {
			if _, err := io.ReadFull(d.r, b[:]); err != nil {
				return nil, fmt.Errorf("%s: truncated doubles: %w", d.what, err)
			}
			o.Reals[i] = math.Float64frombits(binary.BigEndian.Uint64(b[:]))
		}
	case rRAW:
		n, err := d.length()
		if err != nil {
			return nil, err
		}
		if _, err := d.r.Discard(n); err != nil {
			return nil, fmt.Errorf("%s: %w", d.what, err)
		}
	case rSTR:
		n, err := d.length()
		if err != nil {
			return nil, err
		}
		o.Strings = make([]string, n)
		o.NA = make([]bool, n)
		for i := range n {
			c, err := d.item()
			if err != nil {
				return nil, err
			}
			if c.Type != rCHAR {
				return nil, fmt.Errorf("%s: element %d of a character vector has type %d, want CHARSXP", d.what, i, c.Type)
			}
			o.Strings[i], o.NA[i] = c.Strings[0], c.NA[0]
		}
	case rVEC, rEXPR:
		n, err := d.length()
		if err != nil {
			return nil, err
		}
		o.Items = make([]*robj, n)
		for i := range n {
			if o.Items[i], err = d.item(); err != nil {
				return nil, err
			}
		}
	case rS4:
	default:
		return nil, fmt.Errorf("%s: R object type %d is not supported", d.what, typ)
	}
	if hasAttr {
		a, err := d.item()
		if err != nil {
			return nil, err
		}
		o.Attr = a
	}
	return o, nil
}

// pairlist reads a pairlist (or language object, closure, promise),
// iteratively along its CDRs, into one object with Items and Tags.
func (d *rReader) pairlist(typ int, hasAttr, hasTag bool) (*robj, error) {
	o := &robj{Type: typ}
	for {
		if hasAttr {
			a, err := d.item()
			if err != nil {
				return nil, err
			}
			if o.Attr == nil {
				o.Attr = a
			}
		}
		tag := ""
		if hasTag {
			t, err := d.item()
			if err != nil {
				return nil, err
			}
			tag = t.text()
		}
		car, err := d.item()
		if err != nil {
			return nil, err
		}
		o.Items = append(o.Items, car)
		o.Tags = append(o.Tags, tag)
		// The CDR: another cell of a pairlist-like type continues the list.
		flags, err := d.int()
		if err != nil {
			return nil, err
		}
		t := int(flags & 0xff)
		switch t {
		case rLIST, rLANG, rCLO, rPROM, rDOT, rAttrList, rAttrLang:
			hasAttr, hasTag = flags&(1<<9) != 0, flags&(1<<10) != 0
			continue
		case rNilValue:
			return o, nil
		}
		// Any other CDR (rare: a dotted pair) is read and kept as an item.
		rest, err := d.itemWithFlags(flags)
		if err != nil {
			return nil, err
		}
		o.Items = append(o.Items, rest)
		o.Tags = append(o.Tags, "")
		return o, nil
	}
}

// itemWithFlags reads an object whose flags word was already consumed.
func (d *rReader) itemWithFlags(flags int32) (*robj, error) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(flags))
	d.r = bufio.NewReader(io.MultiReader(bytes.NewReader(b[:]), d.r))
	return d.item()
}

// altrep reads an ALTREP object: its class info, state and attributes, and
// expands the classes R writes for plain vectors (compact sequences,
// wrappers, deferred strings).
func (d *rReader) altrep() (*robj, error) {
	info, err := d.item()
	if err != nil {
		return nil, err
	}
	state, err := d.item()
	if err != nil {
		return nil, err
	}
	attr, err := d.item()
	if err != nil {
		return nil, err
	}
	class := ""
	if len(info.Items) > 0 {
		class = info.Items[0].text()
	}
	var o *robj
	switch class {
	case "compact_intseq":
		if len(state.Reals) != 3 {
			return nil, fmt.Errorf("%s: compact_intseq state has %d values, want 3", d.what, len(state.Reals))
		}
		n, start, step := int(state.Reals[0]), int32(state.Reals[1]), int32(state.Reals[2])
		o = &robj{Type: rINT, Ints: make([]int32, n)}
		for i := range o.Ints {
			o.Ints[i] = start + int32(i)*step
		}
	case "compact_realseq":
		if len(state.Reals) != 3 {
			return nil, fmt.Errorf("%s: compact_realseq state has %d values, want 3", d.what, len(state.Reals))
		}
		n := int(state.Reals[0])
		o = &robj{Type: rREAL, Reals: make([]float64, n)}
		for i := range o.Reals {
			o.Reals[i] = state.Reals[1] + float64(i)*state.Reals[2]
		}
	case "wrap_integer", "wrap_logical", "wrap_real", "wrap_string", "wrap_list", "wrap_complex", "wrap_raw":
		if len(state.Items) < 1 {
			return nil, fmt.Errorf("%s: %s state is empty", d.what, class)
		}
		c := *state.Items[0]
		o = &c
	case "deferred_string":
		if len(state.Items) < 1 {
			return nil, fmt.Errorf("%s: deferred_string state is empty", d.what)
		}
		arg := state.Items[0]
		o = &robj{Type: rSTR}
		for _, v := range arg.Ints {
			o.Strings = append(o.Strings, fmt.Sprint(v))
		}
		for _, v := range arg.Reals {
			o.Strings = append(o.Strings, fmt.Sprint(v))
		}
		o.NA = make([]bool, len(o.Strings))
	default:
		return nil, fmt.Errorf("%s: ALTREP class %q is not supported", d.what, class)
	}
	if attr.Type != rNIL {
		o.Attr = attr
	}
	return o, nil
}

// text is a symbol's or CHARSXP's text.
func (o *robj) text() string {
	if o == nil || len(o.Strings) == 0 {
		return ""
	}
	return o.Strings[0]
}

// decompress opens a gzip, bzip2, xz or uncompressed stream by its magic.
func decompress(b []byte, what string) (io.Reader, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return zr, nil
	case bytes.HasPrefix(b, []byte("BZh")):
		return bzip2.NewReader(bytes.NewReader(b)), nil
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return xzDecode(b, what)
	}
	return bytes.NewReader(b), nil
}

// xzDecode runs the system's xz: the standard library has no xz decoder,
// and this builder runs only at development time.
func xzDecode(b []byte, what string) (io.Reader, error) {
	cmd := exec.Command("xz", "-dc")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: xz-compressed; decompressing with xz: %w", what, err)
	}
	return bytes.NewReader(out), nil
}

// readRDA reads an .rda/.RData file: the variables it saves, by name.
func readRDA(path string) (map[string]*robj, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := decompress(b, path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(r)
	magic := make([]byte, 5)
	if _, err := io.ReadFull(br, magic); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s := string(magic); s != "RDX2\n" && s != "RDX3\n" {
		return nil, fmt.Errorf("%s: magic %q is not RDX2/RDX3 (an XDR .rda file)", path, s)
	}
	d := &rReader{r: br, what: path}
	if err := d.header(); err != nil {
		return nil, err
	}
	top, err := d.item()
	if err != nil {
		return nil, err
	}
	out := map[string]*robj{}
	for i, t := range top.Tags {
		out[t] = top.Items[i]
	}
	return out, nil
}

// readLazyLoad reads every variable of a lazy-load database (base.rdx and
// base.rdb, e.g. an R package's data/Rdata.rdx).
func readLazyLoad(rdx string) (map[string]*robj, error) {
	base := strings.TrimSuffix(rdx, filepath.Ext(rdx))
	b, err := os.ReadFile(rdx)
	if err != nil {
		return nil, err
	}
	r, err := decompress(b, rdx)
	if err != nil {
		return nil, err
	}
	d := &rReader{r: bufio.NewReader(r), what: rdx}
	if err := d.header(); err != nil {
		return nil, err
	}
	index, err := d.item()
	if err != nil {
		return nil, err
	}
	var vars, compressed *robj
	for i, t := range index.attr("names").Strings {
		switch t {
		case "variables":
			vars = index.Items[i]
		case "compressed":
			compressed = index.Items[i]
		}
	}
	if vars == nil {
		return nil, fmt.Errorf("%s: no variables in the index", rdx)
	}
	kind := 1
	if compressed != nil {
		switch {
		case len(compressed.Ints) > 0:
			kind = int(compressed.Ints[0])
		case len(compressed.Reals) > 0:
			kind = int(compressed.Reals[0])
		}
	}
	db, err := os.ReadFile(base + ".rdb")
	if err != nil {
		return nil, err
	}
	out := map[string]*robj{}
	for i, name := range vars.attr("names").Strings {
		key := vars.Items[i]
		var off, n int
		switch {
		case len(key.Ints) == 2:
			off, n = int(key.Ints[0]), int(key.Ints[1])
		case len(key.Reals) == 2:
			off, n = int(key.Reals[0]), int(key.Reals[1])
		default:
			return nil, fmt.Errorf("%s: variable %q: bad key", rdx, name)
		}
		if off < 0 || n < 5 || off+n > len(db) {
			return nil, fmt.Errorf("%s.rdb: variable %q at [%d, %d) is outside the file (%d bytes)", base, name, off, off+n, len(db))
		}
		what := fmt.Sprintf("%s.rdb: variable %q", base, name)
		blob, err := inflateBlob(db[off:off+n], kind, what)
		if err != nil {
			return nil, err
		}
		vd := &rReader{r: bufio.NewReader(bytes.NewReader(blob)), what: what}
		if err := vd.header(); err != nil {
			return nil, err
		}
		if out[name], err = vd.item(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// inflateBlob decodes one lazy-load record: a big-endian uncompressed
// length, then (compression 2 and 3) a type byte, then the data.
func inflateBlob(b []byte, kind int, what string) ([]byte, error) {
	size := int(binary.BigEndian.Uint32(b[:4]))
	body := b[4:]
	var r io.Reader
	switch kind {
	case 0:
		return body, nil
	case 1:
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		r = zr
	case 2, 3:
		t := body[0]
		body = body[1:]
		switch t {
		case '0':
			return body, nil
		case '2':
			r = bzip2.NewReader(bytes.NewReader(body))
		case 'Z':
			// R writes a raw LZMA2 stream in an xz container.
			xr, err := xzDecode(body, what)
			if err != nil {
				return nil, err
			}
			r = xr
		case '1':
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			r = zr
		default:
			return nil, fmt.Errorf("%s: unknown compression type %q", what, t)
		}
	default:
		return nil, fmt.Errorf("%s: unknown compression %d", what, kind)
	}
	out := make([]byte, 0, size)
	buf := bytes.NewBuffer(out)
	if _, err := io.Copy(buf, r); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if buf.Len() != size {
		return nil, fmt.Errorf("%s: inflated to %d bytes, header says %d", what, buf.Len(), size)
	}
	return buf.Bytes(), nil
}

// errNotCharacter is returned for a variable that is not a character vector.
var errNotCharacter = errors.New("not a character vector")

// characterVector returns a variable's strings (NA elements as "").
func characterVector(o *robj) ([]string, error) {
	if o == nil || o.Type != rSTR {
		return nil, errNotCharacter
	}
	return o.Strings, nil
}
