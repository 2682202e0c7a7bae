package subtensor

import (
	"fmt"
	"math/big"

	"github.com/crucible-net/crucible/chain/subtensor/metadata"
)

// Helpers reading decoded metadata values (see metadata.Registry.Decode)
// into Go types, with errors that name the field.

func field(v any, name string) (any, error) {
	s, ok := v.(*metadata.Struct)
	if !ok {
		return nil, fmt.Errorf("want a struct with field %s, got %T", name, v)
	}
	x, ok := s.Get(name)
	if !ok {
		return nil, fmt.Errorf("field %s is missing (fields: %v)", name, s.Names)
	}
	return x, nil
}

func asUint(v any) (uint64, error) {
	switch x := v.(type) {
	case uint64:
		return x, nil
	case *big.Int:
		if x.IsUint64() {
			return x.Uint64(), nil
		}
		return 0, fmt.Errorf("%s does not fit 64 bits", x)
	}
	return 0, fmt.Errorf("want an unsigned integer, got %T", v)
}

func asBig(v any) (*big.Int, error) {
	switch x := v.(type) {
	case uint64:
		return new(big.Int).SetUint64(x), nil
	case *big.Int:
		return x, nil
	}
	return nil, fmt.Errorf("want an unsigned integer, got %T", v)
}

func asBool(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("want a bool, got %T", v)
	}
	return b, nil
}

func asAccount(v any) ([32]byte, error) {
	var a [32]byte
	b, ok := v.([]byte)
	if !ok || len(b) != 32 {
		return a, fmt.Errorf("want a 32-byte account id, got %T", v)
	}
	copy(a[:], b)
	return a, nil
}

// uintField reads an unsigned integer field.
func uintField(v any, name string) (uint64, error) {
	x, err := field(v, name)
	if err != nil {
		return 0, err
	}
	n, err := asUint(x)
	if err != nil {
		return 0, fmt.Errorf("field %s: %w", name, err)
	}
	return n, nil
}
