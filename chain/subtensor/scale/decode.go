package scale

import (
	"encoding/binary"
	"fmt"
	"math/big"
)

// Error is a decoding failure: where in the input and what was being read.
type Error struct {
	Offset int    // byte offset at which the failing read started
	What   string // what was being read, e.g. "u32" or "field hotkey"
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("scale: at byte %d: %s: %s", e.Offset, e.What, e.Reason)
}

// Decoder reads SCALE values from a byte slice. After the first failure
// every read returns a zero value and Err reports that failure.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a decoder reading p from its start.
func NewDecoder(p []byte) *Decoder { return &Decoder{b: p} }

// Err returns the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Offset returns the number of bytes consumed.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// Fail records err (if none is recorded yet) at the current offset.
func (d *Decoder) Fail(what, format string, args ...any) {
	if d.err == nil {
		d.err = &Error{Offset: d.off, What: what, Reason: fmt.Sprintf(format, args...)}
	}
}

// Done fails unless every byte was consumed: trailing bytes mean the input
// is not of the expected type.
func (d *Decoder) Done(what string) error {
	if d.err == nil && d.Remaining() != 0 {
		d.Fail(what, "%d trailing bytes after the value", d.Remaining())
	}
	return d.err
}

// Take returns the next n bytes (a sub-slice of the input, not a copy).
func (d *Decoder) Take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.Remaining() {
		d.Fail(what, "need %d bytes, %d left", n, d.Remaining())
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

// U8 reads a byte.
func (d *Decoder) U8() uint8 {
	p := d.Take(1, "u8")
	if p == nil {
		return 0
	}
	return p[0]
}

// U16 reads a little-endian u16.
func (d *Decoder) U16() uint16 {
	p := d.Take(2, "u16")
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(p)
}

// U32 reads a little-endian u32.
func (d *Decoder) U32() uint32 {
	p := d.Take(4, "u32")
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

// U64 reads a little-endian u64.
func (d *Decoder) U64() uint64 {
	p := d.Take(8, "u64")
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// U128 reads a little-endian u128.
func (d *Decoder) U128() Uint128 {
	p := d.Take(16, "u128")
	if p == nil {
		return Uint128{}
	}
	return Uint128{Lo: binary.LittleEndian.Uint64(p), Hi: binary.LittleEndian.Uint64(p[8:])}
}

// Bool reads a boolean; any byte other than 0 or 1 is an error.
func (d *Decoder) Bool() bool {
	start := d.off
	switch d.U8() {
	case 0:
		return false
	case 1:
		return true
	}
	if d.err == nil {
		d.err = &Error{Offset: start, What: "bool", Reason: fmt.Sprintf("byte 0x%02x is neither 0 nor 1", d.b[start])}
	}
	return false
}

// Compact reads a compact integer that fits in 64 bits. Like Substrate's
// codec it refuses a value encoded in more bytes than it needs.
func (d *Decoder) Compact() uint64 {
	v := d.CompactBig()
	if v == nil {
		return 0
	}
	if !v.IsUint64() {
		d.Fail("compact", "value %s exceeds 64 bits", v)
		return 0
	}
	return v.Uint64()
}

// CompactBig reads a compact integer of any size (nil after an error).
func (d *Decoder) CompactBig() *big.Int {
	start := d.off
	first := d.Take(1, "compact")
	if first == nil {
		return nil
	}
	d.off = start
	var v uint64
	switch first[0] & 3 {
	case 0:
		d.off++
		return new(big.Int).SetUint64(uint64(first[0] >> 2))
	case 1:
		v = uint64(d.U16() >> 2)
		if d.err == nil && v < 1<<6 {
			d.fail(start, "compact", "non-canonical encoding of %d", v)
		}
	case 2:
		v = uint64(d.U32() >> 2)
		if d.err == nil && v < 1<<14 {
			d.fail(start, "compact", "non-canonical encoding of %d", v)
		}
	default:
		d.off++
		n := int(first[0]>>2) + 4
		p := d.Take(n, "compact")
		if p == nil {
			return nil
		}
		if p[n-1] == 0 {
			d.fail(start, "compact", "non-canonical encoding: top byte is zero")
			return nil
		}
		be := reverse(p)
		x := new(big.Int).SetBytes(be)
		if x.IsUint64() && x.Uint64() < 1<<30 {
			d.fail(start, "compact", "non-canonical encoding of %s", x)
			return nil
		}
		return x
	}
	if d.err != nil {
		return nil
	}
	return new(big.Int).SetUint64(v)
}

func (d *Decoder) fail(at int, what, format string, args ...any) {
	if d.err == nil {
		d.err = &Error{Offset: at, What: what, Reason: fmt.Sprintf(format, args...)}
	}
}

// Len reads a compact length prefix and checks it against the bytes left,
// given that each element takes at least minSize bytes (use 0 for elements
// that may be empty; such sequences are capped at 1<<20 elements).
func (d *Decoder) Len(what string, minSize int) int {
	start := d.off
	n := d.Compact()
	if d.err != nil {
		return 0
	}
	limit := uint64(1 << 20)
	if minSize > 0 {
		limit = uint64(d.Remaining() / minSize)
	}
	if n > limit {
		d.fail(start, what, "length %d is more than the %d bytes left can hold", n, d.Remaining())
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed byte string (a sub-slice of the input).
func (d *Decoder) Bytes() []byte {
	n := d.Len("bytes", 1)
	return d.Take(n, "bytes")
}

// Text reads a length-prefixed byte string as text.
func (d *Decoder) Text() string { return string(d.Bytes()) }

// Option reads an Option's tag: true for Some (the value follows).
func (d *Decoder) Option() bool {
	start := d.off
	switch d.U8() {
	case 0:
		return false
	case 1:
		return true
	}
	if d.err == nil {
		d.fail(start, "option", "tag 0x%02x is neither 0 (None) nor 1 (Some)", d.b[start])
	}
	return false
}

// Texts reads a Vec<String>.
func (d *Decoder) Texts() []string {
	n := d.Len("strings", 1)
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.Text())
	}
	return out
}
