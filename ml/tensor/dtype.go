// Package tensor holds crucible's element types and the small pieces of
// tensor bookkeeping every other ml package shares: the DType enumeration
// (the names the safetensors format uses), shapes, and fast, exactly rounded
// conversions between float32 and the 16-bit float formats (IEEE half and
// bfloat16) that model checkpoints are stored in.
//
// Training runs in float32; the 16-bit formats exist only at the edges
// (loading and saving weights), so conversions favour exactness (round to
// nearest even, NaN preserved) and throughput on long slices.
package tensor

import "fmt"

// DType is the element type of a stored tensor. The zero value is Invalid.
type DType uint8

// The element types crucible knows. F32, F16 and BF16 are the ones it
// computes with or stores weights in; the others exist so that any valid
// safetensors header can be read and reported on.
const (
	Invalid DType = iota
	F32           // IEEE 754 binary32
	F16           // IEEE 754 binary16 (half)
	BF16          // bfloat16: the top 16 bits of a binary32
	F64           // IEEE 754 binary64
	I64
	I32
	I16
	I8
	U64
	U32
	U16
	U8
	BOOL
	F8E4M3 // 8-bit float, 4 exponent bits (safetensors "F8_E4M3")
	F8E5M2 // 8-bit float, 5 exponent bits (safetensors "F8_E5M2")
)

var dtypeNames = [...]string{
	Invalid: "INVALID",
	F32:     "F32",
	F16:     "F16",
	BF16:    "BF16",
	F64:     "F64",
	I64:     "I64",
	I32:     "I32",
	I16:     "I16",
	I8:      "I8",
	U64:     "U64",
	U32:     "U32",
	U16:     "U16",
	U8:      "U8",
	BOOL:    "BOOL",
	F8E4M3:  "F8_E4M3",
	F8E5M2:  "F8_E5M2",
}

var dtypeSizes = [...]int{
	Invalid: 0,
	F32:     4,
	F16:     2,
	BF16:    2,
	F64:     8,
	I64:     8,
	I32:     4,
	I16:     2,
	I8:      1,
	U64:     8,
	U32:     4,
	U16:     2,
	U8:      1,
	BOOL:    1,
	F8E4M3:  1,
	F8E5M2:  1,
}

// String returns the safetensors name of d ("F32", "BF16", ...).
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size returns the size of one element in bytes, or 0 for Invalid or an
// unknown value.
func (d DType) Size() int {
	if int(d) < len(dtypeSizes) {
		return dtypeSizes[d]
	}
	return 0
}

// Valid reports whether d is one of the named element types.
func (d DType) Valid() bool { return d != Invalid && int(d) < len(dtypeNames) }

// IsFloat reports whether d is a floating-point type that crucible can
// convert to and from float32 (F32, F16, BF16, F64).
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// ParseDType returns the DType with the given safetensors name ("F32",
// "BF16", "F8_E4M3", ...). Names are case-sensitive, as in the format.
func ParseDType(name string) (DType, error) {
	for i, n := range dtypeNames {
		if i != int(Invalid) && n == name {
			return DType(i), nil
		}
	}
	return Invalid, fmt.Errorf("unknown dtype %q", name)
}

// MarshalText encodes d as its safetensors name, so that DType fields read
// as "BF16" in JSON and config files.
func (d DType) MarshalText() ([]byte, error) {
	if !d.Valid() {
		return nil, fmt.Errorf("marshal dtype: invalid value %d", uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText decodes a safetensors dtype name.
func (d *DType) UnmarshalText(b []byte) error {
	v, err := ParseDType(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
