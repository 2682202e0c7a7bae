package sign

import (
	"net/http/httptest"
	"testing"
)

// Malformed input must give errors, never panics.

func FuzzDecodeAddress(f *testing.F) {
	alice, _ := FromURI("//Alice")
	f.Add(alice.Address())
	f.Add(EncodeAddress(alice.PublicKey(), 1284))
	f.Add("")
	f.Add("1")
	f.Add("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")
	f.Fuzz(func(t *testing.T, s string) {
		pub, prefix, err := DecodeAddress(s)
		if err == nil && EncodeAddress(pub, prefix) != s {
			t.Fatalf("%q decodes but does not re-encode to itself", s)
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(bittensorAlice))
	f.Add([]byte(`{"secretSeed": "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"}`))
	f.Add([]byte(`{"secretPhrase": "bottom drive obey lake curtain smoke basket hold race lonely fit walk", "derivation": "//x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseKeyFile(b)
	})
}

func FuzzFromURI(f *testing.F) {
	f.Add("//Alice")
	f.Add("//Alice/soft//hard///pw")
	f.Add("0x00")
	f.Add("////")
	f.Fuzz(func(t *testing.T, uri string) {
		if len(uri) > 300 {
			return
		}
		FromURI(uri)
	})
}

func FuzzVerifierHeaders(f *testing.F) {
	miner, _ := FromURI("//Charlie")
	v := NewVerifier(Options{Hotkey: miner.Address()})
	f.Add("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", miner.Address(), "1700000000000000000_abc", "0x00")
	f.Add("x", "y", "_", "0xzz")
	f.Fuzz(func(t *testing.T, caller, target, nonce, sig string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(HeaderValidatorHotkey, caller)
		r.Header.Set(HeaderMinerHotkey, target)
		r.Header.Set(HeaderNonce, nonce)
		r.Header.Set(HeaderSignature, sig)
		if _, err := v.Check(r, nil); err == nil {
			t.Fatalf("forged headers accepted: %q %q %q %q", caller, target, nonce, sig)
		}
	})
}
