package node

import (
	"errors"
	"os"
	"path/filepath"

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
