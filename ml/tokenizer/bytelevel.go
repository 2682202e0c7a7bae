package tokenizer

import "unicode/utf8"

// The byte-level alphabet maps each of the 256 byte values to a printable rune
// so that vocabularies can be stored as JSON text: printable Latin-1 bytes map
// to themselves and the rest (controls, space, 0x7F-0xA0, 0xAD) to U+0100 and
// up, in byte order. This is the mapping of GPT-2's bytes_to_unicode.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteLevelEncode returns s with each byte replaced by its byte-level rune.
func byteLevelEncode(s string) string {
	buf := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteToRune[s[i]])
	}
	return string(buf)
}

// byteLevelDecode maps a byte-level token back to the bytes it stands for. ok
// is false when the token holds a rune outside the alphabet (added tokens
// such as CJK words are stored verbatim); callers then use the token as is.
func byteLevelDecode(tok string) (raw string, ok bool) {
	buf := make([]byte, 0, len(tok))
	for _, r := range tok {
		b, found := runeToByte[r]
		if !found {
			return "", false
		}
		buf = append(buf, b)
	}
	return string(buf), true
}

func utf8ValidString(s string) bool { return utf8.ValidString(s) }
