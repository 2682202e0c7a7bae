package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// This file reads the question files of quiz(6) from bsdgames. A record is
// one line (a trailing backslash continues it) of ':'-separated fields; in
// a field, "a|b" are alternative answers, "{x}" is optional text, "[a|b]"
// groups alternatives, and a backslash escapes the next character.

// quizRecord is one line of a quiz file, each field in its canonical
// (fullest) spelling.
type quizRecord struct {
	Line   int
	Fields []string
	Alts   [][]string // every top-level alternative of each field, canonical
}

// readQuiz reads a quiz file's records.
func readQuiz(path string) ([]quizRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []quizRecord
	sc := bufio.NewScanner(f)
	n, start := 0, 0
	var cur strings.Builder
	for sc.Scan() {
		n++
		line := sc.Text()
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			continue
		}
		cur.WriteString(line)
		text := overstrike(cur.String())
		cur.Reset()
		if strings.TrimSpace(text) == "" {
			continue
		}
		fields, err := splitQuiz(text, ':')
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, start, err)
		}
		r := quizRecord{Line: start}
		for i, fl := range fields {
			alts, err := splitQuiz(fl, '|')
			if err != nil {
				return nil, fmt.Errorf("%s:%d: field %d: %w", path, start, i+1, err)
			}
			var canon []string
			for _, a := range alts {
				c, err := quizCanonical(a)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: field %d: %w", path, start, i+1, err)
				}
				canon = append(canon, strings.TrimSpace(c))
			}
			r.Fields = append(r.Fields, canon[0])
			r.Alts = append(r.Alts, canon)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// splitQuiz splits s at sep outside braces and brackets, keeping escapes.
func splitQuiz(s string, sep byte) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced %q at byte %d of %q", c, i, s)
			}
		case c == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unclosed brace or bracket in %q", s)
	}
	return append(parts, s[start:]), nil
}

// quizCanonical expands one alternative into its fullest spelling: optional
// parts included, the first choice of every group taken, escapes resolved.
func quizCanonical(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '{', '[':
			close := byte('}')
			if c == '[' {
				close = ']'
			}
			j, depth := i+1, 1
			for ; j < len(s) && depth > 0; j++ {
				switch s[j] {
				case '\\':
					j++
				case '{', '[':
					depth++
				case '}', ']':
					depth--
				}
			}
			if depth != 0 || s[j-1] != close {
				return "", fmt.Errorf("unclosed %q in %q", c, s)
			}
			alts, err := splitQuiz(s[i+1:j-1], '|')
			if err != nil {
				return "", err
			}
			inner, err := quizCanonical(alts[0])
			if err != nil {
				return "", err
			}
			b.WriteString(inner)
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// quizFile reads one of bsdgames' quiz files.
func quizFile(o options, name string) ([]quizRecord, error) {
	return readQuiz(filepath.Join(srcDir(o, "bsdgames"), "usr/share/games/bsdgames/quiz", name))
}

// overstrikes are the accented letters quiz files spell as an accent, a
// backspace and a letter (in either order).
var overstrikes = map[string]string{
	"'a": "á", "'e": "é", "'i": "í", "'o": "ó", "'u": "ú", "`a": "à", "`e": "è",
	",c": "ç", ",s": "ş", "^o": "ô", "^e": "ê", "~a": "ã", "~n": "ñ", "/o": "ø", "°A": "Å",
	"\"a": "ä", "\"o": "ö", "\"u": "ü",
}

// overstrike replaces accent-backspace-letter sequences with the accented
// letter.
func overstrike(s string) string {
	if !strings.Contains(s, "\b") {
		return s
	}
	pairs := make([]string, 0, len(overstrikes))
	for p := range overstrikes {
		pairs = append(pairs, p)
	}
	sort.Strings(pairs) // a fixed order keeps the output independent of map iteration
	for _, pair := range pairs {
		r := overstrikes[pair]
		a, b := string([]rune(pair)[0]), string([]rune(pair)[1])
		s = strings.ReplaceAll(s, a+"\b"+b, r)
		s = strings.ReplaceAll(s, b+"\b"+a, r)
	}
	return s
}
