package sign

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/fuzzguard"
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
		fuzzguard.Within(t, func() {
			pub, prefix, err := DecodeAddress(s)
			if err == nil && EncodeAddress(pub, prefix) != s {
				t.Fatalf("%q decodes but does not re-encode to itself", s)
			}
		})
	})
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(bittensorAlice))
	f.Add([]byte(`{"secretSeed": "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"}`))
	f.Add([]byte(`{"secretPhrase": "bottom drive obey lake curtain smoke basket hold race lonely fit walk", "derivation": "//x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzguard.Within(t, func() {
			ParseKeyFile(b)
		})
	})
}

func FuzzFromURI(f *testing.F) {
	f.Add("//Alice")
	f.Add("//Alice/soft//hard///pw")
	f.Add("0x00")
	f.Add("////")
	f.Fuzz(func(t *testing.T, uri string) {
		fuzzguard.Within(t, func() {
			if len(uri) > 300 {
				return
			}
			FromURI(uri)
		})
	})
}

func FuzzVerifierHeaders(f *testing.F) {
	miner, _ := FromURI("//Charlie")
	v := NewVerifier(Options{Hotkey: miner.Address()})
	f.Add("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", miner.Address(), "1700000000000000000_abc", "0x00")
	f.Add("x", "y", "_", "0xzz")
	f.Fuzz(func(t *testing.T, caller, target, nonce, sig string) {
		fuzzguard.Within(t, func() {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set(HeaderValidatorHotkey, caller)
			r.Header.Set(HeaderMinerHotkey, target)
			r.Header.Set(HeaderNonce, nonce)
			r.Header.Set(HeaderSignature, sig)
			if _, err := v.Check(r, nil); err == nil {
				t.Fatalf("forged headers accepted: %q %q %q %q", caller, target, nonce, sig)
			}
		})
	})
}

// FuzzSignedRequest: the middleware refuses (in time, without reading the
// body of a caller it did not admit) any request whose headers and body a
// forger chose, and never lets one through unsigned.
func FuzzSignedRequest(f *testing.F) {
	miner, _ := FromURI("//Charlie")
	alice, _ := FromURI("//Alice")
	req := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`))
	SignRequest(req, alice, miner.Address(), time.Now())
	f.Add(req.Header.Get(HeaderValidatorHotkey), req.Header.Get(HeaderNonce), req.Header.Get(HeaderSignature), req.Header.Get(HeaderBodySHA256), []byte(`{"a":1}`))
	f.Add("x", "1_a", "0x00", "zz", []byte{})
	f.Add(alice.Address(), "9223372036854775807_Z", "", strings.Repeat("0", 64), []byte("body"))
	v := NewVerifier(Options{Hotkey: miner.Address(), MaxBody: 1 << 10})
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := Caller(r.Context()); !ok {
			panic("a request reached the handler without a verified caller")
		}
		io.Copy(io.Discard, r.Body)
	}))
	f.Fuzz(func(t *testing.T, caller, nonce, sig, bodySum string, body []byte) {
		fuzzguard.Within(t, func() {
			r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
			r.Header.Set(HeaderValidatorHotkey, caller)
			r.Header.Set(HeaderMinerHotkey, miner.Address())
			r.Header.Set(HeaderNonce, nonce)
			r.Header.Set(HeaderSignature, sig)
			r.Header.Set(HeaderBodySHA256, bodySum)
			h.ServeHTTP(httptest.NewRecorder(), r)
		})
	})
}
