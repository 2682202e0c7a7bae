package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// synset is one WordNet synonym set: its words, part of speech, definition
// and example sentences.
type synset struct {
	Offset   int64 // byte offset in its data file, as the index files name it
	Words    []string
	POS      string // noun, verb, adjective, adverb
	Def      string
	Examples []string
}

// line renders a synset as a dictionary entry.
func (s synset) line() string {
	var b strings.Builder
	b.WriteString(strings.Join(s.Words, ", "))
	b.WriteString(" (" + s.POS + "): " + s.Def)
	for _, e := range s.Examples {
		b.WriteString(`; "` + e + `"`)
	}
	return b.String()
}

var wordnetFiles = []struct{ File, POS string }{
	{"data.noun", "noun"}, {"data.verb", "verb"}, {"data.adj", "adjective"}, {"data.adv", "adverb"},
}

// adjMarker is the syntactic marker some adjectives carry: "(a)", "(p)", "(ip)".
var adjMarker = regexp.MustCompile(`\((a|p|ip)\)$`)

// readWordNet parses WordNet's data.* files in file order.
func readWordNet(o options) ([]synset, error) {
	dir := filepath.Join(srcDir(o, "wordnet"), "usr/share/wordnet")
	var out []synset
	for _, wf := range wordnetFiles {
		path := filepath.Join(dir, wf.File)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<16), 1<<22)
		n := 0
		for sc.Scan() {
			n++
			line := sc.Text()
			if strings.HasPrefix(line, "  ") { // licence header
				continue
			}
			s, err := parseSynset(line, wf.POS)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			out = append(out, s)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return out, nil
}

func parseSynset(line, pos string) (synset, error) {
	head, gloss, ok := strings.Cut(line, " | ")
	if !ok {
		return synset{}, fmt.Errorf("no gloss (no \" | \")")
	}
	f := strings.Fields(head)
	if len(f) < 6 {
		return synset{}, fmt.Errorf("only %d fields before the gloss", len(f))
	}
	cnt, err := strconv.ParseUint(f[3], 16, 16)
	if err != nil || cnt == 0 || len(f) < 4+2*int(cnt) {
		return synset{}, fmt.Errorf("bad word count %q", f[3])
	}
	off, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return synset{}, fmt.Errorf("bad synset offset %q", f[0])
	}
	s := synset{POS: pos, Offset: off}
	for i := range int(cnt) {
		w := adjMarker.ReplaceAllString(f[4+2*i], "")
		s.Words = append(s.Words, strings.ReplaceAll(w, "_", " "))
	}
	var defs []string
	for _, part := range splitGloss(gloss) {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case strings.HasPrefix(part, `"`):
			if e := strings.Trim(part, `" `); e != "" {
				s.Examples = append(s.Examples, e)
			}
		default:
			defs = append(defs, part)
		}
	}
	s.Def = cleanLine(strings.Join(defs, "; "))
	if s.Def == "" {
		return synset{}, fmt.Errorf("empty definition in gloss %q", gloss)
	}
	return s, nil
}

// splitGloss splits a gloss at semicolons outside double quotes.
func splitGloss(g string) []string {
	var parts []string
	in := false
	start := 0
	for i := 0; i < len(g); i++ {
		switch g[i] {
		case '"':
			in = !in
		case ';':
			if !in {
				parts = append(parts, g[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, g[start:])
}
