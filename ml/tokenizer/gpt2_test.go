package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	tiktoken "github.com/tiktoken-go/tokenizer"
)

// randomText builds text from an alphabet chosen to stress the split
// patterns: letters of several scripts, digits, every kind of whitespace,
// apostrophes and contractions, punctuation, emoji and combining marks.
func randomText(r *rand.Rand, n int) string {
	atoms := []string{
		"a", "b", "Z", "é", "ß", "Ж", "ω", "中", "文", "あ", "한", "ا", "ก",
		"0", "7", "42", "٣", "½", "Ⅻ",
		" ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\v", "\f",
		"'", "'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'Ll", "'d", "'x",
		".", ",", "!", "?", "-", "_", "(", ")", "\"", "#", "/", "\\", "<", ">", "|", "…", "—",
		"😀", "👍🏽", "🇺🇸", "\u200d", "\u0301", "the", " the", " of", "ing", "tion",
	}
	var b strings.Builder
	for range n {
		b.WriteString(atoms[r.IntN(len(atoms))])
	}
	return b.String()
}

// replaceInvalid replaces each invalid byte with U+FFFD, which is what
// tiktoken-go's regex engine does before encoding.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

func TestGPT2MatchesTiktoken(t *testing.T) {
	tok := loadTestdata(t, "gpt2")
	ref, err := tiktoken.Get(tiktoken.R50kBase)
	if err != nil {
		t.Fatal(err)
	}
	texts := testCorpus(t)
	texts = append(texts,
		"invalid \xff\xfe utf-8 \xc3 here", "\x80", "trunc \xe4\xbd", "a\xf0\x9f\x98 b",
		strings.Repeat("x", 5000), strings.Repeat("ab ", 2000), strings.Repeat(" ", 300)+"x",
		strings.Repeat("🚀", 200), strings.Repeat("12345", 100),
	)
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		texts = append(texts, randomText(r, 1+r.IntN(40)))
	}
	for i, text := range texts {
		want, _, err := ref.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		// tiktoken-go reads invalid bytes as U+FFFD; crucible keeps them.
		got := tok.EncodeOrdinary(replaceInvalid(text))
		if !slices.Equal(got, toInts(want)) {
			t.Errorf("text %d %q:\n got %v\nwant %v", i, text, got, want)
			continue
		}
		if back := tok.Decode(tok.EncodeOrdinary(text)); back != text {
			t.Errorf("text %d %q: round trip gave %q", i, text, back)
		}
	}
}

func toInts(u []uint) []int {
	out := make([]int, len(u))
	for i, v := range u {
		out[i] = int(v)
	}
	return out
}

func TestGPT2SpecialTokens(t *testing.T) {
	tok := loadTestdata(t, "gpt2")
	eot, ok := tok.TokenID("<|endoftext|>")
	if !ok || eot != 50256 {
		t.Fatalf("TokenID(<|endoftext|>) = %d, %v", eot, ok)
	}
	if tok.EOSID() != eot || tok.BOSID() != eot || tok.AddBOS() || tok.VocabSize() != 50257 {
		t.Errorf("EOS %d BOS %d AddBOS %v VocabSize %d", tok.EOSID(), tok.BOSID(), tok.AddBOS(), tok.VocabSize())
	}
	got := tok.Encode("a<|endoftext|>b")
	if len(got) != 3 || got[1] != eot {
		t.Errorf("Encode with special = %v", got)
	}
	if ord := tok.EncodeOrdinary("a<|endoftext|>b"); slices.Contains(ord, eot) {
		t.Errorf("EncodeOrdinary produced the special id: %v", ord)
	}
	if s := tok.Decode(got); s != "a<|endoftext|>b" {
		t.Errorf("Decode = %q", s)
	}
	if id, ok := tok.TokenID("Ġthe"); !ok || id != 262 {
		t.Errorf("TokenID(Ġthe) = %d, %v", id, ok)
	}
	if tok.Token(262) != "Ġthe" {
		t.Errorf("Token(262) = %q", tok.Token(262))
	}
}
