package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a stretch of plain text before pre-tokenisation. first
// is true for the stretch that starts the input.
type normalizer interface {
	normalize(s string, first bool) string
}

type unicodeNorm struct{ form norm.Form }

func (n unicodeNorm) normalize(s string, _ bool) string { return n.form.String(s) }

type lowercase struct{}

func (lowercase) normalize(s string, _ bool) string { return strings.ToLower(s) }

type prepend struct{ prefix string }

func (p prepend) normalize(s string, _ bool) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

type replace struct{ old, new string }

func (r replace) normalize(s string, _ bool) string { return strings.ReplaceAll(s, r.old, r.new) }

type strip struct{ left, right bool }

func (p strip) normalize(s string, _ bool) string {
	if p.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if p.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// preTokenizer cuts a normalised stretch of text into pieces that the model
// encodes independently.
type preTokenizer interface {
	split(s string, first bool, emit func(string))
}

// gpt2Split is the GPT-2 pattern, alone or inside ByteLevel(use_regex).
type gpt2Split struct{ addPrefixSpace bool }

func (p gpt2Split) split(s string, _ bool, emit func(string)) {
	if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	scanGPT2(s, emit)
}

// prefixSpace is ByteLevel without its regex: it only adds the prefix space.
type prefixSpace struct{}

func (prefixSpace) split(s string, _ bool, emit func(string)) {
	if !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	emit(s)
}

// llama3Split is the Llama 3 (maxDigits 3) or Qwen2 (maxDigits 1) pattern.
type llama3Split struct{ maxDigits int }

func (p llama3Split) split(s string, _ bool, emit func(string)) { scanLlama3(s, p.maxDigits, emit) }

// literalSplit is Split with a String pattern: each occurrence of sep is a
// piece of its own (Isolated) or dropped (Removed).
type literalSplit struct {
	sep    string
	remove bool
}

func (p literalSplit) split(s string, _ bool, emit func(string)) {
	for {
		i := strings.Index(s, p.sep)
		if i < 0 {
			break
		}
		if i > 0 {
			emit(s[:i])
		}
		if !p.remove {
			emit(s[i : i+len(p.sep)])
		}
		s = s[i+len(p.sep):]
	}
	if s != "" {
		emit(s)
	}
}

// digits is the Digits pre-tokenizer: runs of digits (or each digit, with
// individual) become pieces of their own.
type digits struct{ individual bool }

func (d digits) split(s string, _ bool, emit func(string)) {
	start := 0
	inDigits := false
	for i, r := range s {
		isDigit := unicode.IsNumber(r)
		if i > start && (isDigit != inDigits || (isDigit && d.individual)) {
			emit(s[start:i])
			start = i
		}
		inDigits = isDigit
	}
	if start < len(s) {
		emit(s[start:])
	}
}

// metaspace replaces spaces with the replacement rune ("▁"), prepends one
// (always, or only to the first stretch of the input) and, with split, cuts
// before each run of replacement runes.
type metaspace struct {
	repl         string
	prependFirst bool // prepend_scheme "first"
	prependAll   bool // prepend_scheme "always"
	split_       bool
}

func (m metaspace) split(s string, first bool, emit func(string)) {
	s = strings.ReplaceAll(s, " ", m.repl)
	if (m.prependAll || (m.prependFirst && first)) && !strings.HasPrefix(s, m.repl) {
		s = m.repl + s
	}
	if !m.split_ {
		emit(s)
		return
	}
	// As the reference's split with MergedWithNext: a run of replacement
	// runes starts a piece and stays with the text after it.
	start := 0
	for i := 1; i < len(s); i++ {
		if strings.HasPrefix(s[i:], m.repl) && !strings.HasSuffix(s[:i], m.repl) {
			emit(s[start:i])
			start = i
		}
	}
	emit(s[start:])
}

// decoder rewrites the list of tokens on the way back to text.
type decoder interface {
	decode(toks []string) []string
}

// byteLevelDecoder undoes the byte-level alphabet of each token.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decode(toks []string) []string {
	var b strings.Builder
	for _, tok := range toks {
		if raw, ok := byteLevelDecode(tok); ok {
			b.WriteString(raw)
		} else {
			b.WriteString(tok)
		}
	}
	return []string{b.String()}
}

type replaceDecoder struct{ old, new string }

func (r replaceDecoder) decode(toks []string) []string {
	for i, tok := range toks {
		toks[i] = strings.ReplaceAll(tok, r.old, r.new)
	}
	return toks
}

// byteFallbackDecoder turns runs of <0xNN> tokens into the bytes they stand
// for; a run that is not valid UTF-8 becomes one U+FFFD per byte, as in the
// reference implementation.
type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decode(toks []string) []string {
	out := toks[:0:0]
	var pending []byte
	flush := func() {
		if pending == nil {
			return
		}
		if s := string(pending); utf8ValidString(s) {
			out = append(out, s)
		} else {
			out = append(out, strings.Repeat("\uFFFD", len(pending)))
		}
		pending = nil
	}
	for _, tok := range toks {
		if b, ok := parseByteToken(tok); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, tok)
	}
	flush()
	return out
}

// parseByteToken parses a byte-fallback token "<0xNN>".
func parseByteToken(tok string) (byte, bool) {
	if len(tok) != 6 || tok[:3] != "<0x" || tok[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(tok[3])
	lo, ok2 := hexVal(tok[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

type fuseDecoder struct{}

func (fuseDecoder) decode(toks []string) []string { return []string{strings.Join(toks, "")} }

// stripDecoder removes up to start leading and stop trailing copies of
// content from each token.
type stripDecoder struct {
	content     string
	start, stop int
}

func (d stripDecoder) decode(toks []string) []string {
	for i, tok := range toks {
		for n := 0; n < d.start && strings.HasPrefix(tok, d.content); n++ {
			tok = tok[len(d.content):]
		}
		for n := 0; n < d.stop && strings.HasSuffix(tok, d.content); n++ {
			tok = tok[:len(tok)-len(d.content)]
		}
		toks[i] = tok
	}
	return toks
}

// metaspaceDecoder turns the replacement rune back into spaces and drops the
// space prepended to the first token.
type metaspaceDecoder struct {
	repl      string
	dropFirst bool
}

func (d metaspaceDecoder) decode(toks []string) []string {
	for i, tok := range toks {
		tok = strings.ReplaceAll(tok, d.repl, " ")
		if i == 0 && d.dropFirst {
			tok = strings.TrimPrefix(tok, " ")
		}
		toks[i] = tok
	}
	return toks
}
