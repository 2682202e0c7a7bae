package sign

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestKeyFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	kp, phrase, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keys", "hot")
	if err := SaveKeyFile(path, kp, "", false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %#o, want 0600", st.Mode().Perm())
	}
	back, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Address() != kp.Address() || back.Mnemonic() != phrase {
		t.Fatalf("loaded %s %q, want %s %q", back.Address(), back.Mnemonic(), kp.Address(), phrase)
	}
	if err := SaveKeyFile(path, kp, "", false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("overwrite without force: %v", err)
	}
	other, _ := FromURI("//Bob")
	if err := SaveKeyFile(path, other, "//Bob", true); err != nil {
		t.Fatal(err)
	}
	back, err = LoadKeyFile(path)
	if err != nil || back.Address() != other.Address() {
		t.Fatalf("after forced overwrite: %v %v", back, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

// A Bittensor hotkey file as substrate-interface writes it for //Alice:
// no secretSeed for derived keys, the secret in privateKey.
const bittensorAlice = `{"accountId": "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
 "publicKey": "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
 "privateKey": "0x98319d4ff8a9508c4bb0cf0b5a78d760a0b2082c02775e6e82370816fedfff48925a225d97aa00682d6a59b95b18780c10d7032336e88f3442b42361f4a66011",
 "secretPhrase": null, "secretSeed": null,
 "ss58Address": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}`

func TestParseKeyFile(t *testing.T) {
	kp, err := ParseKeyFile([]byte(bittensorAlice))
	if err != nil {
		t.Fatal(err)
	}
	if kp.Address() != "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY" {
		t.Fatalf("address %s", kp.Address())
	}
	sig, _ := kp.Sign([]byte("x"))
	if err := VerifySignature(kp.Address(), []byte("x"), sig); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, want string
	}{
		{"not json", `{"publicKey": `, "malformed key file"},
		{"no secret", `{"ss58Address": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}`, "no secret"},
		{"bad private key", `{"privateKey": "0x1234"}`, "field privateKey"},
		{"bad seed", `{"secretSeed": "0x12"}`, "field secretSeed"},
		{"bad phrase", `{"secretPhrase": "one two three"}`, "mnemonic"},
		{"wrong address", strings.Replace(bittensorAlice, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", 1), "does not match"},
		{"wrong public key", strings.Replace(bittensorAlice, `"publicKey": "0xd4`, `"publicKey": "0xd5`, 1), "field publicKey"},
		{"encrypted", `$NACL...`, "encrypted"},
		{"empty", " \n", "key file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeyFile([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestLoadKeyFileRefusesOpenPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permissions")
	}
	path := filepath.Join(t.TempDir(), "alice")
	if err := os.WriteFile(path, []byte(bittensorAlice), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKeyFile(path)
	if err == nil || !strings.Contains(err.Error(), "too open") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v", err)
	}
	os.Chmod(path, 0o600)
	if _, err := LoadKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path + ".missing"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	// A directory (mode 0755) is named as one, not sent to chmod.
	os.Chmod(filepath.Dir(path), 0o755)
	if _, err := LoadKeyFile(filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("directory: %v", err)
	}
}
