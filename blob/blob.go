// Package blob stores crucible's artifacts (dataset splits, uploaded models,
// results) under slash-separated keys, in a local directory or an
// S3-compatible object store (Open picks one from a spec: a directory or
// s3://bucket/prefix), and signs expiring download links for them so that
// miners fetch training data from the node without credentials: Signer is
// crucible's one link signer, Handler serves the links over any Store.
package blob

import (
	"context"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crucible-net/crucible/crucible"
)

// Info describes a stored object.
type Info struct {
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256,omitempty"` // hex; always set by Put and Stat, not by List
	ModTime time.Time `json:"mod_time"`
}

// Store is artifact storage. Implementations: Local and S3.
type Store interface {
	// Put stores the content of r under key, replacing any object there, and
	// returns its size and SHA-256. Readers see either the old or the new
	// content, never a partial one. Returns EINVALID for a bad key.
	Put(ctx context.Context, key string, r io.Reader) (Info, error)
	// Get opens the object. The caller closes it. Returns ENOTFOUND, EINVALID.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns the object's size, SHA-256 and modification time.
	// Returns ENOTFOUND, EINVALID.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object. Deleting a missing object is not an error.
	// Returns EINVALID.
	Delete(ctx context.Context, key string) error
	// List returns the objects whose keys start with prefix (a plain string
	// prefix, "" for all), in key order, with Key, Size and ModTime set.
	List(ctx context.Context, prefix string) ([]Info, error)
}

// MaxKeyLen is the longest key accepted, in bytes (S3's limit).
const MaxKeyLen = 1024

// ValidateKey checks that key is a relative slash-separated path that means
// the same thing on every backend: not empty, valid UTF-8, no leading or
// trailing slash, no empty, "." or ".." segment, no backslash or control
// character. Returns EINVALID saying why.
func ValidateKey(key string) error {
	bad := func(why string) error {
		return crucible.Errorf(crucible.EINVALID, "blob key %q: %s", key, why)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.HasPrefix(key, "/"):
		return bad("absolute paths are not allowed")
	case strings.HasSuffix(key, "/"):
		return bad("ends with a slash")
	case strings.ContainsRune(key, '\\'):
		return bad("contains a backslash")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad("contains a control character")
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return bad("contains an empty path segment")
		case ".", "..":
			return bad("contains a . or .. segment")
		}
	}
	return nil
}
