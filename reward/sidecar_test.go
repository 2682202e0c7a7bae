package reward_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/reward"
)

// The shipped arithmetic set's rewards file loads; a dataset without one
// has none; a file whose reward does not compile, or that is not an array
// of rewards, is refused with the file's name and the reason.
func TestLoadSidecar(t *testing.T) {
	rs, ok, err := reward.LoadSidecar(filepath.Join("..", "assets", "datasets", "arithmetic.jsonl"))
	if err != nil || !ok || len(rs) != 2 || rs[0].Name != "numeric_answer" {
		t.Fatalf("shipped rewards: %+v %v %v", rs, ok, err)
	}
	dir := t.TempDir()
	ds := filepath.Join(dir, "set.parquet")
	if _, ok, err := reward.LoadSidecar(ds); ok || err != nil {
		t.Fatalf("no rewards file: ok %v, %v", ok, err)
	}
	for _, c := range []struct{ body, want string }{
		{`[{"name": "mine", "weight": 1, "code": "def reward(p, c, e):\n    return (1\n"}]`, "syntax error"},
		{`{"name": "numeric_answer", "weight": 1}`, "want a JSON array"},
		{`[]`, "at least one reward"},
		{`[{"name": "no_such_reward", "weight": 1}]`, "no_such_reward"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "set.rewards.json"), []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := reward.LoadSidecar(ds)
		if err == nil || !strings.Contains(err.Error(), "set.rewards.json") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rewards file %s: %v; want an error naming the file and %q", c.body, err, c.want)
		}
	}
}
