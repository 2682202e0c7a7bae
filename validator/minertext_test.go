package validator

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A miner's words are untrusted: what the validator records of them is
// valid UTF-8 without control characters, one line, and bounded, keeping
// the end (a trainer's last lines say why it stopped).
func TestMinerText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"crucible_torch failed: exit status 3:\nloading\nout of memory", "crucible_torch failed: exit status 3: | loading | out of memory"},
		{"bell\a and \x1b[31mred\x1b[0m", "bell  and  [31mred [0m"},
		{"bad \xff byte", "bad ? byte"},
		{"\r\n\n", ""},
	} {
		if got := minerText(c.in); got != c.want {
			t.Errorf("minerText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("é", 3000) + "the end"
	got := minerText(long)
	if len(got) > maxMinerText+len("…") || !strings.HasSuffix(got, "the end") || !utf8.ValidString(got) {
		t.Errorf("long text: %d bytes, valid %v, ends %q", len(got), utf8.ValidString(got), got[len(got)-10:])
	}
}
