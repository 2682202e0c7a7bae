package sign

import (
	"encoding/hex"
	"strings"
	"testing"
)

// Vectors are Substrate's well-known development accounts (subkey inspect).
func TestURIVectors(t *testing.T) {
	tests := []struct {
		uri, address, public string
	}{
		{DevPhrase, "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV", "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"},
		{"//Alice", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"},
		{DevPhrase + "//Alice", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"},
		{"//Bob", "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48"},
		{"//Alice//stash", "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY", ""},
		{"0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", ""},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			kp, err := FromURI(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if kp.Address() != tt.address {
				t.Errorf("address = %s, want %s", kp.Address(), tt.address)
			}
			if tt.public != "" {
				pub := kp.PublicKey()
				if got := hex.EncodeToString(pub[:]); got != tt.public {
					t.Errorf("public = %s, want %s", got, tt.public)
				}
			}
		})
	}
}

func TestMiniSecretOfDevPhrase(t *testing.T) {
	kp, err := FromMnemonic(DevPhrase, "")
	if err != nil {
		t.Fatal(err)
	}
	seed, ok := kp.Seed()
	if !ok {
		t.Fatal("no seed")
	}
	if got, want := hex.EncodeToString(seed[:]), "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e"; got != want {
		t.Fatalf("mini secret = %s, want %s", got, want)
	}
	alice, err := kp.Derive("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	seed, _ = alice.Seed()
	if got, want := hex.EncodeToString(seed[:]), "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"; got != want {
		t.Fatalf("//Alice seed = %s, want %s", got, want)
	}
}

// Alice's private key in the 64-byte layout polkadot-js and
// substrate-interface print, and that layout loading back to the same key.
func TestEd25519Bytes(t *testing.T) {
	alice, err := FromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	b := alice.Ed25519Bytes()
	const want = "98319d4ff8a9508c4bb0cf0b5a78d760a0b2082c02775e6e82370816fedfff48925a225d97aa00682d6a59b95b18780c10d7032336e88f3442b42361f4a66011"
	if got := hex.EncodeToString(b[:]); got != want {
		t.Errorf("ed25519 bytes = %s, want %s", got, want)
	}
	back, err := FromEd25519Bytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Address() != alice.Address() {
		t.Fatalf("round trip address %s, want %s", back.Address(), alice.Address())
	}
}

func TestSignVerify(t *testing.T) {
	alice, _ := FromURI("//Alice")
	bob, _ := FromURI("//Bob")
	msg := []byte("hello crucible")
	sig, err := alice.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(alice.Address(), msg, sig); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	if err := VerifySignature(bob.Address(), msg, sig); err == nil {
		t.Error("signature verified under the wrong key")
	}
	if err := VerifySignature(alice.Address(), []byte("hello crucibl3"), sig); err == nil {
		t.Error("signature verified for another message")
	}
	bad := append([]byte(nil), sig...)
	bad[5] ^= 1
	if err := VerifySignature(alice.Address(), msg, bad); err == nil {
		t.Error("tampered signature verified")
	}
	if err := VerifySignature(alice.Address(), msg, sig[:63]); err == nil {
		t.Error("short signature verified")
	}
	// Browser wallets sign "<Bytes>msg</Bytes>"; Substrate accepts that too.
	wrapped, _ := alice.Sign([]byte("<Bytes>" + string(msg) + "</Bytes>"))
	if err := VerifySignature(alice.Address(), msg, wrapped); err != nil {
		t.Errorf("<Bytes>-wrapped signature: %v", err)
	}
}

func TestSoftDerivationMatchesPublicDerivation(t *testing.T) {
	root, err := FromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	soft, err := root.Derive("/soft/1")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := FromURI("//Alice/soft/1")
	if soft.Address() != again.Address() {
		t.Fatal("soft derivation is not deterministic")
	}
	if soft.Address() == root.Address() {
		t.Fatal("soft derivation returned the parent")
	}
	if _, ok := soft.Seed(); ok {
		t.Error("soft-derived key claims a mini secret")
	}
	sig, _ := soft.Sign([]byte("m"))
	if err := VerifySignature(soft.Address(), []byte("m"), sig); err != nil {
		t.Fatal(err)
	}
	b := soft.Ed25519Bytes()
	back, err := FromEd25519Bytes(b)
	if err != nil || back.Address() != soft.Address() {
		t.Fatalf("soft key does not round trip through its private key: %v", err)
	}
}

func TestGenerate(t *testing.T) {
	kp, phrase, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(phrase)); n != 24 {
		t.Fatalf("mnemonic has %d words", n)
	}
	again, err := FromMnemonic("  "+strings.ReplaceAll(phrase, " ", "   ")+"\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if again.Address() != kp.Address() {
		t.Fatal("same mnemonic, different key")
	}
	withPass, _ := FromURI(phrase + "///secret")
	if withPass.Address() == kp.Address() {
		t.Fatal("password did not change the key")
	}
}

func TestBadURIs(t *testing.T) {
	for _, uri := range []string{
		"not a real mnemonic at all",
		"//Alice//",
		"0x1234",
		"0xzz5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c",
		"0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a///pw",
	} {
		if _, err := FromURI(uri); err == nil {
			t.Errorf("FromURI(%q) succeeded", uri)
		}
	}
}

// TestMnemonicErrorsSayWhy checks that a bad mnemonic's error names the
// problem an operator can fix rather than the BIP39 library's internals.
func TestMnemonicErrorsSayWhy(t *testing.T) {
	tests := []struct{ phrase, want string }{
		{"foo bar baz", "3 words; a mnemonic has 12, 15, 18, 21 or 24"},
		{"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandn about", `word 11 "abandn" is not in the BIP39 English word list`},
		{"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", "checksum does not match"},
		{"Abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", `word 1 "Abandon"`},
	}
	for _, tt := range tests {
		_, err := FromURI(tt.phrase)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromURI(%q): %v, want an error containing %q", tt.phrase, err, tt.want)
		}
	}
	if _, err := FromURI("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"); err != nil {
		t.Errorf("valid mnemonic: %v", err)
	}
}

func TestSS58(t *testing.T) {
	alice, _ := FromURI("//Alice")
	pub := alice.PublicKey()
	// Polkadot (prefix 0) address of Alice.
	if got, want := EncodeAddress(pub, 0), "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"; got != want {
		t.Errorf("prefix 0 = %s, want %s", got, want)
	}
	for _, prefix := range []uint16{0, 2, 42, 63, 64, 255, 1284, 16383} {
		addr := EncodeAddress(pub, prefix)
		got, p, err := DecodeAddress(addr)
		if err != nil || got != pub || p != prefix {
			t.Errorf("prefix %d: round trip gave %x %d %v", prefix, got, p, err)
		}
	}
	if _, err := PublicKey(EncodeAddress(pub, 0)); err == nil || !strings.Contains(err.Error(), "prefix 0") {
		t.Errorf("prefix 0 address accepted as a Bittensor one: %v", err)
	}
	addr := alice.Address()
	// Flip one character: the checksum must catch it.
	b := []byte(addr)
	if b[10] == 'a' {
		b[10] = 'b'
	} else {
		b[10] = 'a'
	}
	if _, err := PublicKey(string(b)); err == nil {
		t.Error("corrupted address accepted")
	}
	for _, s := range []string{"", "0OIl", addr[:len(addr)-3], addr + "1", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ"} {
		if ValidAddress(s) {
			t.Errorf("ValidAddress(%q) = true", s)
		}
	}
	if !ValidAddress(addr) {
		t.Error("ValidAddress(alice) = false")
	}
}
