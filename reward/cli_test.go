package reward

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

// TestScoreLines checks the scoring filter external trainers call: one
// line out per line in, blank lines skipped, a broken line named.
func TestScoreLines(t *testing.T) {
	rs, set, err := Parse([]string{"numeric_answer"}, nil)
	if err != nil || len(rs) != 1 {
		t.Fatal(rs, err)
	}
	in := `{"prompt": "2+2?", "completion": "4", "extra": {"answer": 4}}

{"prompt": "2+2?", "completion": "5", "extra": {"answer": 4}}
`
	var out bytes.Buffer
	if err := ScoreLines(context.Background(), set, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"total":1,`) || !strings.HasPrefix(lines[1], `{"total":0,`) {
		t.Fatalf("scores %q", out.String())
	}
	err = ScoreLines(context.Background(), set, strings.NewReader("{}\nnot json\n"), &out)
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "stdin:2") {
		t.Errorf("bad line: %v", err)
	}
	if _, _, err := Parse([]string{"no_such_reward"}, nil); err == nil {
		t.Error("an unknown built-in parsed")
	}
	path := filepath.Join(t.TempDir(), "rewards.json")
	os.WriteFile(path, []byte(`[{"name": "numeric_answer", "bogus": 1}]`), 0o600)
	if _, err := ReadList(path); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("unknown field: %v", err)
	}
	var b bytes.Buffer
	if err := WriteBuiltins(&b); err != nil || !strings.Contains(b.String(), "numeric_answer") {
		t.Errorf("builtins %q %v", b.String(), err)
	}
}
