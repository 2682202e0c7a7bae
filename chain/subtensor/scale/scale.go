// Package scale is the SCALE codec of Substrate chains (Subtensor among
// them): fixed-width little-endian integers, compact integers, booleans,
// length-prefixed byte strings, options and sequences. Higher-level types
// (structs, enums, the chain's own types) are built from these by the
// metadata package, which reads their shapes from the chain's metadata.
//
// Encoding appends to a byte slice. Decoding reads from a Decoder that keeps
// the first error it meets (with the byte offset and what was being read),
// so a caller reads a whole structure and checks Err once.
package scale

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
)

// AppendU8 appends v.
func AppendU8(b []byte, v uint8) []byte { return append(b, v) }

// AppendU16 appends v little-endian.
func AppendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }

// AppendU32 appends v little-endian.
func AppendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// AppendU64 appends v little-endian.
func AppendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// AppendU128 appends the 128-bit integer hi·2⁶⁴+lo little-endian.
func AppendU128(b []byte, lo, hi uint64) []byte { return AppendU64(AppendU64(b, lo), hi) }

// AppendBool appends 0x01 for true and 0x00 for false.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendCompact appends v in the compact (general integer) encoding: one,
// two or four bytes for values below 2⁶, 2¹⁴ and 2³⁰, else a length byte
// and the value's significant little-endian bytes.
func AppendCompact(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v<<2))
	case v < 1<<14:
		return AppendU16(b, uint16(v<<2|1))
	case v < 1<<30:
		return AppendU32(b, uint32(v<<2|2))
	}
	n := (bits.Len64(v) + 7) / 8
	b = append(b, byte((n-4)<<2|3))
	for i := 0; i < n; i++ {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// AppendCompactBig appends a non-negative big integer below 2⁵³⁶ in the
// compact encoding (for u128 balances and the like).
func AppendCompactBig(b []byte, v *big.Int) ([]byte, error) {
	if v.Sign() < 0 {
		return b, fmt.Errorf("scale: compact of negative %s", v)
	}
	if v.IsUint64() {
		return AppendCompact(b, v.Uint64()), nil
	}
	le := reverse(v.Bytes())
	if len(le) > 67 {
		return b, fmt.Errorf("scale: compact of %d-byte integer exceeds 67 bytes", len(le))
	}
	b = append(b, byte((len(le)-4)<<2|3))
	return append(b, le...), nil
}

// AppendBytes appends a compact length and then p (Vec<u8>, String).
func AppendBytes(b []byte, p []byte) []byte {
	return append(AppendCompact(b, uint64(len(p))), p...)
}

// AppendString appends s as a length-prefixed UTF-8 byte string.
func AppendString(b []byte, s string) []byte {
	return append(AppendCompact(b, uint64(len(s))), s...)
}

// AppendU16s appends a Vec<u16>.
func AppendU16s(b []byte, v []uint16) []byte {
	b = AppendCompact(b, uint64(len(v)))
	for _, x := range v {
		b = AppendU16(b, x)
	}
	return b
}

func reverse(p []byte) []byte {
	out := make([]byte, len(p))
	for i, c := range p {
		out[len(p)-1-i] = c
	}
	return out
}

// Uint128 is an unsigned 128-bit integer.
type Uint128 struct{ Lo, Hi uint64 }

// Big returns u as a big integer.
func (u Uint128) Big() *big.Int {
	v := new(big.Int).SetUint64(u.Hi)
	v.Lsh(v, 64)
	return v.Or(v, new(big.Int).SetUint64(u.Lo))
}

func (u Uint128) String() string { return u.Big().String() }
