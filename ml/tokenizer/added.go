package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedTokens finds added tokens in text before anything else runs, the
// leftmost match first and the longest among those starting there.
type addedTokens struct {
	list []addedToken
	// byFirst lists, per first byte, the indexes into list of the tokens
	// starting with it, longest first.
	byFirst [256][]int
}

func newAddedTokens(list []addedToken) addedTokens {
	a := addedTokens{list: list}
	for i, tok := range list {
		if tok.Content == "" {
			continue
		}
		b := tok.Content[0]
		a.byFirst[b] = append(a.byFirst[b], i)
	}
	for b := range a.byFirst {
		idx := a.byFirst[b]
		sort.SliceStable(idx, func(x, y int) bool { return len(list[idx[x]].Content) > len(list[idx[y]].Content) })
	}
	return a
}

// split calls fn for each stretch of text in order: with id -1 for plain
// text and with the token's id for an added token. first is true for a
// stretch that starts the text. With special false, special tokens are left
// in the plain text.
func (a *addedTokens) split(text string, special bool, fn func(seg string, id int, first bool)) {
	if len(a.list) == 0 {
		fn(text, -1, true)
		return
	}
	start := 0 // start of the pending plain text
	for i := 0; i < len(text); {
		cands := a.byFirst[text[i]]
		matched := -1
		for _, k := range cands {
			tok := &a.list[k]
			if (!tok.Special || special) && strings.HasPrefix(text[i:], tok.Content) {
				matched = k
				break
			}
		}
		if matched < 0 {
			i++
			continue
		}
		if tok := &a.list[matched]; tok.SingleWord && !wordBoundary(text, i, i+len(tok.Content)) {
			// Like the reference, a discarded match is skipped whole: no
			// shorter token is tried inside it.
			i += len(tok.Content)
			continue
		}
		tok := &a.list[matched]
		lo, hi := i, i+len(tok.Content)
		if tok.LStrip {
			lo = start + len(strings.TrimRightFunc(text[start:lo], unicode.IsSpace))
		}
		if tok.RStrip {
			hi = len(text) - len(strings.TrimLeftFunc(text[hi:], unicode.IsSpace))
		}
		if lo > start {
			fn(text[start:lo], -1, start == 0)
		}
		fn(text[lo:hi], tok.ID, lo == 0)
		start, i = hi, hi
	}
	if start < len(text) {
		fn(text[start:], -1, start == 0)
	}
}

// wordBoundary reports whether text[lo:hi] is not glued to a word character
// (\w: letters, marks, decimal digits, connector punctuation, joiners) on
// either side, for single_word tokens.
func wordBoundary(text string, lo, hi int) bool {
	isWord := func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
			unicode.Is(unicode.Pc, r) || r == '\u200c' || r == '\u200d'
	}
	if lo > 0 {
		r, _ := utf8.DecodeLastRuneInString(text[:lo])
		if isWord(r) {
			return false
		}
	}
	if hi < len(text) {
		r, _ := utf8.DecodeRuneInString(text[hi:])
		if isWord(r) {
			return false
		}
	}
	return true
}
