package data

import "strings"

// byteTokenizer is a small but real tokenizer for tests: every byte is one
// token (id = byte + 3), the ChatML markers are single special tokens, and
// 1 and 2 are BOS and EOS.
type byteTokenizer struct {
	addBOS bool
	noEOS  bool
}

var byteSpecials = []string{"<|im_start|>", "<|im_end|>", "<s>"}

func (b byteTokenizer) Encode(text string) []int {
	var ids []int
	for len(text) > 0 {
		matched := false
		for i, s := range byteSpecials {
			if strings.HasPrefix(text, s) {
				ids = append(ids, 259+i)
				text = text[len(s):]
				matched = true
				break
			}
		}
		if !matched {
			ids = append(ids, int(text[0])+3)
			text = text[1:]
		}
	}
	return ids
}

func (b byteTokenizer) Decode(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		switch {
		case id >= 259:
			sb.WriteString(byteSpecials[id-259])
		case id >= 3:
			sb.WriteByte(byte(id - 3))
		case id == 1:
			sb.WriteString("<bos>")
		case id == 2:
			sb.WriteString("<eos>")
		}
	}
	return sb.String()
}

// Token returns the text of one token.
func (b byteTokenizer) Token(id int) string { return b.Decode([]int{id}) }

func (b byteTokenizer) BOSID() int { return 1 }
func (b byteTokenizer) EOSID() int {
	if b.noEOS {
		return -1
	}
	return 2
}
func (b byteTokenizer) AddBOS() bool { return b.addBOS }

// counted decodes the tokens of s that count in the loss, with "|" between
// runs of counted tokens.
func counted(tok byteTokenizer, s Sequence) string {
	var sb strings.Builder
	in := false
	for i, l := range s.Labels {
		if l == IgnoreIndex {
			if in {
				sb.WriteString("|")
			}
			in = false
			continue
		}
		if l != s.IDs[i] {
			return "label differs from id"
		}
		sb.WriteString(tok.Decode([]int{int(l)}))
		in = true
	}
	return sb.String()
}
