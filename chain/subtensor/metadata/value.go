package metadata

import (
	"fmt"
	"math/big"

	"github.com/crucible-net/crucible/chain/subtensor/scale"
)

// A decoded value is one of:
//
//	bool, uint64 (unsigned up to 64 bits, compacts that fit), int64,
//	*big.Int (u128, u256, i128, i256, large compacts), string (str, char),
//	[]byte (sequences and arrays of u8), []any (other sequences, arrays,
//	tuples and composites of unnamed fields), *Struct (composites of named
//	fields), *Enum (variants, Option and Result among them), []bool (bit
//	sequences).
//
// A composite of a single unnamed field (a "newtype" such as NetUid(u16) or
// AccountId32([u8; 32])) decodes as its field's value.

// Struct is a decoded composite with named fields, in declaration order.
type Struct struct {
	Names  []string
	Values []any
}

// Get returns the field called name.
func (s *Struct) Get(name string) (any, bool) {
	for i, n := range s.Names {
		if n == name {
			return s.Values[i], true
		}
	}
	return nil, false
}

// Enum is a decoded enum variant. Value is nil for a variant without
// fields, the field's value for a variant with one unnamed field, a *Struct
// for named fields and an []any otherwise.
type Enum struct {
	Name  string
	Index uint8
	Value any
}

// maxDepth bounds the nesting of decoded values (hostile input cannot
// exhaust the stack through recursive types).
const maxDepth = 64

// Decode decodes one value of type id from d.
func (r *Registry) Decode(id uint32, d *scale.Decoder) any {
	return r.decode(id, d, 0)
}

// DecodeAll decodes b as exactly one value of type id.
func (r *Registry) DecodeAll(id uint32, b []byte) (any, error) {
	d := scale.NewDecoder(b)
	v := r.Decode(id, d)
	if err := d.Done(r.TypeString(id)); err != nil {
		return nil, err
	}
	return v, nil
}

func (r *Registry) decode(id uint32, d *scale.Decoder, depth int) any {
	if d.Err() != nil {
		return nil
	}
	if depth > maxDepth {
		d.Fail(r.TypeString(id), "values nested deeper than %d", maxDepth)
		return nil
	}
	t, err := r.Type(id)
	if err != nil {
		d.Fail("type", "%v", err)
		return nil
	}
	switch t.Kind {
	case KindPrimitive:
		return decodePrim(t.Prim, d)
	case KindCompact:
		v := d.CompactBig()
		if v == nil {
			return nil
		}
		if v.IsUint64() {
			return v.Uint64()
		}
		return v
	case KindSequence:
		if r.isU8(t.Elem) {
			return append([]byte(nil), d.Bytes()...)
		}
		n := d.Len(r.TypeString(id), r.minSize(t.Elem, 0))
		out := make([]any, 0, n)
		for i := 0; i < n && d.Err() == nil; i++ {
			out = append(out, r.decode(t.Elem, d, depth+1))
		}
		return out
	case KindArray:
		if r.isU8(t.Elem) {
			return append([]byte(nil), d.Take(int(t.Len), r.TypeString(id))...)
		}
		if uint64(t.Len)*uint64(r.minSize(t.Elem, 0)) > uint64(d.Remaining()) {
			d.Fail(r.TypeString(id), "array of %d needs more than the %d bytes left", t.Len, d.Remaining())
			return nil
		}
		out := make([]any, 0, t.Len)
		for i := uint32(0); i < t.Len && d.Err() == nil; i++ {
			out = append(out, r.decode(t.Elem, d, depth+1))
		}
		return out
	case KindTuple:
		out := make([]any, 0, len(t.Tuple))
		for _, e := range t.Tuple {
			out = append(out, r.decode(e, d, depth+1))
		}
		return out
	case KindComposite:
		return r.decodeFields(t.Fields, d, depth)
	case KindVariant:
		start := d.Offset()
		idx := d.U8()
		if d.Err() != nil {
			return nil
		}
		v, ok := t.VariantByIndex(idx)
		if !ok {
			d.Fail(r.TypeString(id), "variant index %d (at byte %d) is not one of the type's %d variants", idx, start, len(t.Variants))
			return nil
		}
		var val any
		if len(v.Fields) > 0 {
			val = r.decodeFields(v.Fields, d, depth)
		}
		return &Enum{Name: v.Name, Index: idx, Value: val}
	case KindBitSequence:
		n := d.Len("bit sequence", 0)
		store, _ := r.Type(t.Elem)
		unit := 1
		if store != nil && store.Kind == KindPrimitive && store.Prim.size() > 0 {
			unit = store.Prim.size()
		}
		words := (n + 8*unit - 1) / (8 * unit)
		raw := d.Take(words*unit, "bit sequence")
		if raw == nil {
			return nil
		}
		out := make([]bool, n)
		for i := range out {
			out[i] = raw[i/8]&(1<<(i%8)) != 0
		}
		return out
	}
	d.Fail(r.TypeString(id), "unknown kind %d", t.Kind)
	return nil
}

func (r *Registry) decodeFields(fields []Field, d *scale.Decoder, depth int) any {
	switch {
	case len(fields) == 0:
		return []any{}
	case len(fields) == 1 && fields[0].Name == "":
		return r.decode(fields[0].Type, d, depth+1)
	case fields[0].Name == "":
		out := make([]any, 0, len(fields))
		for _, f := range fields {
			out = append(out, r.decode(f.Type, d, depth+1))
		}
		return out
	}
	s := &Struct{Names: make([]string, 0, len(fields)), Values: make([]any, 0, len(fields))}
	for _, f := range fields {
		s.Names = append(s.Names, f.Name)
		s.Values = append(s.Values, r.decode(f.Type, d, depth+1))
	}
	return s
}

func decodePrim(p Prim, d *scale.Decoder) any {
	switch p {
	case Bool:
		return d.Bool()
	case Char:
		return string(rune(d.U32()))
	case Str:
		return d.Text()
	case U8:
		return uint64(d.U8())
	case U16:
		return uint64(d.U16())
	case U32:
		return uint64(d.U32())
	case U64:
		return d.U64()
	case U128:
		return d.U128().Big()
	case I8:
		return int64(int8(d.U8()))
	case I16:
		return int64(int16(d.U16()))
	case I32:
		return int64(int32(d.U32()))
	case I64:
		return int64(d.U64())
	case U256, I256, I128:
		n := p.size()
		le := d.Take(n, p.String())
		if le == nil {
			return nil
		}
		be := make([]byte, n)
		for i := range le {
			be[n-1-i] = le[i]
		}
		v := new(big.Int).SetBytes(be)
		if p != U256 && be[0]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
		}
		return v
	}
	d.Fail("primitive", "unknown primitive %d", p)
	return nil
}

// isU8 reports whether id is the u8 primitive.
func (r *Registry) isU8(id uint32) bool {
	t, err := r.Type(id)
	return err == nil && t.Kind == KindPrimitive && t.Prim == U8
}

// minSize returns a lower bound of the encoded size of type id (used to
// reject sequence lengths the remaining input cannot hold).
func (r *Registry) minSize(id uint32, depth int) int {
	t, err := r.Type(id)
	if err != nil || depth > 16 {
		return 0
	}
	switch t.Kind {
	case KindPrimitive:
		if t.Prim == Str {
			return 1
		}
		return t.Prim.size()
	case KindCompact, KindSequence, KindBitSequence, KindVariant:
		return 1
	case KindArray:
		return int(t.Len) * r.minSize(t.Elem, depth+1)
	case KindTuple:
		n := 0
		for _, e := range t.Tuple {
			n += r.minSize(e, depth+1)
		}
		return n
	case KindComposite:
		n := 0
		for _, f := range t.Fields {
			n += r.minSize(f.Type, depth+1)
		}
		return n
	}
	return 0
}

// TypeString returns a readable name for type id, for error messages.
func (r *Registry) TypeString(id uint32) string {
	return r.typeString(id, 0)
}

func (r *Registry) typeString(id uint32, depth int) string {
	t, err := r.Type(id)
	if err != nil {
		return fmt.Sprintf("type#%d", id)
	}
	if depth > 4 {
		return "…"
	}
	if n := t.Name(); n != "" {
		return n
	}
	switch t.Kind {
	case KindPrimitive:
		return t.Prim.String()
	case KindCompact:
		return "Compact<" + r.typeString(t.Elem, depth+1) + ">"
	case KindSequence:
		return "Vec<" + r.typeString(t.Elem, depth+1) + ">"
	case KindArray:
		return fmt.Sprintf("[%s; %d]", r.typeString(t.Elem, depth+1), t.Len)
	case KindTuple:
		s := "("
		for i, e := range t.Tuple {
			if i > 0 {
				s += ", "
			}
			s += r.typeString(e, depth+1)
		}
		return s + ")"
	case KindBitSequence:
		return "BitVec"
	}
	return fmt.Sprintf("type#%d", id)
}

// IsEmpty reports whether values of type id encode to no bytes at all
// (unit structs, empty tuples, phantom data).
func (r *Registry) IsEmpty(id uint32) bool { return r.isEmpty(id, 0) }

func (r *Registry) isEmpty(id uint32, depth int) bool {
	t, err := r.Type(id)
	if err != nil || depth > 16 {
		return false
	}
	switch t.Kind {
	case KindComposite:
		for _, f := range t.Fields {
			if !r.isEmpty(f.Type, depth+1) {
				return false
			}
		}
		return true
	case KindTuple:
		for _, e := range t.Tuple {
			if !r.isEmpty(e, depth+1) {
				return false
			}
		}
		return true
	case KindArray:
		return t.Len == 0 || r.isEmpty(t.Elem, depth+1)
	}
	return false
}
