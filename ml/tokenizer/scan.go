package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Character classes of the split patterns: \p{L}, \p{N}, \s and everything
// else. An invalid UTF-8 byte counts as "other", like the U+FFFD it decodes
// to, and is kept as the raw byte so that byte-level models round-trip it.
const (
	clsOther = iota
	clsLetter
	clsNumber
	clsSpace
)

// asciiClass holds the class of each ASCII byte.
var asciiClass [128]uint8

func init() {
	for b := 0; b < 128; b++ {
		asciiClass[b] = slowClass(rune(b))
	}
}

func slowClass(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// classAt returns the class of the rune starting at s[i] and its width.
func classAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && w == 1 {
		return clsOther, 1
	}
	return slowClass(r), w
}

// skipClass returns the end of the run of runes of class cls starting at i.
func skipClass(s string, i int, cls uint8) int {
	for i < len(s) {
		c, w := classAt(s, i)
		if c != cls {
			break
		}
		i += w
	}
	return i
}

// skipOther is skipClass for "anything but a letter, number or space".
func skipOther(s string, i int) int { return skipClass(s, i, clsOther) }

// spaceRun scans the whitespace run starting at i (s[i] is whitespace) and
// resolves the `\s+(?!\S)|\s+` alternatives: a run that reaches the end of the
// text is taken whole; a run followed by a non-space gives up its last rune
// (which then prefixes the next piece) unless that rune is the whole run.
func spaceRun(s string, i int) int {
	end, last := i, i
	for end < len(s) {
		c, w := classAt(s, end)
		if c != clsSpace {
			break
		}
		last = end
		end += w
	}
	if end == len(s) || last == i {
		return end
	}
	return last
}

// contraction reports the length of a contraction ('s 't 're 've 'm 'll 'd)
// at s[i], or 0. fold makes it case-insensitive, as in (?i:...), including
// U+017F LATIN SMALL LETTER LONG S, which case-folds to s.
func contraction(s string, i int, fold bool) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return 0
	}
	c := s[i+1]
	if fold && c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	switch c {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v', 'l':
		if i+2 >= len(s) {
			return 0
		}
		d := s[i+2]
		if fold && d >= 'A' && d <= 'Z' {
			d += 'a' - 'A'
		}
		if (c == 'r' || c == 'v') && d == 'e' || c == 'l' && d == 'l' {
			return 3
		}
	case 0xC5: // U+017F is C5 BF
		if fold && i+2 < len(s) && s[i+2] == 0xBF {
			return 3
		}
	}
	return 0
}

// scanGPT2 splits s like GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// calling emit with each match in order; the matches cover s.
func scanGPT2(s string, emit func(string)) {
	for i := 0; i < len(s); {
		end := gpt2Match(s, i)
		emit(s[i:end])
		i = end
	}
}

func gpt2Match(s string, i int) int {
	if n := contraction(s, i, false); n > 0 {
		return i + n
	}
	j := i
	if s[i] == ' ' && i+1 < len(s) {
		j = i + 1
	}
	cls, w := classAt(s, j)
	if cls != clsSpace {
		return skipClass(s, j+w, cls)
	}
	return spaceRun(s, i)
}

// scanLlama3 splits s like the Llama 3 pattern (maxDigits 3) or the Qwen2
// pattern (maxDigits 1):
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func scanLlama3(s string, maxDigits int, emit func(string)) {
	for i := 0; i < len(s); {
		end := llama3Match(s, i, maxDigits)
		emit(s[i:end])
		i = end
	}
}

func llama3Match(s string, i, maxDigits int) int {
	if n := contraction(s, i, true); n > 0 {
		return i + n
	}
	cls, w := classAt(s, i)
	switch cls {
	case clsLetter:
		return skipClass(s, i+w, clsLetter)
	case clsNumber:
		end := i + w
		for n := 1; n < maxDigits && end < len(s); n++ {
			c, w2 := classAt(s, end)
			if c != clsNumber {
				break
			}
			end += w2
		}
		return end
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+ with a leading non-letter.
	if c := s[i]; c != '\r' && c != '\n' && i+w < len(s) {
		if next, w2 := classAt(s, i+w); next == clsLetter {
			return skipClass(s, i+w+w2, clsLetter)
		}
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	j, jcls, jw := i, cls, w
	if s[i] == ' ' && i+1 < len(s) {
		j = i + 1
		jcls, jw = classAt(s, j)
	}
	if jcls == clsOther {
		end := skipOther(s, j+jw)
		for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
			end++
		}
		return end
	}
	// Whitespace: \s*[\r\n]+ takes the run up to its last line break.
	end, lastNL := i, -1
	for end < len(s) {
		c, w2 := classAt(s, end)
		if c != clsSpace {
			break
		}
		if s[end] == '\r' || s[end] == '\n' {
			lastNL = end
		}
		end += w2
	}
	if lastNL >= 0 {
		return lastNL + 1
	}
	return spaceRun(s, i)
}
