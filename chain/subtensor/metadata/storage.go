package metadata

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/crypto/blake2b"
)

// TwoX128 is Substrate's twox_128: xxHash64 with seeds 0 and 1, each
// little-endian, concatenated.
func TwoX128(p []byte) []byte {
	out := make([]byte, 0, 16)
	for seed := uint64(0); seed < 2; seed++ {
		h := xxhash.NewWithSeed(seed)
		h.Write(p)
		out = binary.LittleEndian.AppendUint64(out, h.Sum64())
	}
	return out
}

// TwoX64 is Substrate's twox_64: xxHash64 with seed 0, little-endian.
func TwoX64(p []byte) []byte {
	return binary.LittleEndian.AppendUint64(nil, xxhash.Sum64(p))
}

// TwoX256 is Substrate's twox_256: xxHash64 with seeds 0 to 3.
func TwoX256(p []byte) []byte {
	out := make([]byte, 0, 32)
	for seed := uint64(0); seed < 4; seed++ {
		h := xxhash.NewWithSeed(seed)
		h.Write(p)
		out = binary.LittleEndian.AppendUint64(out, h.Sum64())
	}
	return out
}

// Blake2b128 is the 16-byte BLAKE2b digest of p.
func Blake2b128(p []byte) []byte {
	h, _ := blake2b.New(16, nil)
	h.Write(p)
	return h.Sum(nil)
}

// Blake2b256 is the 32-byte BLAKE2b digest of p (Substrate's BlakeTwo256).
func Blake2b256(p []byte) []byte {
	s := blake2b.Sum256(p)
	return s[:]
}

// Hash applies h to an encoded key.
func (h Hasher) Hash(key []byte) ([]byte, error) {
	switch h {
	case Blake2_128:
		return Blake2b128(key), nil
	case Blake2_256:
		return Blake2b256(key), nil
	case Blake2_128Concat:
		return append(Blake2b128(key), key...), nil
	case Twox128:
		return TwoX128(key), nil
	case Twox256:
		return TwoX256(key), nil
	case Twox64Concat:
		return append(TwoX64(key), key...), nil
	case Identity:
		return append([]byte(nil), key...), nil
	}
	return nil, fmt.Errorf("metadata: unknown hasher %d", h)
}

// StorageKey returns the key of pallet.item for the given map keys (none
// for a plain value; fewer than the map has for a prefix of its keys, as
// used to list a map's entries). Each key is encoded with its type from
// the metadata (see Registry.Encode for the Go values accepted).
func (md *Metadata) StorageKey(pallet, item string, keys ...any) ([]byte, error) {
	p, e, err := md.Storage(pallet, item)
	if err != nil {
		return nil, err
	}
	out := append(TwoX128([]byte(p.StoragePrefix)), TwoX128([]byte(e.Name))...)
	if !e.Map {
		if len(keys) > 0 {
			return nil, fmt.Errorf("metadata: %s.%s is a plain value; got %d keys", pallet, item, len(keys))
		}
		return out, nil
	}
	if len(keys) > len(e.Hashers) {
		return nil, fmt.Errorf("metadata: %s.%s takes %d keys; got %d", pallet, item, len(e.Hashers), len(keys))
	}
	keyTypes := []uint32{e.Key}
	if len(e.Hashers) > 1 {
		t, err := md.Types.Type(e.Key)
		if err != nil {
			return nil, err
		}
		if t.Kind != KindTuple || len(t.Tuple) != len(e.Hashers) {
			return nil, fmt.Errorf("metadata: %s.%s has %d hashers but its key is not a %d-tuple", pallet, item, len(e.Hashers), len(e.Hashers))
		}
		keyTypes = t.Tuple
	}
	for i, k := range keys {
		enc, err := md.Types.Encode(nil, keyTypes[i], k)
		if err != nil {
			return nil, fmt.Errorf("metadata: %s.%s key %d: %w", pallet, item, i, err)
		}
		h, err := e.Hashers[i].Hash(enc)
		if err != nil {
			return nil, err
		}
		out = append(out, h...)
	}
	return out, nil
}

// DecodeStorage decodes the value stored at pallet.item: raw is the stored
// bytes, or nil when the key is absent, in which case the entry's default
// is decoded (nil is returned for an absent Optional entry).
func (md *Metadata) DecodeStorage(pallet, item string, raw []byte) (any, error) {
	_, e, err := md.Storage(pallet, item)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		if e.Optional {
			return nil, nil
		}
		raw = e.Default
	}
	v, err := md.Types.DecodeAll(e.Value, raw)
	if err != nil {
		return nil, fmt.Errorf("metadata: decode %s.%s: %w", pallet, item, err)
	}
	return v, nil
}
