package sign

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KeyFile is the on-disk form of a key. Its field names are those of
// Bittensor's unencrypted wallet key files (substrate-interface's keypair
// serialization), so a Bittensor hotkey file loads as it is, and a crucible key
// file works as a Bittensor hotkey.
type KeyFile struct {
	AccountID    string `json:"accountId"`              // 0x-hex public key
	PublicKey    string `json:"publicKey"`              // 0x-hex public key
	PrivateKey   string `json:"privateKey"`             // 0x-hex 64-byte secret, ed25519-bytes layout
	SecretPhrase string `json:"secretPhrase,omitempty"` // mnemonic, when the key is the mnemonic's own key
	SecretSeed   string `json:"secretSeed,omitempty"`   // 0x-hex 32-byte mini secret, when the key has one
	SS58Address  string `json:"ss58Address"`
	// Derivation records the path the key was derived with (e.g.
	// "//validator"), for the operator's information.
	Derivation string `json:"derivation,omitempty"`
}

// ErrKeyExists is returned (wrapped) by SaveKeyFile when the file exists and
// overwriting was not asked for.
var ErrKeyExists = errors.New("key file already exists")

// Marshal returns the key file form of k.
func (k *Keypair) Marshal() KeyFile {
	pub := "0x" + hex.EncodeToString(k.pub[:])
	priv := k.Ed25519Bytes()
	f := KeyFile{
		AccountID:    pub,
		PublicKey:    pub,
		PrivateKey:   "0x" + hex.EncodeToString(priv[:]),
		SecretPhrase: k.phrase,
		SS58Address:  k.address,
	}
	if k.hasSeed {
		f.SecretSeed = "0x" + hex.EncodeToString(k.seed[:])
	}
	return f
}

// SaveKeyFile writes k to path with mode 0600, atomically (a temporary file in
// the same directory, synced, then renamed), creating the directory with mode
// 0700 if needed. derivation is recorded as is. Unless overwrite is set, an
// existing file is left alone and ErrKeyExists returned.
func SaveKeyFile(path string, k *Keypair, derivation string, overwrite bool) error {
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("save key %s: %w", path, ErrKeyExists)
		}
	}
	f := k.Marshal()
	f.Derivation = derivation
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadKeyFile reads a key file written by SaveKeyFile or by Bittensor
// (unencrypted). It refuses files that group or others may read or write, and
// files whose stored address or public key do not match the secret.
func LoadKeyFile(path string) (*Keypair, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load key %s: no such file", path)
		}
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("load key %s: is a directory, not a key file", path)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load key %s: permissions %#o are too open; the secret must be readable by its owner only (run: chmod 600 %s)",
			path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	kp, err := ParseKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return kp, nil
}

// ParseKeyFile decodes the JSON of a key file. The secret is taken from
// privateKey, else secretSeed, else secretPhrase (plus derivation).
func ParseKeyFile(b []byte) (*Keypair, error) {
	trimmed := strings.TrimSpace(string(b))
	if strings.HasPrefix(trimmed, "$NACL") || strings.HasPrefix(trimmed, "$BTWALLET") || strings.HasPrefix(trimmed, "gAAAAA") {
		return nil, fmt.Errorf("the key file is encrypted; crucible reads unencrypted key files only (Bittensor hotkeys are unencrypted by default)")
	}
	if trimmed == "" {
		return nil, fmt.Errorf("the key file is empty")
	}
	var f KeyFile
	dec := json.NewDecoder(strings.NewReader(trimmed))
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("malformed key file at byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("malformed key file: %w", err)
	}
	var kp *Keypair
	var err error
	switch {
	case f.PrivateKey != "":
		raw, herr := hex.DecodeString(strings.TrimPrefix(f.PrivateKey, "0x"))
		if herr != nil || len(raw) != 64 {
			return nil, fmt.Errorf("field privateKey: want 0x and 128 hex digits")
		}
		var b64 [64]byte
		copy(b64[:], raw)
		kp, err = FromEd25519Bytes(b64)
		if err == nil && f.SecretSeed != "" {
			if seed, serr := decodeHex32(f.SecretSeed); serr == nil {
				if sk, e := FromSeed(seed); e == nil && sk.pub == kp.pub {
					kp.seed, kp.hasSeed = seed, true
				}
			}
		}
	case f.SecretSeed != "":
		seed, serr := decodeHex32(f.SecretSeed)
		if serr != nil {
			return nil, fmt.Errorf("field secretSeed: %w", serr)
		}
		kp, err = FromSeed(seed)
	case f.SecretPhrase != "":
		kp, err = FromURI(f.SecretPhrase + f.Derivation)
	default:
		return nil, fmt.Errorf("key file has no secret (privateKey, secretSeed or secretPhrase)")
	}
	if err != nil {
		return nil, err
	}
	if f.Derivation == "" && f.SecretPhrase != "" && kp.phrase == "" {
		// Keep the mnemonic only if it really is this key's.
		if pk, e := FromMnemonic(f.SecretPhrase, ""); e == nil && pk.pub == kp.pub {
			kp.phrase = pk.phrase
		}
	}
	if f.SS58Address != "" && f.SS58Address != kp.address {
		return nil, fmt.Errorf("field ss58Address %s does not match the secret's address %s", f.SS58Address, kp.address)
	}
	pubHex := "0x" + hex.EncodeToString(kp.pub[:])
	if f.PublicKey != "" && !strings.EqualFold(f.PublicKey, pubHex) && !strings.EqualFold("0x"+f.PublicKey, pubHex) {
		return nil, fmt.Errorf("field publicKey %s does not match the secret's public key %s", f.PublicKey, pubHex)
	}
	return kp, nil
}
