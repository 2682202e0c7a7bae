package subtensortest

import (
	"testing"

	"github.com/crucible-net/crucible/chain/subtensor/metadata"
)

// Events encodes System.Events holding one System event for extrinsic idx:
// ExtrinsicSuccess, or ExtrinsicFailed with the module error named
// failure (pallet.Error).
func (n *Node) Events(t testing.TB, idx int, kind string, failure *[2]string) []byte {
	t.Helper()
	_, e, _ := n.MD.Storage("System", "Events")
	reg := n.MD.Types
	seq, _ := reg.Type(e.Value)
	rec := zero(t, reg, seq.Elem, 0).(map[string]any)
	rec["phase"] = &metadata.Enum{Name: "ApplyExtrinsic", Value: uint32(idx)}
	ev := rec["event"].(*metadata.Enum)
	outerT := findField(t, reg, seq.Elem, "event")
	sysV, _ := outerT.VariantByName("System")
	sysT, _ := reg.Type(sysV.Fields[0].Type)
	kv, ok := sysT.VariantByName(kind)
	if !ok {
		t.Fatalf("no System.%s event", kind)
	}
	fields := map[string]any{}
	for _, f := range kv.Fields {
		fields[f.Name] = zero(t, reg, f.Type, 0)
	}
	if failure != nil {
		p, err := n.MD.Pallet(failure[0])
		if err != nil {
			t.Fatal(err)
		}
		errT, _ := reg.Type(*p.Errors)
		v, ok := errT.VariantByName(failure[1])
		if !ok {
			t.Fatalf("%s has no error %s", failure[0], failure[1])
		}
		fields["dispatch_error"] = &metadata.Enum{Name: "Module", Value: map[string]any{"index": p.Index, "error": [4]byte{v.Index}}}
	}
	ev.Name, ev.Value = "System", &metadata.Enum{Name: kind, Value: fields}
	b, err := reg.Encode(nil, e.Value, []any{rec})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findField(t testing.TB, reg *metadata.Registry, id uint32, name string) *metadata.Type {
	ty, _ := reg.Type(id)
	for _, f := range ty.Fields {
		if f.Name == name {
			ft, _ := reg.Type(f.Type)
			return ft
		}
	}
	t.Fatalf("no field %s", name)
	return nil
}

// zero builds a value of type id that Encode accepts: zeros, empty lists,
// first variants.
func zero(t testing.TB, reg *metadata.Registry, id uint32, depth int) any {
	ty, err := reg.Type(id)
	if err != nil || depth > 20 {
		t.Fatalf("zero %d: %v", id, err)
	}
	fields := func(fs []metadata.Field) any {
		if len(fs) == 0 {
			return nil
		}
		if fs[0].Name == "" {
			if len(fs) == 1 {
				return zero(t, reg, fs[0].Type, depth+1)
			}
			l := []any{}
			for _, f := range fs {
				l = append(l, zero(t, reg, f.Type, depth+1))
			}
			return l
		}
		m := map[string]any{}
		for _, f := range fs {
			m[f.Name] = zero(t, reg, f.Type, depth+1)
		}
		return m
	}
	switch ty.Kind {
	case metadata.KindPrimitive:
		if ty.Prim == metadata.Bool {
			return false
		}
		if ty.Prim == metadata.Str {
			return ""
		}
		return 0
	case metadata.KindCompact:
		return 0
	case metadata.KindSequence:
		return []any{}
	case metadata.KindArray:
		l := make([]any, ty.Len)
		for i := range l {
			l[i] = zero(t, reg, ty.Elem, depth+1)
		}
		return l
	case metadata.KindTuple:
		l := []any{}
		for _, e := range ty.Tuple {
			l = append(l, zero(t, reg, e, depth+1))
		}
		return l
	case metadata.KindComposite:
		if v := fields(ty.Fields); v != nil {
			return v
		}
		return []any{}
	case metadata.KindVariant:
		v := ty.Variants[0]
		return &metadata.Enum{Name: v.Name, Value: fields(v.Fields)}
	}
	t.Fatalf("zero of kind %d", ty.Kind)
	return nil
}
