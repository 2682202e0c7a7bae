package tokenizer

import (
	"encoding/json"
	"math"
	"strconv"
)

// The vocabulary and merges are nearly all of a tokenizer.json (11 MB for
// Qwen3). They are decoded here by a small scanner, several times faster than
// encoding/json's reflection; anything it does not expect sends the value to
// encoding/json instead, so the result and the errors stay the same. Input
// reaching these functions has already been checked to be valid JSON.

// vocabMap is model.vocab: token as written → id. Ids out of the int32
// range are clamped to -1 so that the id check reports them.
type vocabMap map[string]int32

func (v *vocabMap) UnmarshalJSON(b []byte) error {
	if m, ok := scanVocab(b); ok {
		*v = m
		return nil
	}
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*v = make(vocabMap, len(m))
	for k, id := range m {
		if id < 0 || id > math.MaxInt32 {
			id = -1
		}
		(*v)[k] = int32(id)
	}
	return nil
}

// jsonScanner reads JSON text from b.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// eat skips whitespace and then c, reporting whether c was there.
func (s *jsonScanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string; escapes are decoded by encoding/json.
func (s *jsonScanner) str() (string, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i
	escaped := false
	for j := start + 1; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			s.i = j + 1
			if !escaped {
				return string(s.b[start+1 : j]), true
			}
			var out string
			if err := json.Unmarshal(s.b[start:j+1], &out); err != nil {
				return "", false
			}
			return out, true
		}
	}
	return "", false
}

// int reads a non-negative integer written plainly.
func (s *jsonScanner) int() (int, bool) {
	s.ws()
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == start || s.i-start > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(string(s.b[start:s.i]))
	return n, err == nil
}

// scanVocab decodes {"token": id, ...}.
func scanVocab(b []byte) (vocabMap, bool) {
	s := &jsonScanner{b: b}
	if !s.eat('{') {
		return nil, false
	}
	m := make(vocabMap, len(b)/12)
	if s.eat('}') {
		return m, s.end()
	}
	for {
		k, ok := s.str()
		if !ok || !s.eat(':') {
			return nil, false
		}
		v, ok := s.int()
		if !ok {
			return nil, false
		}
		m[k] = int32(v)
		if s.eat('}') {
			return m, s.end()
		}
		if !s.eat(',') {
			return nil, false
		}
	}
}

func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// scanMerges decodes ["a b", ...] or [["a", "b"], ...]; strings are split
// at their one space by the caller, so it returns both forms.
func scanMerges(b []byte) (strs []string, pairs [][2]string, ok bool) {
	s := &jsonScanner{b: b}
	if !s.eat('[') {
		return nil, nil, false
	}
	if s.eat(']') {
		return nil, nil, s.end()
	}
	s.ws()
	asPairs := s.i < len(b) && b[s.i] == '['
	n := len(b) / 16
	if asPairs {
		pairs = make([][2]string, 0, n)
	} else {
		strs = make([]string, 0, n)
	}
	for {
		if asPairs {
			if !s.eat('[') {
				return nil, nil, false
			}
			a, ok1 := s.str()
			if !ok1 || !s.eat(',') {
				return nil, nil, false
			}
			c, ok2 := s.str()
			if !ok2 || !s.eat(']') {
				return nil, nil, false
			}
			pairs = append(pairs, [2]string{a, c})
		} else {
			v, ok := s.str()
			if !ok {
				return nil, nil, false
			}
			strs = append(strs, v)
		}
		if s.eat(']') {
			return strs, pairs, s.end()
		}
		if !s.eat(',') {
			return nil, nil, false
		}
	}
}
