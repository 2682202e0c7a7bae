package sqlstore_test

import (
	"context"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

// TestFindTasksByIDPrefix checks the ID prefix filter: a task's own prefix
// finds it, the empty match finds nothing, and a prefix with anything but
// hex digits and dashes (LIKE's wildcards, say) is refused.
func TestFindTasksByIDPrefix(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		a := mustCreate(t, s, newTask("m"))
		mustCreate(t, s, newTask("m"))
		got, total, err := s.FindTasks(ctx, crucible.TaskFilter{IDPrefix: a.ID[:13]})
		if err != nil || total != 1 || got[0].ID != a.ID {
			t.Fatalf("prefix %s: %d tasks (%v)", a.ID[:13], total, err)
		}
		if _, total, _ := s.FindTasks(ctx, crucible.TaskFilter{IDPrefix: a.ID[:8], AccountID: "someone-else"}); total != 0 {
			t.Errorf("prefix with another account: %d tasks", total)
		}
		for _, bad := range []string{"%", "_", "a%", "ABCD", "ab'--"} {
			_, _, err := s.FindTasks(ctx, crucible.TaskFilter{IDPrefix: bad})
			wantCode(t, err, crucible.EINVALID)
		}
	})
}
