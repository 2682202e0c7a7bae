package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// pieceDecoder is a fast Decode for the decoder chain of SentencePiece-style
// models (Llama 2, Mistral): Replace("▁", " "), ByteFallback, Fuse,
// Strip(" ", start, stop). It gives the chain's result with each token's text
// worked out once at load time instead of on every call.
type pieceDecoder struct {
	text        []string // by id: the token with the replacement done
	byteVal     []int16  // by id: the byte of a <0xNN> token, or -1
	strip       string
	start, stop int
}

// newPieceDecoder returns the fast decoder for chain, or nil when chain is
// not the one it reproduces.
func newPieceDecoder(chain []decoder, tokens []string) *pieceDecoder {
	if len(chain) != 4 {
		return nil
	}
	rep, ok1 := chain[0].(replaceDecoder)
	_, ok2 := chain[1].(byteFallbackDecoder)
	_, ok3 := chain[2].(fuseDecoder)
	st, ok4 := chain[3].(stripDecoder)
	if !ok1 || !ok2 || !ok3 || !ok4 || rep.old == "" {
		return nil
	}
	d := &pieceDecoder{
		text:    make([]string, len(tokens)),
		byteVal: make([]int16, len(tokens)),
		strip:   st.content, start: st.start, stop: st.stop,
	}
	for id, tok := range tokens {
		d.byteVal[id] = -1
		if b, ok := parseByteToken(tok); ok {
			d.byteVal[id] = int16(b)
			continue
		}
		d.text[id] = strings.ReplaceAll(tok, rep.old, rep.new)
	}
	return d
}

func (d *pieceDecoder) decode(ids []int) string {
	var b strings.Builder
	b.Grow(5 * len(ids))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			b.Write(pending)
		} else {
			for range pending {
				b.WriteString("\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, id := range ids {
		if uint(id) >= uint(len(d.text)) {
			continue
		}
		if v := d.byteVal[id]; v >= 0 {
			pending = append(pending, byte(v))
			continue
		}
		if d.text[id] == "" {
			continue
		}
		flush()
		b.WriteString(d.text[id])
	}
	flush()
	s := b.String()
	for n := 0; n < d.start && strings.HasPrefix(s, d.strip); n++ {
		s = s[len(d.strip):]
	}
	for n := 0; n < d.stop && strings.HasSuffix(s, d.strip); n++ {
		s = s[:len(s)-len(d.strip)]
	}
	return s
}
