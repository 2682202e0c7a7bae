package metadata

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/chain/subtensor/internal/vectors"
	"github.com/crucible-net/crucible/chain/subtensor/scale"
)

func load(t testing.TB, name string) *Metadata {
	t.Helper()
	b, err := vectors.Hex(name)
	if err != nil {
		t.Fatal(err)
	}
	md, err := Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return md
}

func reference(t testing.TB) *vectors.Reference {
	t.Helper()
	r, err := vectors.LoadReference()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// specVersion reads the spec version from the System.Version constant.
func specVersion(t *testing.T, md *Metadata) (string, uint64) {
	t.Helper()
	c, err := md.Constant("System", "Version")
	if err != nil {
		t.Fatal(err)
	}
	v, err := md.Types.DecodeAll(c.Type, c.Value)
	if err != nil {
		t.Fatal(err)
	}
	s := v.(*Struct)
	name, _ := s.Get("spec_name")
	ver, _ := s.Get("spec_version")
	return name.(string), ver.(uint64)
}

// Every real metadata blob parses to its end, and agrees with what
// polkadot.js reads from the same bytes: runtime version, type count,
// pallets and their indices, signed extensions, call indices and argument
// names, storage hashers.
func TestRealMetadataMatchesPolkadotJS(t *testing.T) {
	ref := reference(t)
	for _, name := range vectors.AllMetadata {
		t.Run(name, func(t *testing.T) {
			md := load(t, name)
			want := ref.Metadata[name]
			if int(md.Version) != want.Version {
				t.Errorf("version %d, want %d", md.Version, want.Version)
			}
			if md.ExtrinsicVersion != 4 {
				t.Errorf("extrinsic version %d", md.ExtrinsicVersion)
			}
			specName, spec := specVersion(t, md)
			if specName != want.SpecName || uint32(spec) != want.SpecVersion {
				t.Errorf("runtime %s %d, want %s %d", specName, spec, want.SpecName, want.SpecVersion)
			}
			if md.Types.Len() != want.Types {
				t.Errorf("%d types, want %d", md.Types.Len(), want.Types)
			}
			if len(md.Pallets) != len(want.Pallets) {
				t.Fatalf("%d pallets, want %d", len(md.Pallets), len(want.Pallets))
			}
			for i, p := range want.Pallets {
				if md.Pallets[i].Name != p.Name || int(md.Pallets[i].Index) != p.Index {
					t.Errorf("pallet %d: %s/%d, want %s/%d", i, md.Pallets[i].Name, md.Pallets[i].Index, p.Name, p.Index)
				}
			}
			var ext []string
			for _, e := range md.Extensions {
				ext = append(ext, e.Identifier)
			}
			if strings.Join(ext, ",") != strings.Join(want.Extensions, ",") {
				t.Errorf("extensions %v, want %v", ext, want.Extensions)
			}
			for call, wc := range want.Calls {
				_, v, err := md.Call("SubtensorModule", call)
				if err != nil {
					t.Errorf("%s: %v", call, err)
					continue
				}
				var args []string
				for _, f := range v.Fields {
					args = append(args, f.Name)
				}
				if int(v.Index) != wc.Index || strings.Join(args, ",") != strings.Join(wc.Args, ",") {
					t.Errorf("%s: index %d args %v, want %d %v", call, v.Index, args, wc.Index, wc.Args)
				}
			}
			for item, hashers := range want.Storage {
				_, e, err := md.Storage("SubtensorModule", item)
				if err != nil {
					t.Errorf("%s: %v", item, err)
					continue
				}
				var hs []string
				for _, h := range e.Hashers {
					hs = append(hs, h.String())
				}
				if strings.Join(hs, ",") != strings.Join(hashers, ",") {
					t.Errorf("%s hashers %v, want %v", item, hs, hashers)
				}
			}
			if md.Version == 15 {
				if _, err := md.API("NeuronInfoRuntimeApi", "get_neurons_lite"); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// Storage keys computed from the metadata's hashers equal the keys
// polkadot.js computes for the same items.
func TestStorageKeysMatchPolkadotJS(t *testing.T) {
	ref := reference(t)
	alice, _ := hex.DecodeString("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	var a32 [32]byte
	copy(a32[:], alice)
	for _, name := range vectors.AllMetadata {
		md := load(t, name)
		keys := map[string]func() ([]byte, error){
			"Tempo(23)":             func() ([]byte, error) { return md.StorageKey("SubtensorModule", "Tempo", 23) },
			"Uids(1, alice)":        func() ([]byte, error) { return md.StorageKey("SubtensorModule", "Uids", 1, a32) },
			"Axons(56, alice)":      func() ([]byte, error) { return md.StorageKey("SubtensorModule", "Axons", 56, a32) },
			"Keys(56, 7)":           func() ([]byte, error) { return md.StorageKey("SubtensorModule", "Keys", 56, 7) },
			"System.Account(alice)": func() ([]byte, error) { return md.StorageKey("System", "Account", a32) },
		}
		for k, f := range keys {
			got, err := f()
			if err != nil {
				t.Fatalf("%s %s: %v", name, k, err)
			}
			// polkadot.js returns keys with a compact length prefix.
			raw, _ := vectors.DecodeHex(ref.Metadata[name].Keys[k])
			d := scale.NewDecoder(raw)
			n := d.Len("key", 1)
			want := d.Take(n, "key")
			if d.Done("key") != nil || !bytes.Equal(got, want) {
				t.Errorf("%s %s = %x, want %x", name, k, got, want)
			}
		}
	}
}

// Storage keys that the Bittensor SDK sent to Bittensor's main network
// (recorded requests), rebuilt from the spec 343 metadata, and the recorded
// values decoded with the item's type.
func TestStorageKeysMatchRecordedRequests(t *testing.T) {
	md := load(t, vectors.V15Spec343)
	rec, err := vectors.LoadResponses()
	if err != nil {
		t.Fatal(err)
	}
	hotkey, _ := hex.DecodeString("1a33474e4a857009da52aaa4080f176465f99c09763e03b9cd5ee038cec4093e")
	var hk [32]byte
	copy(hk[:], hotkey)
	cases := []struct {
		seed, method, item string
		keys               []any
		value              any
	}{
		{"blocks_since_last_update", "state_getStorageAt", "NetworksAdded", []any{1}, true},
		{"tempo", "state_getStorageAt", "Tempo", []any{23}, uint64(1000)},
		{"min_allowed_weights", "state_getStorageAt", "MinAllowedWeights", []any{23}, uint64(1)},
		{"get_total_subnets", "state_getStorageAt", "TotalNetworks", nil, uint64(247)},
		{"get_neuron_for_pubkey_and_subnet", "state_getStorageAt", "Uids", []any{14, hk}, uint64(29)},
		{"blocks_since_last_update", "state_getStorageAt", "LastUpdate", []any{1}, nil},
	}
	for _, c := range cases {
		key, err := md.StorageKey("SubtensorModule", c.item, c.keys...)
		if err != nil {
			t.Fatalf("%s: %v", c.item, err)
		}
		keyHex := "0x" + hex.EncodeToString(key)
		var found json.RawMessage
		for params, resp := range rec[c.seed][c.method] {
			var p []any
			if json.Unmarshal([]byte(params), &p) == nil && len(p) > 0 && p[0] == keyHex {
				found = resp
			}
		}
		if found == nil {
			t.Errorf("%s %v: key %s was not among the recorded requests of %s", c.item, c.keys, keyHex, c.seed)
			continue
		}
		var r struct {
			Result *string `json:"result"`
		}
		if err := json.Unmarshal(found, &r); err != nil || r.Result == nil {
			t.Fatalf("%s: response %s", c.item, found)
		}
		raw, _ := vectors.DecodeHex(*r.Result)
		v, err := md.DecodeStorage("SubtensorModule", c.item, raw)
		if err != nil {
			t.Errorf("%s: %v", c.item, err)
			continue
		}
		if c.value != nil && v != c.value {
			t.Errorf("%s %v = %v (%T), want %v", c.item, c.keys, v, v, c.value)
		}
		if c.item == "LastUpdate" {
			if l, ok := v.([]any); !ok || len(l) == 0 {
				t.Errorf("LastUpdate = %T", v)
			}
		}
	}
}

// A System.Account key as recorded, rebuilt with Blake2_128Concat.
func TestRecordedAccountKey(t *testing.T) {
	md := load(t, vectors.V14Spec343)
	rec, err := vectors.LoadResponses()
	if err != nil {
		t.Fatal(err)
	}
	for params := range rec["get_balance"]["state_getStorageAt"] {
		var p []string
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			t.Fatal(err)
		}
		raw, _ := vectors.DecodeHex(p[0])
		var acct [32]byte
		copy(acct[:], raw[len(raw)-32:])
		key, err := md.StorageKey("System", "Account", acct)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key, raw) {
			t.Errorf("System.Account key %x, recorded %x", key, raw)
		}
	}
}

// System.Events' key is the one Substrate runtimes whitelist in their
// benchmarks ("System Events", e.g. polkadot-sdk's node runtimes).
func TestSystemEventsKey(t *testing.T) {
	md := load(t, vectors.V15Spec343)
	k, err := md.StorageKey("System", "Events")
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(k) != "26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7" {
		t.Errorf("System.Events key %x", k)
	}
}

// Every runtime API answer recorded at spec 343 (get_neurons_lite,
// get_subnet_state, get_selective_mechagraph of netuid 1) decodes to its
// last byte with the output type the V15 metadata gives, and the two
// answers that list the subnet's hotkeys list the same ones.
func TestRecordedRuntimeAPIAnswersDecode(t *testing.T) {
	md := load(t, vectors.V15Spec343)
	rec, err := vectors.LoadResponses()
	if err != nil {
		t.Fatal(err)
	}
	hotkeys := map[string][]string{}
	for params, resp := range rec["metagraph"]["state_call"] {
		var p []string
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			t.Fatal(err)
		}
		api, method, _ := strings.Cut(p[0], "_")
		m, err := md.API(api, method)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Result string `json:"result"`
		}
		json.Unmarshal(resp, &r)
		raw, _ := vectors.DecodeHex(r.Result)
		v, err := md.Types.DecodeAll(m.Output, raw)
		if err != nil {
			t.Errorf("%s: %v", p[0], err)
			continue
		}
		switch method {
		case "get_neurons_lite":
			for _, n := range v.([]any) {
				hk, _ := n.(*Struct).Get("hotkey")
				hotkeys[method] = append(hotkeys[method], hex.EncodeToString(hk.([]byte)))
			}
		case "get_selective_mechagraph":
			s := v.(*Enum).Value.(*Struct)
			hk, _ := s.Get("hotkeys")
			for _, h := range hk.(*Enum).Value.([]any) {
				hotkeys[method] = append(hotkeys[method], hex.EncodeToString(h.([]byte)))
			}
		}
	}
	a, b := hotkeys["get_neurons_lite"], hotkeys["get_selective_mechagraph"]
	if len(a) != 1024 || strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("neurons_lite lists %d hotkeys, selective mechagraph %d, or they differ", len(a), len(b))
	}
}
