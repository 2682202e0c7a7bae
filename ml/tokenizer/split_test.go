package tokenizer

import (
	"slices"
	"testing"
)

// TestSplitBehaviors checks each delimiter behavior on the reference's own
// example ("the-final--countdown" split on "-") and invert.
func TestSplitBehaviors(t *testing.T) {
	const text = "the-final--countdown"
	for _, tc := range []struct {
		behavior string
		invert   bool
		want     []string
	}{
		{"Removed", false, []string{"the", "final", "countdown"}},
		{"Isolated", false, []string{"the", "-", "final", "-", "-", "countdown"}},
		{"MergedWithPrevious", false, []string{"the-", "final-", "-", "countdown"}},
		{"MergedWithNext", false, []string{"the", "-final", "-", "-countdown"}},
		{"Contiguous", false, []string{"the", "-", "final", "--", "countdown"}},
		// Inverted, the pattern describes the pieces: the rest is dropped.
		{"Removed", true, []string{"-", "-", "-"}},
	} {
		s := "-"
		p, err := parseSplit(patternJSON{String: &s}, tc.behavior, tc.invert, "pre_tokenizer")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		p.split(text, true, func(piece string) { got = append(got, piece) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s (invert %v): %q, want %q", tc.behavior, tc.invert, got, tc.want)
		}
	}
	re := `\d+`
	p, err := parseSplit(patternJSON{Regex: &re}, "Removed", true, "pre_tokenizer")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	p.split("ab12cd345", true, func(piece string) { got = append(got, piece) })
	if !slices.Equal(got, []string{"12", "345"}) {
		t.Errorf("inverted regex: %q", got)
	}
	dash := "-"
	if _, err := parseSplit(patternJSON{String: &dash}, "Sideways", false, "pre_tokenizer"); err == nil {
		t.Error("unknown behavior: want an error")
	}
}
