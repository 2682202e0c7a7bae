package sign

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// testdata/polkadot/vectors.json was made with polkadot.js (gen.mjs there),
// an implementation independent of go-schnorrkel: crucible must derive the
// same keys from the same secret URIs and accept its signatures.
type polkadotVectors struct {
	Keys []struct {
		URI       string `json:"uri"`
		Address   string `json:"address"`
		PublicKey string `json:"public_key"`
	} `json:"keys"`
	Signatures []struct {
		URI       string `json:"uri"`
		Address   string `json:"address"`
		Message   string `json:"message"`
		Signature string `json:"signature"`
	} `json:"signatures"`
}

func loadPolkadotVectors(t *testing.T) polkadotVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/polkadot/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v polkadotVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Keys) < 10 || len(v.Signatures) < 9 {
		t.Fatalf("vectors file holds %d keys and %d signatures", len(v.Keys), len(v.Signatures))
	}
	return v
}

func TestPolkadotKeys(t *testing.T) {
	for _, k := range loadPolkadotVectors(t).Keys {
		kp, err := FromURI(k.URI)
		if err != nil {
			t.Errorf("%s: %v", k.URI, err)
			continue
		}
		pub := kp.PublicKey()
		if kp.Address() != k.Address || "0x"+hex.EncodeToString(pub[:]) != k.PublicKey {
			t.Errorf("%s: got %s, polkadot.js %s", k.URI, kp.Address(), k.Address)
		}
	}
}

func TestPolkadotSignatures(t *testing.T) {
	for _, s := range loadPolkadotVectors(t).Signatures {
		sig, err := hex.DecodeString(strings.TrimPrefix(s.Signature, "0x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifySignature(s.Address, []byte(s.Message), sig); err != nil {
			t.Errorf("%s over %q: %v", s.URI, s.Message, err)
		}
		if err := VerifySignature(s.Address, []byte(s.Message+"x"), sig); err == nil {
			t.Errorf("%s: signature verified for another message", s.URI)
		}
	}
}
