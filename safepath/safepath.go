// Package safepath builds file paths out of names that came from elsewhere
// (a peer, a customer, an archive, a trainer's output), so that no name can
// reach outside the directory it is meant for. Every path crucible builds
// from such a name goes through Join; tar archives and other trees written
// from the network are written through an os.Root (OpenRoot), which also
// refuses symbolic links that lead out.
//
// It imports only the standard library and crucible's error type, so that
// any package may use it.
package safepath

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Join joins root and the relative, slash- or OS-separated names elems,
// refusing (EINVALID) any name that is empty, absolute, holds a NUL byte,
// or climbs out with "..": the result is always root itself or inside it,
// lexically. Use it wherever a path is built from a name that was not
// written into the program.
func Join(root string, elems ...string) (string, error) {
	parts := make([]string, 0, len(elems)+1)
	parts = append(parts, root)
	for _, e := range elems {
		if err := CheckRel(e); err != nil {
			return "", err
		}
		parts = append(parts, filepath.FromSlash(e))
	}
	return filepath.Join(parts...), nil
}

// CheckRel returns EINVALID when name is not a relative path that stays
// where it is joined: empty, absolute, a Windows drive or UNC path, a NUL
// byte, a backslash, or a ".." that climbs out.
func CheckRel(name string) error {
	why := ""
	switch {
	case name == "":
		why = "it is empty"
	case strings.ContainsRune(name, 0):
		why = "it holds a NUL byte"
	case strings.ContainsRune(name, '\\'):
		why = "it holds a backslash"
	case !filepath.IsLocal(filepath.FromSlash(name)):
		why = "it is absolute or climbs out of its directory"
	}
	if why == "" {
		return nil
	}
	shown := name
	if len(shown) > 200 {
		shown = shown[:200] + "…"
	}
	return crucible.Errorf(crucible.EINVALID, "path %q is refused: %s", shown, why)
}

// OpenRoot opens dir as an os.Root: files opened through it cannot escape
// dir, by ".." or by symbolic links.
func OpenRoot(dir string) (*os.Root, error) {
	return os.OpenRoot(dir)
}
