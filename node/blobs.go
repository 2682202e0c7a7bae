package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/crucible"
)

// OpenBlobs opens the blob store a node's --blobs names: a directory, or
// s3://bucket/prefix with the endpoint and credentials from the AWS
// environment variables (see blob.Open).
func OpenBlobs(ctx context.Context, spec string) (blob.Store, error) {
	s, err := blob.Open(ctx, spec, nil)
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return s, nil
}

// linkKeySize is the length of a node's link-signing secret.
const linkKeySize = 32

// LinkSigner returns the signer of the node's download links, its secret
// kept in the state directory (keys/links.key, 0600; created on first use),
// so that links handed out before a restart still work after it.
func LinkSigner(st *State) (*blob.Signer, error) {
	path := st.Path("keys", "links.key")
	secret, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		secret = make([]byte, linkKeySize)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("link key: %w", err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, secret, 0o600); err != nil {
			return nil, fmt.Errorf("link key: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("link key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("link key: %w", err)
	}
	if len(secret) != linkKeySize {
		return nil, crucible.Errorf(crucible.EINVALID, "link key %s holds %d bytes, want %d", path, len(secret), linkKeySize).
			WithHint("remove it to have a new one made (links handed out before stop working)")
	}
	return blob.NewSigner(secret)
}
