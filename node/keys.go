package node

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
)

// LoadOrCreateKey loads the hotkey file at path, creating a new key there
// (0600, its directory 0700) when there is none.
func LoadOrCreateKey(path string) (*sign.Keypair, error) {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return sign.LoadKeyFile(path)
	}
	k, _, err := sign.Generate()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := sign.SaveKeyFile(path, k, "", false); err != nil {
		return nil, err
	}
	return k, nil
}

// KeyConfig names a hotkey in a key directory: the settings of the keys
// commands and of the chain commands that sign. Each field's doc comment is
// its documentation (package config).
type KeyConfig struct {
	// Name is the key's name (a file in the key directory), or a path to a
	// key file. Defaults to `default`.
	Name string `flag:"name"`
	// Dir is the key directory; empty means $CRUCIBLE_HOME/keys.
	Dir string `flag:"dir"`
}

// KeysDir is where named keys live: $CRUCIBLE_HOME/keys.
func KeysDir() string { return filepath.Join(Home(), "keys") }

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Path resolves the key's name in its directory; a name with a path
// separator is a file path as it is.
func (c KeyConfig) Path() (string, error) {
	if strings.ContainsRune(c.Name, os.PathSeparator) || strings.Contains(c.Name, "/") {
		return c.Name, nil
	}
	if !keyNameRE.MatchString(c.Name) {
		return "", crucible.Errorf(crucible.EINVALID, "key name %q: use letters, digits, '.', '_' and '-' (at most 64)", c.Name)
	}
	dir := c.Dir
	if dir == "" {
		dir = KeysDir()
	}
	return filepath.Join(dir, c.Name), nil
}

// Load loads the named key, with an error that says how to create it when
// there is none.
func (c KeyConfig) Load() (*sign.Keypair, error) {
	if c.Name == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "no key named").WithHint("pass --hotkey NAME; create one with: crucible keys new --name NAME")
	}
	path, err := c.Path()
	if err != nil {
		return nil, err
	}
	kp, err := sign.LoadKeyFile(path)
	if err != nil {
		if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
			return nil, crucible.Wrap(err, crucible.ENOTFOUND, "key %q", c.Name).
				WithHint("create it with: crucible keys new --name " + filepath.Base(path))
		}
		return nil, crucible.Wrap(err, crucible.EINVALID, "key %q", c.Name)
	}
	return kp, nil
}

// Save writes kp (with the derivation path it was made with) to the
// named key's file, replacing one only when force is set; it returns the
// file's path.
func (c KeyConfig) Save(kp *sign.Keypair, derivation string, force bool) (string, error) {
	path, err := c.Path()
	if err != nil {
		return "", err
	}
	if err := sign.SaveKeyFile(path, kp, derivation, force); err != nil {
		if errors.Is(err, sign.ErrKeyExists) {
			return "", crucible.Errorf(crucible.ECONFLICT, "key %s already exists", path).WithHint("pass --force to replace it (the old key is lost)")
		}
		return "", err
	}
	return path, nil
}

// NamedKey is one key of a key directory: its name, and its key or why it
// could not be read.
type NamedKey struct {
	Name string
	Key  *sign.Keypair
	Err  error
}

// ListKeys lists the keys in dir (empty: KeysDir) by name; a directory
// that does not exist holds none.
func ListKeys(dir string) ([]NamedKey, error) {
	if dir == "" {
		dir = KeysDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var out []NamedKey
	for _, e := range entries { // sorted by name
		if e.Type().IsRegular() && keyNameRE.MatchString(e.Name()) {
			kp, err := sign.LoadKeyFile(filepath.Join(dir, e.Name()))
			out = append(out, NamedKey{Name: e.Name(), Key: kp, Err: err})
		}
	}
	return out, nil
}

// KeysNewConfig configures "crucible keys new". Each field's doc comment
// is its documentation (package config).
type KeysNewConfig struct {
	KeyConfig
	// Force overwrites an existing key of this name.
	Force bool `flag:"force"`
}

// New creates a key, saves it under the configured name and returns its
// path, the key and its mnemonic (the only way to restore it).
func (c KeysNewConfig) New() (path string, kp *sign.Keypair, phrase string, err error) {
	if _, err := c.Path(); err != nil {
		return "", nil, "", err
	}
	if kp, phrase, err = sign.Generate(); err != nil {
		return "", nil, "", err
	}
	path, err = c.Save(kp, "", c.Force)
	return path, kp, phrase, err
}

// KeysImportConfig configures "crucible keys import".
type KeysImportConfig struct {
	KeyConfig
	// Mnemonic is the mnemonic, 0x seed or secret URI; unset, it is read
	// from stdin.
	Mnemonic string `flag:"mnemonic"`
	// Derive is a derivation path to apply, e.g. //validator or //Alice.
	Derive string `flag:"derive"`
	// Force overwrites an existing key of this name.
	Force bool `flag:"force"`
}

// Import makes the key of mnemonic (a mnemonic, 0x seed or secret URI:
// the setting, or what the command read from stdin) with the configured
// derivation, saves it and
// returns its path and the key.
func (c KeysImportConfig) Import(mnemonic string) (string, *sign.Keypair, error) {
	if _, err := c.Path(); err != nil {
		return "", nil, err
	}
	if c.Derive != "" && !strings.HasPrefix(c.Derive, "/") {
		return "", nil, crucible.Errorf(crucible.EINVALID, "--derive %q: a derivation path starts with // (hard) or / (soft)", c.Derive)
	}
	mnemonic = strings.TrimSpace(mnemonic)
	if mnemonic == "" && c.Derive == "" {
		return "", nil, crucible.Errorf(crucible.EINVALID, "no mnemonic given").WithHint("pass --mnemonic or pipe it on standard input")
	}
	kp, err := sign.FromURI(mnemonic + c.Derive)
	if err != nil {
		return "", nil, crucible.Wrap(err, crucible.EINVALID, "import key")
	}
	path, err := c.Save(kp, c.Derive, c.Force)
	return path, kp, err
}

// KeysListConfig configures "crucible keys list".
type KeysListConfig struct {
	// Dir is the key directory; empty means $CRUCIBLE_HOME/keys.
	Dir string `flag:"dir"`
}
