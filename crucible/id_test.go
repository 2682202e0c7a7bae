package crucible

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for _, s := range []string{"a", "0", "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "abc_DEF-1", strings.Repeat("x", MaxIDLen)} {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false", s)
		}
		if err := CheckID("task_id", s); err != nil {
			t.Errorf("CheckID(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", ".", "..", "../../etc", "a/b", `a\b`, "-a", "_a", "a.b", "a b", "a\x00", "é", "/abs",
		strings.Repeat("x", MaxIDLen+1), "a%2Fb", "a\n"} {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
		err := CheckID("task_id", s)
		if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "task_id") {
			t.Errorf("CheckID(%q) = %v, want EINVALID naming the field", s, err)
		}
	}
}
