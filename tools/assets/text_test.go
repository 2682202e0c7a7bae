package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestQuizCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Algiers", "Algiers"},
		{"{G{eorge} }Washington", "George Washington"},
		{"forget{-| }me{-| }not", "forget-me-not"},
		{"M[iddle{-}Earth|E]", "Middle-Earth"},
		{"Andorra la V[ell|iej]a", "Andorra la Vella"},
		{`To be{,} or not to be{\:}`, "To be, or not to be:"},
		{"[St.|Saint] John's", "St. John's"},
	}
	for _, tc := range tests {
		got, err := quizCanonical(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("quizCanonical(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := quizCanonical("Bras{il"); err == nil {
		t.Error("unclosed brace: no error")
	}
}

func TestSplitQuiz(t *testing.T) {
	tests := []struct {
		in   string
		sep  byte
		want []string
		err  bool
	}{
		{"a:b:c", ':', []string{"a", "b", "c"}, false},
		{"x{y:z}:w", ':', []string{"x{y:z}", "w"}, false},
		{`a\:b:c`, ':', []string{`a\:b`, "c"}, false},
		{"lion|tiger|bear", '|', []string{"lion", "tiger", "bear"}, false},
		{"a[b|c]|d", '|', []string{"a[b|c]", "d"}, false},
		{"a}b", ':', nil, true},
		{"a{b", ':', nil, true},
	}
	for _, tc := range tests {
		got, err := splitQuiz(tc.in, tc.sep)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("splitQuiz(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestReadQuiz(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quiz")
	text := "Brazil:Bras'\bilia\n\n{G{eorge} }Washington:1789-{17}97:\\\n{J{ohn} }Adams:{J{ohn} }Adams\ncub:lion|tiger|bear\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := readQuiz(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	if recs[0].Fields[1] != "Brasília" {
		t.Errorf("overstrike: %q", recs[0].Fields[1])
	}
	if want := []string{"George Washington", "1789-1797", "John Adams", "John Adams"}; !slices.Equal(recs[1].Fields, want) || recs[1].Line != 3 {
		t.Errorf("continued record = %q at line %d", recs[1].Fields, recs[1].Line)
	}
	if want := []string{"lion", "tiger", "bear"}; !slices.Equal(recs[2].Alts[1], want) {
		t.Errorf("alternatives = %q", recs[2].Alts[1])
	}
	if err := os.WriteFile(path, []byte("ok:fine\nbad:{open\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readQuiz(path); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("bad line: err = %v, want one naming line 2", err)
	}
}

func TestParseSynset(t *testing.T) {
	line := `00001740 29 v 04 breathe 0 take_a_breath 0 respire 0 suspire 3 021 * 00005041 v 0000 | draw air into, and expel out of, the lungs; "I can breathe better when the air is clean"; "The patient is respiring"  `
	s, err := parseSynset(line, "verb")
	if err != nil {
		t.Fatal(err)
	}
	if s.Offset != 1740 || !slices.Equal(s.Words, []string{"breathe", "take a breath", "respire", "suspire"}) {
		t.Errorf("offset %d, words %q", s.Offset, s.Words)
	}
	if s.Def != "draw air into, and expel out of, the lungs" || len(s.Examples) != 2 {
		t.Errorf("def %q, examples %q", s.Def, s.Examples)
	}
	want := `breathe, take a breath, respire, suspire (verb): draw air into, and expel out of, the lungs; "I can breathe better when the air is clean"; "The patient is respiring"`
	if s.line() != want {
		t.Errorf("line() = %q", s.line())
	}
	adj := `00001740 00 a 01 able(p) 0 000 | having the necessary means; "able to swim"`
	if s, err := parseSynset(adj, "adjective"); err != nil || s.Words[0] != "able" {
		t.Errorf("adjective marker: %q, %v", s.Words, err)
	}
	for _, bad := range []string{"00001740 29 v 04 breathe", "x 29 v 01 a 0 000 | gloss", "00001740 29 v zz a 0 000 | gloss"} {
		if _, err := parseSynset(bad, "verb"); err == nil {
			t.Errorf("parseSynset(%q): no error", bad)
		}
	}
}

func TestTextHelpers(t *testing.T) {
	if got := cleanLine("  a\tb \u00a0 c\x07\ufeff  "); got != "a b c" {
		t.Errorf("cleanLine = %q", got)
	}
	paras := proseParagraphs([]string{"It was a", "dark night.", "", "  ", "Then", "dawn."})
	if !slices.Equal(paras, []string{"It was a dark night.", "Then dawn."}) {
		t.Errorf("proseParagraphs = %q", paras)
	}
	text := strings.Repeat("One sentence here. ", 40)
	chunks := chunkSentences(text, 100)
	if strings.Join(chunks, " ") != strings.TrimSpace(text) {
		t.Error("chunkSentences lost text")
	}
	for _, c := range chunks {
		if len(c) > 200 || !strings.HasSuffix(c, ".") {
			t.Errorf("chunk %q", c)
		}
	}
	if got := sentence("paris"); got != "Paris." {
		t.Errorf("sentence = %q", got)
	}
	if article("owl") != "an" || article("cub") != "a" {
		t.Error("article")
	}
}

func TestDPOPairs(t *testing.T) {
	facts := []fact{
		{Group: "capital", Questions: []string{"Capital of A?", "A's capital?"}, Answer: "X."},
		{Group: "capital", Questions: []string{"Capital of B?"}, Answer: "X."},
		{Group: "capital", Questions: []string{"Capital of C?"}, Answer: "Z."},
		{Group: "symbol", Questions: []string{"Symbol of iron?"}, Answer: "Fe."},
		{Group: "symbol", Questions: []string{"Symbol of gold?"}, Answer: "Au."},
	}
	pairs := dpoPairs(facts)
	group := map[string]string{}
	for _, f := range facts {
		group[f.Answer] = f.Group
	}
	if len(pairs) != 5 {
		t.Fatalf("%d pairs, want 5: %+v", len(pairs), pairs)
	}
	for _, p := range pairs {
		if p.Chosen == p.Rejected || group[p.Chosen] != group[p.Rejected] {
			t.Errorf("pair %+v: rejected must be a different answer of the same group", p)
		}
	}
}
