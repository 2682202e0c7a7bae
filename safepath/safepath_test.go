package safepath

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

func TestJoin(t *testing.T) {
	root := t.TempDir()
	for _, ok := range [][]string{{"a"}, {"a/b", "c"}, {"tasks", "9f1c-2d", "out"}, {"a/./b"}, {"a/../b"}} {
		p, err := Join(root, ok...)
		if err != nil {
			t.Fatalf("Join(%q) = %v", ok, err)
		}
		if rel, err := filepath.Rel(root, p); err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("Join(%q) = %s, outside %s", ok, p, root)
		}
	}
	for _, bad := range []string{"", "..", "../x", "a/../../x", "/etc/passwd", `..\x`, "a\x00b", "a/b/../../.."} {
		_, err := Join(root, "ok", bad)
		if crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("Join(%q) = %v, want EINVALID", bad, err)
		}
	}
}
