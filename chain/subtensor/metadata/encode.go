package metadata

import (
	"fmt"
	"math"
	"math/big"
	"reflect"

	"github.com/crucible-net/crucible/chain/subtensor/scale"
)

// Encode appends the encoding of v as type id. It accepts:
//
//   - Go integers (any width, signed or not, and *big.Int) for integer
//     primitives and compacts, checked against the type's range;
//   - bool and string;
//   - []byte or [N]byte for sequences and arrays of u8;
//   - any slice or array for other sequences, arrays and tuples;
//   - map[string]any or *Struct for composites with named fields, and a
//     composite of one unnamed field takes its field's value directly (so a
//     netuid is passed as a number to NetUid, a public key as [32]byte to
//     AccountId32);
//   - *Enum for variants (Value as for the variant's fields).
func (r *Registry) Encode(b []byte, id uint32, v any) ([]byte, error) {
	return r.encode(b, id, v, 0)
}

func (r *Registry) encode(b []byte, id uint32, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, fmt.Errorf("encode %s: nested deeper than %d", r.TypeString(id), maxDepth)
	}
	t, err := r.Type(id)
	if err != nil {
		return b, err
	}
	switch t.Kind {
	case KindPrimitive:
		return encodePrim(b, t.Prim, v)
	case KindCompact:
		n, err := toBig(v)
		if err != nil {
			return b, fmt.Errorf("encode %s: %w", r.TypeString(id), err)
		}
		return scale.AppendCompactBig(b, n)
	case KindSequence, KindArray:
		if r.isU8(t.Elem) {
			p, ok := bytesOf(v)
			if !ok {
				return b, fmt.Errorf("encode %s: want bytes, got %T", r.TypeString(id), v)
			}
			if t.Kind == KindArray {
				if len(p) != int(t.Len) {
					return b, fmt.Errorf("encode %s: want %d bytes, got %d", r.TypeString(id), t.Len, len(p))
				}
				return append(b, p...), nil
			}
			return scale.AppendBytes(b, p), nil
		}
		items, ok := listOf(v)
		if !ok {
			return b, fmt.Errorf("encode %s: want a list, got %T", r.TypeString(id), v)
		}
		if t.Kind == KindArray && len(items) != int(t.Len) {
			return b, fmt.Errorf("encode %s: want %d items, got %d", r.TypeString(id), t.Len, len(items))
		}
		if t.Kind == KindSequence {
			b = scale.AppendCompact(b, uint64(len(items)))
		}
		for i, it := range items {
			if b, err = r.encode(b, t.Elem, it, depth+1); err != nil {
				return b, fmt.Errorf("item %d: %w", i, err)
			}
		}
		return b, nil
	case KindTuple:
		items, ok := listOf(v)
		if !ok || len(items) != len(t.Tuple) {
			return b, fmt.Errorf("encode %s: want a %d-tuple, got %T", r.TypeString(id), len(t.Tuple), v)
		}
		for i, e := range t.Tuple {
			if b, err = r.encode(b, e, items[i], depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	case KindComposite:
		return r.encodeFields(b, r.TypeString(id), t.Fields, v, depth)
	case KindVariant:
		e, ok := v.(*Enum)
		if !ok {
			return b, fmt.Errorf("encode %s: want *Enum, got %T", r.TypeString(id), v)
		}
		vr, ok := t.VariantByName(e.Name)
		if !ok {
			return b, fmt.Errorf("encode %s: no variant %s", r.TypeString(id), e.Name)
		}
		b = append(b, vr.Index)
		if len(vr.Fields) == 0 {
			return b, nil
		}
		return r.encodeFields(b, r.TypeString(id)+"::"+vr.Name, vr.Fields, e.Value, depth)
	}
	return b, fmt.Errorf("encode %s: cannot encode a %v", r.TypeString(id), t.Kind)
}

func (r *Registry) encodeFields(b []byte, name string, fields []Field, v any, depth int) ([]byte, error) {
	var err error
	switch {
	case len(fields) == 0:
		return b, nil
	case len(fields) == 1 && fields[0].Name == "":
		return r.encode(b, fields[0].Type, v, depth+1)
	case fields[0].Name == "":
		items, ok := listOf(v)
		if !ok || len(items) != len(fields) {
			return b, fmt.Errorf("encode %s: want %d values, got %T", name, len(fields), v)
		}
		for i, f := range fields {
			if b, err = r.encode(b, f.Type, items[i], depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	get := func(n string) (any, bool) { return nil, false }
	switch m := v.(type) {
	case map[string]any:
		get = func(n string) (any, bool) { x, ok := m[n]; return x, ok }
	case *Struct:
		get = m.Get
	default:
		return b, fmt.Errorf("encode %s: want map[string]any or *Struct, got %T", name, v)
	}
	for _, f := range fields {
		x, ok := get(f.Name)
		if !ok {
			return b, fmt.Errorf("encode %s: field %s is missing", name, f.Name)
		}
		if b, err = r.encode(b, f.Type, x, depth+1); err != nil {
			return b, fmt.Errorf("field %s: %w", f.Name, err)
		}
	}
	return b, nil
}

func encodePrim(b []byte, p Prim, v any) ([]byte, error) {
	switch p {
	case Bool:
		x, ok := v.(bool)
		if !ok {
			return b, fmt.Errorf("encode bool: got %T", v)
		}
		return scale.AppendBool(b, x), nil
	case Str:
		x, ok := v.(string)
		if !ok {
			return b, fmt.Errorf("encode str: got %T", v)
		}
		return scale.AppendString(b, x), nil
	}
	n, err := toBig(v)
	if err != nil {
		return b, fmt.Errorf("encode %s: %w", p, err)
	}
	size := p.size()
	signed := p >= I8
	lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), uint(8*size))
	if signed {
		hi.Rsh(hi, 1)
		lo.Neg(hi)
	}
	if n.Cmp(lo) < 0 || n.Cmp(hi) >= 0 || p == Char {
		if p == Char {
			return b, fmt.Errorf("encode char: not supported")
		}
		return b, fmt.Errorf("encode %s: %s is out of range", p, n)
	}
	if n.Sign() < 0 {
		n = new(big.Int).Add(n, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
	}
	be := n.Bytes()
	for i := len(be) - 1; i >= 0; i-- {
		b = append(b, be[i])
	}
	for i := len(be); i < size; i++ {
		b = append(b, 0)
	}
	return b, nil
}

func toBig(v any) (*big.Int, error) {
	switch x := v.(type) {
	case *big.Int:
		return x, nil
	case scale.Uint128:
		return x.Big(), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return big.NewInt(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return new(big.Int).SetUint64(rv.Uint()), nil
	case reflect.Float64, reflect.Float32:
		f := rv.Float()
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v is not a whole number", f)
		}
	}
	return nil, fmt.Errorf("want an integer, got %T", v)
}

func bytesOf(v any) ([]byte, bool) {
	if p, ok := v.([]byte); ok {
		return p, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		p := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(p), rv)
		return p, true
	}
	return nil, false
}

func listOf(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}
