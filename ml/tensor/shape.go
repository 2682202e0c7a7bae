package tensor

import (
	"math"
	"strconv"
	"strings"
)

// Shape is the list of a tensor's dimensions, outermost first. The empty
// shape is a scalar (one element); a shape with a zero dimension has no
// elements.
type Shape []int

// Numel returns the number of elements (the product of the dimensions; 1 for
// a scalar). It does not check for overflow or negative dimensions; use
// NumelChecked for shapes that come from untrusted input.
func (s Shape) Numel() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// NumelChecked returns the number of elements and true, or 0 and false when
// a dimension is negative or the product overflows an int64 (or exceeds the
// range where a byte count of 8-byte elements would overflow).
func (s Shape) NumelChecked() (int64, bool) {
	const limit = math.MaxInt64 / 8
	n := int64(1)
	for _, d := range s {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > limit/int64(d) {
			return 0, false
		}
		n *= int64(d)
	}
	return n, true
}

// Equal reports whether s and t have the same dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s that shares no memory with it.
func (s Shape) Clone() Shape {
	if s == nil {
		return nil
	}
	return append(Shape{}, s...)
}

// String formats s as "[2 3 4]" ("[]" for a scalar).
func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteByte(']')
	return b.String()
}
