package scale

import (
	"bytes"
	"encoding/hex"
	"math"
	"math/big"
	mrand "math/rand"
	"math/rand/v2"
	"testing"

	"github.com/crucible-net/crucible/fuzzguard"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The examples of the SCALE encoding table in py-scale-codec's README
// (pypi.org/project/scalecodec/1.3.0, "Examples of different types"): an
// implementation independent of this one, written by Polkascan.
func TestReadmeVectors(t *testing.T) {
	compact := []struct {
		v   uint64
		hex string
	}{{0, "00"}, {1, "04"}, {42, "a8"}, {69, "1501"}, {100000000000000, "0b00407a10f35a"}}
	for _, c := range compact {
		if got := hex.EncodeToString(AppendCompact(nil, c.v)); got != c.hex {
			t.Errorf("compact %d = %s, want %s", c.v, got, c.hex)
		}
		d := NewDecoder(unhex(t, c.hex))
		if v := d.Compact(); v != c.v || d.Done("compact") != nil {
			t.Errorf("decode %s = %d (%v), want %d", c.hex, v, d.Err(), c.v)
		}
	}
	if got := hex.EncodeToString(AppendBool(nil, true)); got != "01" {
		t.Errorf("bool true = %s", got)
	}
	if got := hex.EncodeToString(AppendU16(nil, 42)); got != "2a00" {
		t.Errorf("u16 42 = %s", got)
	}
	vec := []uint16{4, 8, 15, 16, 23, 42}
	if got := hex.EncodeToString(AppendU16s(nil, vec)); got != "18040008000f00100017002a00" {
		t.Errorf("Vec<u16> = %s", got)
	}
}

// Boundaries of the four compact modes, both sides, and the largest values.
func TestCompactBoundaries(t *testing.T) {
	cases := []struct {
		v   uint64
		hex string
	}{
		{63, "fc"}, {64, "0101"}, {16383, "fdff"}, {16384, "02000100"},
		{1<<30 - 1, "feffffff"}, {1 << 30, "0300000040"}, {1<<32 - 1, "03ffffffff"},
		{1 << 32, "070000000001"}, {math.MaxUint64, "13ffffffffffffffff"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(AppendCompact(nil, c.v)); got != c.hex {
			t.Errorf("compact %d = %s, want %s", c.v, got, c.hex)
		}
		d := NewDecoder(unhex(t, c.hex))
		if v := d.Compact(); v != c.v || d.Done("x") != nil {
			t.Errorf("decode %s = %d (%v)", c.hex, v, d.Err())
		}
	}
}

func TestCompactRejectsNonCanonical(t *testing.T) {
	for _, h := range []string{"0100", "02000000", "0300000000", "03ffffff3f", "070000000000"} {
		d := NewDecoder(unhex(t, h))
		d.CompactBig()
		if d.Err() == nil {
			t.Errorf("%s decoded without error", h)
		}
	}
}

func TestCompactBigRoundTrip(t *testing.T) {
	r := mrand.New(mrand.NewSource(1))
	for i := 0; i < 500; i++ {
		v := new(big.Int).Rand(r, new(big.Int).Lsh(big.NewInt(1), uint(1+r.Intn(535))))
		b, err := AppendCompactBig(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		d := NewDecoder(b)
		if got := d.CompactBig(); d.Done("x") != nil || got.Cmp(v) != 0 {
			t.Fatalf("%s: got %v (%v)", v, got, d.Err())
		}
	}
	if _, err := AppendCompactBig(nil, new(big.Int).Lsh(big.NewInt(1), 536)); err == nil {
		t.Error("2^536 encoded")
	}
}

func TestFixedRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		a, b2, c, lo, hi := uint8(r.Uint32()), uint16(r.Uint32()), r.Uint32(), r.Uint64(), r.Uint64()
		s := string(rune('a' + r.IntN(26)))
		var buf []byte
		buf = AppendU8(buf, a)
		buf = AppendU16(buf, b2)
		buf = AppendU32(buf, c)
		buf = AppendU64(buf, lo)
		buf = AppendU128(buf, lo, hi)
		buf = AppendBool(buf, a%2 == 0)
		buf = AppendString(buf, s)
		buf = AppendBytes(buf, []byte{a, a})
		d := NewDecoder(buf)
		if d.U8() != a || d.U16() != b2 || d.U32() != c || d.U64() != lo || d.U128() != (Uint128{lo, hi}) ||
			d.Bool() != (a%2 == 0) || d.Text() != s || !bytes.Equal(d.Bytes(), []byte{a, a}) || d.Done("x") != nil {
			t.Fatalf("round trip %d failed: %v", i, d.Err())
		}
	}
}

func TestDecoderErrors(t *testing.T) {
	cases := map[string]func(d *Decoder){
		"0201":       func(d *Decoder) { d.Bool() },
		"02":         func(d *Decoder) { d.Option() },
		"0102":       func(d *Decoder) { d.U32() },
		"fdff01":     func(d *Decoder) { d.Bytes() }, // length 16383, 1 byte left
		"13ffffffff": func(d *Decoder) { d.Compact() },
	}
	for h, f := range cases {
		d := NewDecoder(unhex(t, h))
		f(d)
		if d.Err() == nil {
			t.Errorf("%s: no error", h)
		}
	}
	d := NewDecoder([]byte{1, 2})
	d.U8()
	if err := d.Done("u8"); err == nil {
		t.Error("trailing byte not reported")
	}
	// A sequence of empty elements cannot claim more than 1<<20 of them.
	d = NewDecoder(AppendCompact(nil, 1<<21))
	if d.Len("units", 0); d.Err() == nil {
		t.Error("huge empty-element length accepted")
	}
}

func TestUint128Big(t *testing.T) {
	u := Uint128{Lo: 1, Hi: 1}
	if u.String() != "18446744073709551617" {
		t.Errorf("got %s", u)
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0x03, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x18, 0x04, 0x00})
	f.Fuzz(func(t *testing.T, p []byte) {
		fuzzguard.Within(t, func() {
			d := NewDecoder(p)
			v := d.CompactBig()
			if d.Err() == nil {
				b, err := AppendCompactBig(nil, v)
				if err != nil || !bytes.Equal(b, p[:d.Offset()]) {
					t.Fatalf("%x: re-encoded as %x", p[:d.Offset()], b)
				}
			}
			NewDecoder(p).Bytes()
		})
	})
}
