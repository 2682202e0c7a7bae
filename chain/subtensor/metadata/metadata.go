// Package metadata reads a Substrate runtime's metadata (versions 14 and 15,
// as returned by state_getMetadata and Metadata_metadata_at_version) and
// uses it to encode and decode the chain's own types: call arguments,
// storage keys and values, runtime API results and events.
//
// Nothing about Subtensor is hard-coded here: pallet and call indices,
// storage hashers, struct layouts and the signed extensions all come from
// the metadata the chain publishes, so a runtime upgrade that moves them is
// followed without a code change.
package metadata

import (
	"encoding/binary"
	"fmt"

	"github.com/crucible-net/crucible/chain/subtensor/scale"
)

// Magic is the 4-byte prefix of encoded metadata ("meta").
const Magic = 0x6174656d

// Hasher is a storage key hasher.
type Hasher uint8

// The hashers, numbered as the metadata encodes them.
const (
	Blake2_128 Hasher = iota
	Blake2_256
	Blake2_128Concat
	Twox128
	Twox256
	Twox64Concat
	Identity
)

var hasherNames = [...]string{"Blake2_128", "Blake2_256", "Blake2_128Concat", "Twox128", "Twox256", "Twox64Concat", "Identity"}

func (h Hasher) String() string {
	if int(h) < len(hasherNames) {
		return hasherNames[h]
	}
	return fmt.Sprintf("hasher(%d)", h)
}

// StorageEntry is one storage item of a pallet.
type StorageEntry struct {
	Name     string
	Optional bool     // modifier Optional: absent means None; else absent means Default
	Map      bool     // a map (keys needed) rather than a plain value
	Hashers  []Hasher // one per key
	Key      uint32   // key type: the single key, or a tuple of the keys
	Value    uint32   // value type
	Default  []byte   // encoded default value
}

// Constant is a pallet constant with its encoded value.
type Constant struct {
	Name  string
	Type  uint32
	Value []byte
}

// Pallet is one pallet (module) of the runtime.
type Pallet struct {
	Name          string
	Index         uint8
	StoragePrefix string
	Storage       []StorageEntry
	Calls         *uint32 // call enum type, nil when the pallet has no calls
	Events        *uint32
	Errors        *uint32
	Constants     []Constant
}

// SignedExtension is one of the extensions every signed extrinsic carries:
// Extra is encoded in the extrinsic, Additional only in the signed payload.
type SignedExtension struct {
	Identifier string
	Extra      uint32
	Additional uint32
}

// APIMethod is one method of a runtime API (metadata 15).
type APIMethod struct {
	Name   string
	Inputs []Field // name and type of each argument
	Output uint32
}

// API is a runtime API (metadata 15), called with state_call
// "<API>_<method>".
type API struct {
	Name    string
	Methods []APIMethod
}

// Metadata is a decoded runtime metadata.
type Metadata struct {
	Version          uint8
	Types            *Registry
	Pallets          []Pallet
	ExtrinsicVersion uint8
	Extensions       []SignedExtension
	APIs             []API // empty before version 15
	// AddressType, CallType and SignatureType are the extrinsic's types
	// (version 15 names them; for version 14 they are read from the
	// extrinsic type's parameters when present, else 0 with Has* false).
	AddressType, CallType, SignatureType uint32
	HasExtrinsicTypes                    bool
}

// Parse decodes encoded metadata: the "meta" magic, a version byte (14 or
// 15) and the metadata. It also accepts the Option<Vec<u8>> wrapping that
// the Metadata_metadata_at_version runtime API returns.
func Parse(b []byte) (*Metadata, error) {
	if len(b) > 0 && b[0] == 1 && (len(b) < 4 || binary.LittleEndian.Uint32(b) != Magic) {
		d := scale.NewDecoder(b[1:])
		inner := d.Bytes()
		if err := d.Done("metadata at version"); err != nil {
			return nil, fmt.Errorf("metadata: unwrap Option<Vec<u8>>: %w", err)
		}
		b = inner
	}
	d := scale.NewDecoder(b)
	if m := d.U32(); d.Err() == nil && m != Magic {
		return nil, fmt.Errorf("metadata: prefix 0x%08x is not the metadata magic 0x%08x (\"meta\")", m, uint32(Magic))
	}
	md := &Metadata{Version: d.U8()}
	if d.Err() == nil && md.Version != 14 && md.Version != 15 {
		return nil, fmt.Errorf("metadata: version %d is not supported (14 and 15 are)", md.Version)
	}
	md.Types = readRegistry(d)
	np := d.Len("pallets", 5)
	for i := 0; i < np && d.Err() == nil; i++ {
		md.Pallets = append(md.Pallets, readPallet(d, md.Version))
	}
	if md.Version == 14 {
		extrinsicTy := uint32(d.Compact())
		md.ExtrinsicVersion = d.U8()
		md.Extensions = readExtensions(d)
		d.Compact() // runtime type
		if d.Err() == nil {
			md.fillExtrinsicTypesV14(extrinsicTy)
		}
	} else {
		md.ExtrinsicVersion = d.U8()
		md.AddressType = uint32(d.Compact())
		md.CallType = uint32(d.Compact())
		md.SignatureType = uint32(d.Compact())
		d.Compact() // extra type
		md.HasExtrinsicTypes = true
		md.Extensions = readExtensions(d)
		d.Compact() // runtime type
		na := d.Len("runtime apis", 3)
		for i := 0; i < na && d.Err() == nil; i++ {
			md.APIs = append(md.APIs, readAPI(d))
		}
		d.Compact() // outer enums: call, event, error
		d.Compact()
		d.Compact()
		nc := d.Len("custom", 3)
		for i := 0; i < nc && d.Err() == nil; i++ {
			d.Text()
			d.Compact()
			d.Bytes()
		}
	}
	if err := d.Done("metadata"); err != nil {
		return nil, fmt.Errorf("metadata v%d: %w", md.Version, err)
	}
	return md, nil
}

func readPallet(d *scale.Decoder, version uint8) Pallet {
	p := Pallet{Name: d.Text()}
	if d.Option() {
		p.StoragePrefix = d.Text()
		n := d.Len("storage entries", 5)
		for i := 0; i < n && d.Err() == nil; i++ {
			e := StorageEntry{Name: d.Text()}
			e.Optional = d.U8() == 0
			switch kind := d.U8(); kind {
			case 0:
				e.Value = uint32(d.Compact())
			case 1:
				e.Map = true
				nh := d.Len("hashers", 1)
				for j := 0; j < nh && d.Err() == nil; j++ {
					h := Hasher(d.U8())
					if int(h) >= len(hasherNames) {
						d.Fail("hasher", "unknown hasher %d in %s.%s", h, p.Name, e.Name)
					}
					e.Hashers = append(e.Hashers, h)
				}
				e.Key = uint32(d.Compact())
				e.Value = uint32(d.Compact())
			default:
				d.Fail("storage entry type", "unknown storage entry kind %d in %s.%s", kind, p.Name, e.Name)
			}
			e.Default = d.Bytes()
			d.Texts()
			p.Storage = append(p.Storage, e)
		}
	}
	p.Calls = optType(d)
	p.Events = optType(d)
	nc := d.Len("constants", 4)
	for i := 0; i < nc && d.Err() == nil; i++ {
		c := Constant{Name: d.Text(), Type: uint32(d.Compact()), Value: d.Bytes()}
		d.Texts()
		p.Constants = append(p.Constants, c)
	}
	p.Errors = optType(d)
	p.Index = d.U8()
	if version >= 15 {
		d.Texts()
	}
	return p
}

func optType(d *scale.Decoder) *uint32 {
	if !d.Option() {
		return nil
	}
	t := uint32(d.Compact())
	return &t
}

func readExtensions(d *scale.Decoder) []SignedExtension {
	n := d.Len("signed extensions", 3)
	out := make([]SignedExtension, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out = append(out, SignedExtension{Identifier: d.Text(), Extra: uint32(d.Compact()), Additional: uint32(d.Compact())})
	}
	return out
}

func readAPI(d *scale.Decoder) API {
	a := API{Name: d.Text()}
	n := d.Len("api methods", 3)
	for i := 0; i < n && d.Err() == nil; i++ {
		m := APIMethod{Name: d.Text()}
		ni := d.Len("api inputs", 2)
		for j := 0; j < ni && d.Err() == nil; j++ {
			m.Inputs = append(m.Inputs, Field{Name: d.Text(), Type: uint32(d.Compact())})
		}
		m.Output = uint32(d.Compact())
		d.Texts()
		a.Methods = append(a.Methods, m)
	}
	d.Texts()
	return a
}

// fillExtrinsicTypesV14 reads the address, call and signature types from
// the parameters of the UncheckedExtrinsic type, where version 14 keeps
// them.
func (md *Metadata) fillExtrinsicTypesV14(id uint32) {
	t, err := md.Types.Type(id)
	if err != nil {
		return
	}
	a, okA := t.Param("Address")
	c, okC := t.Param("Call")
	s, okS := t.Param("Signature")
	if okA && okC && okS {
		md.AddressType, md.CallType, md.SignatureType, md.HasExtrinsicTypes = a, c, s, true
	}
}

// Pallet returns the pallet called name.
func (md *Metadata) Pallet(name string) (*Pallet, error) {
	for i := range md.Pallets {
		if md.Pallets[i].Name == name {
			return &md.Pallets[i], nil
		}
	}
	return nil, fmt.Errorf("metadata: the runtime has no pallet %s", name)
}

// PalletByIndex returns the pallet with index.
func (md *Metadata) PalletByIndex(index uint8) (*Pallet, bool) {
	for i := range md.Pallets {
		if md.Pallets[i].Index == index {
			return &md.Pallets[i], true
		}
	}
	return nil, false
}

// Storage returns the storage entry pallet.item.
func (md *Metadata) Storage(pallet, item string) (*Pallet, *StorageEntry, error) {
	p, err := md.Pallet(pallet)
	if err != nil {
		return nil, nil, err
	}
	for i := range p.Storage {
		if p.Storage[i].Name == item {
			return p, &p.Storage[i], nil
		}
	}
	return nil, nil, fmt.Errorf("metadata: pallet %s has no storage item %s", pallet, item)
}

// Constant returns the encoded constant pallet.name and its type.
func (md *Metadata) Constant(pallet, name string) (*Constant, error) {
	p, err := md.Pallet(pallet)
	if err != nil {
		return nil, err
	}
	for i := range p.Constants {
		if p.Constants[i].Name == name {
			return &p.Constants[i], nil
		}
	}
	return nil, fmt.Errorf("metadata: pallet %s has no constant %s", pallet, name)
}

// Call returns the pallet and the call variant pallet.name: the call's
// encoding starts with the pallet index and the variant index.
func (md *Metadata) Call(pallet, name string) (*Pallet, *Variant, error) {
	p, err := md.Pallet(pallet)
	if err != nil {
		return nil, nil, err
	}
	if p.Calls == nil {
		return nil, nil, fmt.Errorf("metadata: pallet %s has no calls", pallet)
	}
	t, err := md.Types.Type(*p.Calls)
	if err != nil {
		return nil, nil, err
	}
	v, ok := t.VariantByName(name)
	if !ok {
		return nil, nil, fmt.Errorf("metadata: pallet %s has no call %s", pallet, name)
	}
	return p, v, nil
}

// API returns the runtime API method api.method (metadata 15 only).
func (md *Metadata) API(api, method string) (*APIMethod, error) {
	for i := range md.APIs {
		if md.APIs[i].Name != api {
			continue
		}
		for j := range md.APIs[i].Methods {
			if md.APIs[i].Methods[j].Name == method {
				return &md.APIs[i].Methods[j], nil
			}
		}
		return nil, fmt.Errorf("metadata: runtime API %s has no method %s", api, method)
	}
	if md.Version < 15 {
		return nil, fmt.Errorf("metadata: version %d does not describe runtime APIs; version 15 is needed for %s_%s", md.Version, api, method)
	}
	return nil, fmt.Errorf("metadata: the runtime has no API %s", api)
}
