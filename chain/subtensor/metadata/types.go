package metadata

import (
	"fmt"

	"github.com/crucible-net/crucible/chain/subtensor/scale"
)

// Kind is the shape of a type in the registry (scale-info's TypeDef).
type Kind uint8

// The kinds, numbered as scale-info encodes them.
const (
	KindComposite Kind = iota
	KindVariant
	KindSequence
	KindArray
	KindTuple
	KindPrimitive
	KindCompact
	KindBitSequence
)

// Prim is a primitive type, numbered as scale-info encodes it.
type Prim uint8

// The primitives.
const (
	Bool Prim = iota
	Char
	Str
	U8
	U16
	U32
	U64
	U128
	U256
	I8
	I16
	I32
	I64
	I128
	I256
)

var primNames = [...]string{"bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "u256", "i8", "i16", "i32", "i64", "i128", "i256"}

func (p Prim) String() string {
	if int(p) < len(primNames) {
		return primNames[p]
	}
	return fmt.Sprintf("prim(%d)", p)
}

// size returns the encoded size of a fixed-width primitive (0 for str).
func (p Prim) size() int {
	switch p {
	case Bool, U8, I8:
		return 1
	case U16, I16:
		return 2
	case Char, U32, I32:
		return 4
	case U64, I64:
		return 8
	case U128, I128:
		return 16
	case U256, I256:
		return 32
	}
	return 0
}

// Field is a field of a composite or of an enum variant.
type Field struct {
	Name     string // "" for tuple-like fields
	Type     uint32
	TypeName string // the Rust type as written in the source, e.g. "T::AccountId"
}

// Variant is one variant of an enum.
type Variant struct {
	Name   string
	Index  uint8
	Fields []Field
	Docs   []string
}

// Type is one entry of the chain's type registry.
type Type struct {
	ID       uint32
	Path     []string // e.g. ["sp_core", "crypto", "AccountId32"]
	Params   []TypeParam
	Kind     Kind
	Fields   []Field   // composite
	Variants []Variant // variant
	Elem     uint32    // sequence, array and compact element; bit sequence store
	Len      uint32    // array length
	Tuple    []uint32  // tuple members
	Prim     Prim      // primitive
	Order    uint32    // bit sequence order type
}

// Name returns the last element of the type's path ("" for anonymous types).
func (t *Type) Name() string {
	if len(t.Path) == 0 {
		return ""
	}
	return t.Path[len(t.Path)-1]
}

// VariantByName returns the variant called name.
func (t *Type) VariantByName(name string) (*Variant, bool) {
	for i := range t.Variants {
		if t.Variants[i].Name == name {
			return &t.Variants[i], true
		}
	}
	return nil, false
}

// VariantByIndex returns the variant encoded as index.
func (t *Type) VariantByIndex(index uint8) (*Variant, bool) {
	for i := range t.Variants {
		if t.Variants[i].Index == index {
			return &t.Variants[i], true
		}
	}
	return nil, false
}

// TypeParam is a generic parameter of a type, e.g. Call in
// UncheckedExtrinsic<Address, Call, Signature, Extra>.
type TypeParam struct {
	Name    string
	Type    uint32
	HasType bool
}

// Param returns the type bound to the generic parameter name.
func (t *Type) Param(name string) (uint32, bool) {
	for _, p := range t.Params {
		if p.Name == name && p.HasType {
			return p.Type, true
		}
	}
	return 0, false
}

// Registry is the chain's type registry: every type the runtime exposes,
// by id.
type Registry struct {
	types []Type
}

// Type returns the type with id, or an error naming the id.
func (r *Registry) Type(id uint32) (*Type, error) {
	if int(id) >= len(r.types) {
		return nil, fmt.Errorf("metadata: type %d is not in the registry (%d types)", id, len(r.types))
	}
	return &r.types[id], nil
}

// Len returns the number of types.
func (r *Registry) Len() int { return len(r.types) }

// FindByPath returns the first type whose path, joined with "::", is path.
func (r *Registry) FindByPath(path string) (*Type, bool) {
	for i := range r.types {
		if joinPath(r.types[i].Path) == path {
			return &r.types[i], true
		}
	}
	return nil, false
}

func joinPath(p []string) string {
	s := ""
	for i, e := range p {
		if i > 0 {
			s += "::"
		}
		s += e
	}
	return s
}

// readRegistry reads scale-info's PortableRegistry.
func readRegistry(d *scale.Decoder) *Registry {
	n := d.Len("types", 2)
	r := &Registry{types: make([]Type, 0, n)}
	for i := 0; i < n && d.Err() == nil; i++ {
		id := uint32(d.Compact())
		if d.Err() == nil && id != uint32(i) {
			d.Fail("types", "type %d found at position %d; ids must be sequential", id, i)
		}
		t := Type{ID: id}
		t.Path = d.Texts()
		params := d.Len("type params", 1)
		for j := 0; j < params && d.Err() == nil; j++ {
			p := TypeParam{Name: d.Text()}
			if d.Option() {
				p.Type, p.HasType = uint32(d.Compact()), true
			}
			t.Params = append(t.Params, p)
		}
		t.Kind = Kind(d.U8())
		switch t.Kind {
		case KindComposite:
			t.Fields = readFields(d)
		case KindVariant:
			nv := d.Len("variants", 4)
			for j := 0; j < nv && d.Err() == nil; j++ {
				v := Variant{Name: d.Text()}
				v.Fields = readFields(d)
				v.Index = d.U8()
				v.Docs = d.Texts()
				t.Variants = append(t.Variants, v)
			}
		case KindSequence, KindCompact:
			t.Elem = uint32(d.Compact())
		case KindArray:
			t.Len = d.U32()
			t.Elem = uint32(d.Compact())
		case KindTuple:
			nt := d.Len("tuple", 1)
			for j := 0; j < nt && d.Err() == nil; j++ {
				t.Tuple = append(t.Tuple, uint32(d.Compact()))
			}
		case KindPrimitive:
			t.Prim = Prim(d.U8())
			if d.Err() == nil && int(t.Prim) >= len(primNames) {
				d.Fail("primitive", "unknown primitive %d in type %d", t.Prim, id)
			}
		case KindBitSequence:
			t.Elem = uint32(d.Compact())
			t.Order = uint32(d.Compact())
		default:
			d.Fail("type def", "unknown type kind %d in type %d", t.Kind, id)
		}
		d.Texts() // docs
		r.types = append(r.types, t)
	}
	return r
}

func readFields(d *scale.Decoder) []Field {
	n := d.Len("fields", 3)
	out := make([]Field, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		var f Field
		if d.Option() {
			f.Name = d.Text()
		}
		f.Type = uint32(d.Compact())
		if d.Option() {
			f.TypeName = d.Text()
		}
		d.Texts() // docs
		out = append(out, f)
	}
	return out
}
