package data

import (
	"strconv"
	"unsafe"
)

// fastObject decodes the common shape of a dataset row quickly: one flat
// JSON object whose values are strings (with the usual one-character
// escapes), numbers, true, false or null. Anything else (nested values,
// \u escapes, syntax errors) reports ok false, and the caller decodes the
// row with encoding/json, which also words the errors; whenever ok is true
// the values are what encoding/json would give. raw must be valid UTF-8.
func fastObject(raw []byte) (values map[string]any, ok bool) {
	p := fastParser{b: raw}
	p.space()
	if !p.eat('{') {
		return nil, false
	}
	values = make(map[string]any, 4)
	p.space()
	if p.eat('}') {
		p.space()
		return values, p.i == len(p.b)
	}
	for {
		p.space()
		key, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		if !p.eat(':') {
			return nil, false
		}
		p.space()
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		values[key] = v
		p.space()
		if p.eat(',') {
			continue
		}
		if !p.eat('}') {
			return nil, false
		}
		p.space()
		return values, p.i == len(p.b)
	}
}

type fastParser struct {
	b   []byte
	i   int
	buf []byte
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string; \u escapes and control characters are left to
// encoding/json.
func (p *fastParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// escaped finishes a string that holds escapes, from its start.
func (p *fastParser) escaped(start int) (string, bool) {
	// The string's raw length bounds its decoded one: find its closing
	// quote first, so that the decoded bytes are allocated once and become
	// the string without a copy.
	end := p.i
	for end < len(p.b) && p.b[end] != '"' {
		if p.b[end] == '\\' {
			end++
		}
		end++
	}
	if end > len(p.b) {
		end = len(p.b)
	}
	p.buf = make([]byte, 0, end-start)
	p.buf = append(p.buf, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if len(p.buf) == 0 {
				return "", true
			}
			// p.buf is not written again: the next escaped string
			// allocates its own.
			return unsafe.String(&p.buf[0], len(p.buf)), true
		case c < 0x20:
			return "", false
		case c != '\\':
			p.buf = append(p.buf, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		switch p.b[p.i+1] {
		case '"', '\\', '/':
			p.buf = append(p.buf, p.b[p.i+1])
		case 'b':
			p.buf = append(p.buf, '\b')
		case 'f':
			p.buf = append(p.buf, '\f')
		case 'n':
			p.buf = append(p.buf, '\n')
		case 'r':
			p.buf = append(p.buf, '\r')
		case 't':
			p.buf = append(p.buf, '\t')
		default:
			return "", false // \u and invalid escapes
		}
		p.i += 2
	}
	return "", false
}

func (p *fastParser) value() (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	for _, lit := range [...]struct {
		word string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if len(p.b)-p.i >= len(lit.word) && string(p.b[p.i:p.i+len(lit.word)]) == lit.word {
			p.i += len(lit.word)
			return lit.v, true
		}
	}
	return nil, false
}

// number reads a JSON number as encoding/json does into an interface: a
// float64 (out of range is left to it, which refuses it).
func (p *fastParser) number() (any, bool) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	p.eat('-')
	if p.eat('0') {
		// no more integer digits after a leading zero
	} else if digits() == 0 {
		return nil, false
	}
	if p.eat('.') && digits() == 0 {
		return nil, false
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if !p.eat('+') {
			p.eat('-')
		}
		if digits() == 0 {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}
